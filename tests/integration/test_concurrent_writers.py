"""Issue 7, item 1: any number of processes may ingest, forget and search one home at once,
and the end state equals a serial run.

Two CLI ingests, a CLI forget and a server ingest job (upload through a real uvicorn server)
run on one home at the same time; a second home gets the same work one step after another.
The catalogs must hold the same faces, the index must hold exactly the catalog's faces, and an
exact copy of every gallery photo must come back as its own best candidate.
"""

from __future__ import annotations

import io
import os
import shutil
import sqlite3
import subprocess
import sys
import zipfile
from pathlib import Path

import httpx
import numpy as np
import pytest
from tests.jobs import job_finished

from facesearch.settings import Settings

pytestmark = [pytest.mark.lfw, pytest.mark.slow]

GROUPS = {
    "first": ["Colin_Powell", "Tony_Blair"],
    "cli_a": ["Donald_Rumsfeld", "Gerhard_Schroeder"],
    "cli_b": ["Ariel_Sharon", "Hugo_Chavez"],
    "server": ["Serena_Williams", "Jean_Chretien"],
}
PER_PERSON = 6
FORGOTTEN = "Tony_Blair"  # ingested first, forgotten while the others write
PASSWORD = "correct-horse-battery-staple-42"


def _folder(lfw: Path, dest: Path, people: list[str]) -> Path:
    for person in people:
        (dest / person).mkdir(parents=True)
        for n in range(1, PER_PERSON + 1):
            name = f"{person}_{n:04d}.jpg"
            shutil.copy(lfw / "lfw-deepfunneled" / person / name, dest / person / name)
    return dest


def _zip(folder: Path) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for path in sorted(folder.rglob("*.jpg")):
            zf.write(path, str(path.relative_to(folder)))
    return buf.getvalue()


def _cli(home: Path, settings: Settings, *args: str) -> subprocess.Popen[str]:
    env = dict(os.environ)
    env.update(FACESEARCH_CACHE_DIR=str(settings.cache_dir), FACESEARCH_THREADS="1")
    return subprocess.Popen(
        [sys.executable, "-m", "facesearch", "--home", str(home), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _run(proc: subprocess.Popen[str]) -> None:
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, (proc.args, out, err)


def _faces(home: Path) -> set[tuple[str, str, int, str | None]]:
    conn = sqlite3.connect(home / "catalog.sqlite")
    try:
        rows = conn.execute(
            """SELECT c.name, i.sha256, f.face_index, s.name FROM faces f
            JOIN images i ON i.id = f.image_id JOIN collections c ON c.id = i.collection_id
            LEFT JOIN subjects s ON s.id = f.subject_id"""
        ).fetchall()
    finally:
        conn.close()
    return {(r[0], r[1], int(r[2]), r[3]) for r in rows}


def _server_ingest(url: str, token: str, folder: Path) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    r = httpx.post(
        f"{url}/api/v1/ingest-jobs",
        headers=auth,
        files={"files": ("server.zip", _zip(folder))},
        data={"collection": "server", "label_from_dir": "true"},
        timeout=120,
    )
    assert r.status_code == 202, r.text
    job = job_finished(
        lambda path: httpx.get(url + path, headers=auth, timeout=60), r.json(), 600, 0.5
    )
    assert job["status"] == "completed", job


def test_concurrent_writers_end_like_a_serial_run(
    settings: Settings, lfw: Path, tmp_path: Path, serve
) -> None:  # type: ignore[no-untyped-def]
    from facesearch.accountability import AccountabilityStore, local_actor

    folders = {g: _folder(lfw, tmp_path / "photos" / g, p) for g, p in GROUPS.items()}
    serial, parallel = tmp_path / "serial", tmp_path / "parallel"
    homes = {}
    for home in (serial, parallel):
        s = settings.replace(home=home)
        with AccountabilityStore.open(home) as store:
            me = local_actor("tester")
            store.accounts.add_user("admin1", "admin", PASSWORD, by=me)
            token = store.accounts.issue_token("admin1", by=me)
        homes[home] = (s, token)
        _run(
            _cli(
                home,
                s,
                "ingest",
                str(folders["first"]),
                "--label-from-dir",
                "--collection",
                "first",
            )
        )

    # serial: one writer after another, the server's upload included
    s, token = homes[serial]
    for group in ("cli_a", "cli_b"):
        _run(
            _cli(
                serial, s, "ingest", str(folders[group]), "--label-from-dir", "--collection", group
            )
        )
    _run(_cli(serial, s, "forget", "--subject", FORGOTTEN, "--reason", "test erasure"))
    with serve(s) as url:
        _server_ingest(url, token, folders["server"])

    # parallel: the same work, all at once
    s, token = homes[parallel]
    with serve(s) as url:
        procs = [
            _cli(parallel, s, "ingest", str(folders[g]), "--label-from-dir", "--collection", g)
            for g in ("cli_a", "cli_b")
        ]
        procs.append(
            _cli(parallel, s, "forget", "--subject", FORGOTTEN, "--reason", "test erasure")
        )
        _server_ingest(url, token, folders["server"])
        for proc in procs:
            _run(proc)

    want = _faces(serial)
    assert want == _faces(parallel)
    assert not any(subject == FORGOTTEN for *_, subject in want)
    assert len(want) >= 4 * 2 * PER_PERSON - 2 * PER_PERSON  # every photo but the forgotten

    # the index of each home, opened fresh, holds exactly the catalog's faces and finds
    # an exact copy of each photo as its own best candidate
    from facesearch.engine import Engine

    for home in (serial, parallel):
        with Engine(homes[home][0]) as engine:
            engine.indexes.ensure_loaded()
            state = engine.catalog.state(engine.pipeline.model_id)
            held = np.sort(np.concatenate([i.ids() for i in engine.indexes._indexes.values()]))
            catalog_ids = np.sort(
                np.concatenate(
                    [ids for ids, _ in engine.catalog.face_vectors(None, state.model_id)]
                )
            )
            assert np.array_equal(held, catalog_ids)
            assert engine.stats()["indexed_faces"] == state.face_count
            for group, folder in folders.items():
                for path in sorted(folder.rglob("*.jpg"))[:: PER_PERSON // 2]:
                    if group == "first" and FORGOTTEN in path.name:
                        continue
                    result = engine.search(path, top=1, allow_poor=True)
                    best = result.faces[0].hits[0]
                    assert best.similarity > 0.99, (home, path, best)


def test_a_running_server_follows_other_writers_without_reloading(
    server_home, serve, settings: Settings, lfw: Path, tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    """The server's index catches up with a CLI ingest and a CLI erasure by itself, without
    reading the index files again (at 10^6 faces a reload is seconds per search)."""
    import facesearch.gallery.collections

    loads: list[Path] = []
    real_load = facesearch.gallery.collections.load_index

    def counting_load(path, **kw):  # type: ignore[no-untyped-def]
        loads.append(path)
        return real_load(path, **kw)

    monkeypatch.setattr(facesearch.gallery.collections, "load_index", counting_load)
    h = server_home("follows")
    person = "Vladimir_Putin"  # not in the session gallery
    folder = _folder(lfw, tmp_path / "new", [person])
    probe = lfw / "lfw-deepfunneled" / person / f"{person}_{PER_PERSON + 1:04d}.jpg"

    def best_subject(url: str) -> str | None:
        r = httpx.post(
            f"{url}/api/v1/searches",
            headers=h.auth("inv1"),
            files={"image": (probe.name, probe.read_bytes(), "image/jpeg")},
            data={"case": "K-1", "purpose": "follow other writers"},
            timeout=120,
        )
        assert r.status_code == 201, r.text
        cands = [c for f in r.json()["faces"] for c in f["hits"]]
        return max(cands, key=lambda c: c["similarity"])["subject"] if cands else None

    with serve(h.settings) as url:
        assert best_subject(url) != person
        before = len(loads)
        _run(_cli(h.home, h.settings, "ingest", str(folder), "--label-from-dir"))
        assert best_subject(url) == person
        _run(_cli(h.home, h.settings, "forget", "--subject", person, "--reason", "test"))
        assert best_subject(url) != person
        assert len(loads) == before, "the server read the index files again"
