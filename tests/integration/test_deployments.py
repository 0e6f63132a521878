"""One contract, both deployments (issue 9): embedded (SQLite + FAISS files in the home) and
distributed (PostgreSQL + Milvus Lite), chosen by nothing but the two settings.

Through the application layer on the fake pipeline (tests/fakes.py): ingest, search, forget
(the face gone from the catalog's tables and the vector store), blocklist, the audit chain,
decisions by two people through two "replicas" (two store objects), and two writers ingesting
at once. A real PostgreSQL (throwaway cluster) and a real Milvus Lite.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.fakes import GALLERY_SHOTS, PEOPLE, FakePipeline, person_name, write_photo
from tests.homes import pass_training

from facesearch.accountability import AccountabilityStore, Actor, Role, local_actor
from facesearch.app import IngestRequest, ingest
from facesearch.app.erase import EraseRequest, erase
from facesearch.app.review import DecideRequest, decide
from facesearch.app.search import SearchRequest, search
from facesearch.engine import Engine
from facesearch.settings import Settings

pytest.importorskip("pymilvus", reason="SKIPPED LOUDLY: Milvus Lite needs the test extra")

PASSWORD = "correct-horse-battery"
ME = local_actor("tester")


@dataclass
class Deployment:
    kind: str
    settings: Settings
    pipeline: FakePipeline

    def engine(self) -> Engine:
        return Engine(self.settings, pipeline=self.pipeline)

    def store(self) -> AccountabilityStore:
        return AccountabilityStore.from_settings(self.settings)

    def face_rows(self, face_id: int) -> int:
        """Rows of ``face_id`` in the catalog's faces table, read with the backend's own client."""
        if self.kind == "embedded":
            with sqlite3.connect(self.settings.home / "catalog.sqlite") as conn:
                return int(conn.execute("SELECT count(*) FROM faces WHERE id = ?", (face_id,))
                           .fetchone()[0])  # fmt: skip
        import psycopg

        with psycopg.connect(self.settings.database_url) as conn:
            row = conn.execute(
                "SELECT count(*) FROM facesearch_catalog.faces WHERE id = %s", (face_id,)
            ).fetchone()
            assert row is not None
            return int(row[0])


@pytest.fixture(params=["embedded", "distributed"])
def deployment(
    request: pytest.FixtureRequest, fake_pipeline: FakePipeline, tmp_path: Path
) -> Iterator[Deployment]:
    settings = fake_pipeline.settings.replace(home=tmp_path / "home")
    if request.param == "distributed":
        url = request.getfixturevalue("pg_url")
        settings = settings.replace(database_url=url, vectors_url=str(tmp_path / "vectors.db"))
    d = Deployment(request.param, settings, fake_pipeline)
    with d.store() as store:
        for name, role in (("admin1", "admin"), ("inv1", "investigator"), ("inv2", "investigator")):
            store.accounts.add_user(name, role, PASSWORD, by=ME)
        pass_training(store, settings, "admin1", "inv1", "inv2")
    yield d


def _photos(folder: Path, people: range) -> list[Path]:
    return [write_photo(folder, p, s) for p in people for s in GALLERY_SHOTS]


def _ingest(d: Deployment, paths: list[Path], collection: str = "default") -> Any:
    engine = d.engine()
    try:
        with d.store() as store:
            request = IngestRequest(tuple(paths), label_from_dir=True, collection=collection)
            return ingest(engine, store, ME, request).summary
    finally:
        engine.catalog.close()


def test_ingest_search_forget_blocklist_and_the_trail(
    deployment: Deployment, tmp_path: Path
) -> None:
    d = deployment
    photos = _photos(tmp_path / "photos", range(PEOPLE))
    summary = _ingest(d, photos)
    assert summary.images_added == summary.faces_added == len(photos)
    inv1 = Actor("inv1", Role.INVESTIGATOR)
    probe = write_photo(tmp_path / "probes", 2, 7)  # a shot never in the gallery
    engine = d.engine()
    try:
        with d.store() as store:
            record = search(engine, store, inv1, SearchRequest(probe, case="K-1", purpose="test"))
            top = record.faces[0].hits[0]
            assert top.face is not None and top.face.subject == person_name(2)
            # forget that face: gone from the catalog's table and from the vector store
            embedding = engine.catalog.face(top.face_id, with_embeddings=True).embedding
            admin = Actor("admin1", Role.ADMIN)
            first = erase(engine, store, admin, EraseRequest("DSR-1", face_ids=(top.face_id,)))
            assert d.face_rows(top.face_id) == 0
            # forget says what the catalog's database did (secure_delete + checkpoint, VACUUM)
            assert first.catalog_store is not None and first.catalog_store["complete"]
            assert first.catalog_store["database"] == (
                "sqlite" if d.kind == "embedded" else "postgresql"
            )
            assert first.as_json()["catalog_store"] == first.catalog_store
            _, ids = engine.indexes.search(np.asarray(embedding)[None, :], 5, None)
            assert top.face_id not in set(ids[0].tolist())
            # forget a person by photo: every face like it goes, and the person is blocklisted
            gone = erase(engine, store, admin, EraseRequest("DSR-2", like=probe))
            assert gone.blocklisted and len(gone.face_ids) == len(GALLERY_SHOTS) - 1
            assert gone.index_vectors_removed == len(gone.face_ids)
            report = store.verify()
            assert report.ok, report.summary()
    finally:
        engine.catalog.close()
    again = _ingest(d, [p for p in photos if p.parent.name == person_name(2)])
    assert again.faces_added == 0  # blocklisted: not added back
    engine = d.engine()
    try:
        assert engine.stats()["faces"] == len(photos) - len(GALLERY_SHOTS)
    finally:
        engine.catalog.close()


def test_decisions_by_two_people_through_two_replicas(deployment: Deployment,
                                                      tmp_path: Path) -> None:  # fmt: skip
    d = deployment
    _ingest(d, _photos(tmp_path / "photos", range(PEOPLE)))
    probe = write_photo(tmp_path / "probes", 4, 8)
    inv1, inv2 = Actor("inv1", Role.INVESTIGATOR), Actor("inv2", Role.INVESTIGATOR)
    engine_a, engine_b = d.engine(), d.engine()
    try:
        with d.store() as replica_a, d.store() as replica_b:
            record = search(engine_a, replica_a, inv1, SearchRequest(probe, case="K-2",
                                                                     purpose="test"))  # fmt: skip
            face = record.faces[0].hits[0].face_id
            ask = DecideRequest(record.id, face, "possible_match")
            assert decide(engine_a.catalog, replica_a, inv1, ask).status == "possible_match"
            state = decide(engine_b.catalog, replica_b, inv2, ask)
            assert state.status == "confirmed" and state.verified_by == ("inv1", "inv2")
            assert replica_a.verify().ok and replica_b.verify().ok
    finally:
        engine_a.catalog.close()
        engine_b.catalog.close()


def test_two_writers_at_once_end_like_one_after_the_other(deployment: Deployment,
                                                          tmp_path: Path) -> None:  # fmt: skip
    d = deployment
    if d.kind == "distributed":
        # Milvus Lite is one client per file (it locks it): two writers sharing vectors need a
        # Milvus server (test_milvus_server.py). Here the catalog's two writers meet in
        # PostgreSQL and the vectors are FAISS files derived from it.
        d.settings = d.settings.replace(vectors_url="")
    first = _photos(tmp_path / "a", range(0, 3))
    second = _photos(tmp_path / "b", range(3, PEOPLE))
    errors: list[BaseException] = []

    def run(paths: list[Path], collection: str) -> None:
        try:
            _ingest(d, paths, collection)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=run, args=(first, "first")),
        threading.Thread(target=run, args=(second, "second")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    engine = d.engine()
    try:
        stats = engine.stats()
        assert stats["faces"] == len(first) + len(second)
        assert engine.indexes.size() == len(first) + len(second)
        with d.store() as store:
            assert store.verify().ok
    finally:
        engine.catalog.close()


def test_a_loose_home_is_tightened_on_open(deployment: Deployment) -> None:
    """A replica's home made by the operator (mkdir: 0755) is owner-only once opened, on
    PostgreSQL as with SQLite (there only the SQLite catalog tightened it, so `serve` warned
    about the home at every start)."""
    from facesearch.private import loose_modes

    home = deployment.settings.home
    home.mkdir(exist_ok=True)
    home.chmod(0o755)
    engine = deployment.engine()
    engine.catalog.close()
    assert loose_modes(home) == []
