"""A PostgreSQL catalog database copied whole (``CREATE DATABASE copy TEMPLATE prod``) keeps
its ``catalog_id``, the name of its Milvus collection: the copy never writes to the
original's collection (it is refused until ``catalog fork`` gives it one of its own, or
``catalog adopt`` takes the collection over for a move), and index files made from one
database are never searched by the other. Real PostgreSQL (a throwaway cluster), real Milvus
Lite, synthetic faces (``tests/unit/gallery/test_collections``) and, for the CLI, the fake
pipeline (tests/fakes.py)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.fakes import write_photo
from tests.homes import Ran, run_cli
from tests.unit.gallery.test_collections import DIM, MODEL, add_faces

from facesearch.accountability import AccountabilityStore, Action
from facesearch.errors import ConfigError
from facesearch.gallery.catalog import Catalog
from facesearch.gallery.collections import IndexSet
from facesearch.settings import Settings

pytest.importorskip("pymilvus", reason="SKIPPED LOUDLY: Milvus Lite needs the test extra")
psycopg = pytest.importorskip("psycopg", reason="SKIPPED LOUDLY: psycopg missing (test extra)")


def copy_database(pg_cluster: Any, url: str) -> str:
    """``CREATE DATABASE copy TEMPLATE original`` (nobody may be connected to it); the copy's
    URL."""
    name = f"copy_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_cluster.url(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{url.rsplit("/", 1)[1]}"')
    return str(pg_cluster.url(name))


def top1(indexes: IndexSet, vecs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    sims, ids = indexes.search(vecs, 1, None)
    return sims[:, 0], ids[:, 0]


def test_a_copied_database_never_touches_the_originals_milvus_collection(
    pg_cluster: Any, pg_url: str, tmp_path: Path
) -> None:
    """The original's server runs on while a copy of its database (staging) erases five faces
    and adds five, and the original then adds five of its own, which get the same ids as the
    copy's: the copy's writes are refused, so the original loses no face and never answers
    with another person's vector under its face ids. ``catalog fork`` then gives the copy a
    collection of its own."""
    vectors = str(tmp_path / "vectors.db")
    with Catalog.open_postgres(pg_url) as prod:
        ids, vecs = add_faces(prod, 40, seed=1)
        IndexSet(tmp_path / "prod", prod, MODEL, DIM, vectors_url=vectors).save()
    copy_url = copy_database(pg_cluster, pg_url)
    prod = Catalog.open_postgres(pg_url)
    try:
        prod_set = IndexSet(tmp_path / "prod", prod, MODEL, DIM, vectors_url=vectors)
        prod_set.ensure_loaded()  # the original's server, running on

        refused: list[str] = []
        with Catalog.open_postgres(copy_url) as copy:
            staging = IndexSet(tmp_path / "staging", copy, MODEL, DIM, vectors_url=vectors)
            gone = [f.id for f in copy.delete_faces([int(i) for i in ids[:5]])]
            theirs, their_vecs = add_faces(copy, 5, seed=2)
            for write in (
                lambda: staging.remove(gone),
                lambda: staging.add("c", theirs, their_vecs),
                staging.save,
            ):
                try:
                    write()
                except ConfigError as exc:
                    refused.append(str(exc))

        ours, our_vecs = add_faces(prod, 5, seed=3)
        assert (ours == theirs).all()
        prod_set.add("c", ours, our_vecs)

        # Before the fix, the copy's vectors stood under ids 41-45 (found with similarity 1
        # by the copy's photos) and faces 1-5 had left the original's collection.
        sims, found = top1(prod_set, their_vecs)
        assert not (np.isin(found, ours) & (sims > 0.99)).any(), "a wrong lead: the copy's face"
        assert prod_set.size() == 45
        sims, found = top1(prod_set, np.concatenate([vecs, our_vecs]))
        assert (found == np.concatenate([ids, ours])).all() and (sims > 0.99).all()

        assert len(refused) == 3, refused
        assert "copy" in refused[0] and "'facesearch catalog fork'" in refused[0]
        assert "'facesearch catalog adopt'" in refused[0]
        assert prod_set._connect().name in refused[0]  # the collection it would have shared

        # ``catalog fork``: the copy gets an id and a collection of its own, built from it.
        with Catalog.open_postgres(copy_url) as copy:
            _, new_id = copy.fork()
            assert copy.database_change() is None and copy.state(MODEL).catalog_id == new_id
            staging = IndexSet(tmp_path / "staging", copy, MODEL, DIM, vectors_url=vectors)
            assert staging.rebuild() == 40
            assert staging._connect().name != prod_set._connect().name
            sims, found = top1(staging, their_vecs)
            assert (found == theirs).all() and (sims > 0.99).all()
            erased = [f.id for f in copy.delete_faces([int(theirs[0])])]
            assert staging.remove(erased) == 1 and staging.size() == 39
        assert prod_set.size() == 45  # untouched
        sims, found = top1(prod_set, np.concatenate([vecs, our_vecs]))
        assert (found == np.concatenate([ids, ours])).all()
    finally:
        prod.close()


def test_adopt_keeps_the_collection_of_a_deployment_that_moved(
    pg_cluster: Any, pg_url: str, tmp_path: Path
) -> None:
    """A restore into a new database (here a TEMPLATE copy) of the one deployment: refused,
    then adopted; the collection is kept, and repaired against the restored catalog (faces
    the old database added after the backup leave it, so their ids are free again)."""
    vectors = str(tmp_path / "vectors.db")
    with Catalog.open_postgres(pg_url) as old:
        ids, vecs = add_faces(old, 30, seed=4)
        IndexSet(tmp_path / "a", old, MODEL, DIM, vectors_url=vectors).save()
    moved_url = copy_database(pg_cluster, pg_url)  # the backup, restored
    with Catalog.open_postgres(pg_url) as old:  # the old database went on a little
        late, late_vecs = add_faces(old, 3, seed=5)
        late_set = IndexSet(tmp_path / "a", old, MODEL, DIM, vectors_url=vectors)
        late_set.add("c", late, late_vecs)
        late_set.save()
        name = late_set._connect().name

    with Catalog.open_postgres(moved_url) as moved:
        with pytest.raises(ConfigError, match="catalog adopt"):
            IndexSet(tmp_path / "b", moved, MODEL, DIM, vectors_url=vectors).ensure_loaded()
        before = moved.state(MODEL).catalog_id
        change = moved.adopt()
        assert change.catalog_id == before == moved.state(MODEL).catalog_id
        assert moved.database_change() is None
        indexes = IndexSet(tmp_path / "b", moved, MODEL, DIM, vectors_url=vectors)
        assert indexes.size() == 30
        assert indexes._connect().name == name  # the same collection
        sims, found = top1(indexes, vecs)
        assert (found == ids).all()
        mine, my_vecs = add_faces(moved, 3, seed=6)
        assert (mine == late).all()  # the ids the old database gave after the backup
        indexes.add("c", mine, my_vecs)
        sims, found = top1(indexes, my_vecs)
        assert (found == mine).all() and (sims > 0.99).all()


def test_index_files_made_from_another_database_are_rebuilt_not_searched(
    pg_cluster: Any, pg_url: str, tmp_path: Path
) -> None:
    """PostgreSQL with index files (no Milvus): a copy is not refused, each home has its own
    files; a home that both use (the CLI's default home) never serves one database's vectors
    to the other."""
    home = tmp_path / "shared-home"
    with Catalog.open_postgres(pg_url) as prod:
        ids, vecs = add_faces(prod, 20, seed=7)
        IndexSet(home, prod, MODEL, DIM).save()
    copy_url = copy_database(pg_cluster, pg_url)
    with Catalog.open_postgres(copy_url) as copy:
        theirs, their_vecs = add_faces(copy, 5, seed=8)
        staging = IndexSet(home, copy, MODEL, DIM)  # a copy, not refused with files
        assert staging.size() == 25
        staging.save()
    with Catalog.open_postgres(pg_url) as prod:
        ours, our_vecs = add_faces(prod, 5, seed=9)
        assert (ours == theirs).all()
        indexes = IndexSet(home, prod, MODEL, DIM)
        sims, found = top1(indexes, their_vecs)
        assert not (np.isin(found, ours) & (sims > 0.99)).any()
        sims, found = top1(indexes, np.concatenate([vecs, our_vecs]))
        assert (found == np.concatenate([ids, ours])).all()
    with Catalog.open_postgres(copy_url) as copy:
        assert copy.database_change() is not None  # still a copy: nothing was forked


@pytest.fixture()
def cli(capsys: pytest.CaptureFixture[str], fake_models: None) -> Any:
    def run(home: Path, *args: str) -> Ran:
        return run_cli(capsys, home, *args)

    return run


def test_the_catalog_commands_fork_a_copy_and_adopt_a_move(
    cli: Any, pg_cluster: Any, pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vectors = str(tmp_path / "vectors.db")
    monkeypatch.setenv("FACESEARCH_VECTORS_URL", vectors)
    home = tmp_path / "home"

    def on(url: str, *args: str) -> Ran:
        monkeypatch.setenv("FACESEARCH_DATABASE_URL", url)
        return cli(home, *args)

    def stats(url: str) -> dict[str, Any]:
        r = on(url, "stats", "--json")
        assert r.code == 0, r.err
        return dict(json.loads(r.out))

    for person in range(3):
        write_photo(tmp_path / "photos", person, 1)
    assert on(pg_url, "ingest", str(tmp_path / "photos")).code == 0
    faces = stats(pg_url)["indexed_faces"]
    assert faces == 3
    for verb in ("fork", "adopt"):
        r = on(pg_url, "catalog", verb)
        assert r.code == 2 and "not a copy or a move" in r.err, r.err

    copy_url, moved_url = copy_database(pg_cluster, pg_url), copy_database(pg_cluster, pg_url)
    refused = on(copy_url, "stats")
    assert refused.code == 2 and "facesearch catalog fork" in refused.err, refused.err
    assert "Traceback" not in refused.err

    forked = on(copy_url, "catalog", "fork")
    assert forked.code == 0, forked.err
    assert "catalog of its own" in forked.out and "3 faces" in forked.out
    write_photo(tmp_path / "more", 4, 1)
    assert on(copy_url, "ingest", str(tmp_path / "more")).code == 0
    assert stats(copy_url)["indexed_faces"] == 4
    assert stats(pg_url)["indexed_faces"] == faces  # the original's collection untouched

    adopted = on(moved_url, "catalog", "adopt")
    assert adopted.code == 0, adopted.err
    assert "vectors kept" in adopted.out
    assert stats(moved_url)["indexed_faces"] == faces
    assert on(moved_url, "catalog", "adopt").code == 2  # once only

    for url, action in ((copy_url, Action.CATALOG_FORK), (moved_url, Action.CATALOG_ADOPT)):
        settings = Settings.from_env(env={"FACESEARCH_DATABASE_URL": url}, home=home)
        with AccountabilityStore.from_settings(settings) as store:
            (entry,) = store.audit.entries(action=action, limit=None)
        assert entry.payload["database"] != entry.payload["made_in"]
        assert entry.payload["vectors"] == "milvus"
        assert ("previous_catalog_id" in entry.payload) == (action is Action.CATALOG_FORK)
