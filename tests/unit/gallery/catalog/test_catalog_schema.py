"""Catalog: schema versions and migrations, crash safety, concurrent use, query plans."""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

import facesearch
from facesearch.errors import CatalogError, InputError
from facesearch.gallery.catalog import (
    SCHEMA_VERSION,
    Catalog,
    NewFace,
    NewImage,
    RunOwner,
    schema,
)
from facesearch.gallery.catalog.schema import Migration, migrate, schema_version
from facesearch.types import BBox

LANDMARKS = ((1.0, 2.0), (3.0, 2.0), (2.0, 3.0), (1.0, 4.0), (3.0, 4.0))


def sha(key: object) -> str:
    return hashlib.sha256(repr(key).encode()).hexdigest()


def new_image(key: object, n_faces: int = 1, subject: str | None = None) -> NewImage:
    faces = tuple(
        NewFace(i, BBox(i, 0, 10, 10), LANDMARKS, 0.9, {"size": 10.0}, "sface",
                np.full(8, i + 1, np.float32))
        for i in range(n_faces)
    )  # fmt: skip
    return NewImage(sha(key), f"/p/{key}.jpg", 10, 20, 20, None, subject, faces)


def raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def test_a_new_catalog_has_the_latest_schema(tmp_path: Path) -> None:
    Catalog.open(tmp_path / "c.sqlite").close()
    conn = raw(tmp_path / "c.sqlite")
    assert schema_version(conn) == SCHEMA_VERSION == len(schema.MIGRATIONS)
    assert [m.version for m in schema.MIGRATIONS] == list(range(1, SCHEMA_VERSION + 1))
    conn.close()


def test_a_sqlite_catalog_records_no_database(tmp_path: Path) -> None:
    """A home copied whole copies its index files too: nothing to tell, nothing to fork."""
    with Catalog.open(tmp_path / "c.sqlite") as cat:
        assert cat.database_id is None and cat.database_change() is None
        assert cat.state("sface").database_id is None
        for verb in (cat.fork, cat.adopt):
            with pytest.raises(InputError, match="SQLite catalog records no database"):
                verb()
    conn = raw(tmp_path / "c.sqlite")
    assert conn.execute("SELECT database_id FROM catalog_state").fetchall() == [(None,)]
    conn.close()


def test_a_version_1_catalog_is_migrated_with_its_data(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    conn = raw(path)
    migrate(conn, target=1)
    assert schema_version(conn) == 1
    vector = np.array([0.5, -0.5, 0.5, -0.5], np.float32)
    conn.execute("INSERT INTO collections (name, created) VALUES ('old', '2024-01-01T00:00:00')")
    conn.execute("INSERT INTO models (name, dim) VALUES ('sface', 4)")
    conn.execute(
        "INSERT INTO images (collection_id, sha256, source, size_bytes, width, height, added)"
        " VALUES (1, ?, 'a.jpg', 1, 2, 3, '2024-01-01T00:00:00')",
        (sha("a"),),
    )
    conn.execute(
        "INSERT INTO faces (image_id, face_index, x, y, w, h, landmarks, det_score, quality,"
        " model_id, dim, embedding) VALUES (1, 0, 0, 0, 1, 1, ?, 0.9, '{}', 1, 4, ?)",
        (np.asarray(LANDMARKS, "<f8").tobytes(), vector.astype("<f4").tobytes()),
    )
    with pytest.raises(sqlite3.OperationalError):  # version 2 tables are not there yet
        conn.execute("SELECT * FROM blocklist")
    conn.close()

    with Catalog.open(path) as cat:
        assert cat._conn is not None and schema_version(cat._conn) == SCHEMA_VERSION
        face = cat.face(1, with_embeddings=True)
        assert face.collection == "old" and face.landmarks == LANDMARKS
        assert np.array_equal(face.embedding, vector)  # type: ignore[arg-type]
        state = cat.state("sface")
        assert re.fullmatch("[0-9a-f]{32}", state.catalog_id)
        assert (state.face_count, state.max_face_id, state.erasure_generation) == (1, 1, 0)
        assert cat.collections()[0].faces == 1
        cat.delete_faces([1])
        assert cat.state("sface").erasure_generation == 1
        cat.blocklist_add("sface", vector)
        assert cat.blocklist("sface").shape == (1, 4)


def test_the_runs_of_a_version_6_catalog_are_not_held_and_say_they_were_not_counted(
    tmp_path: Path,
) -> None:
    """Runs from before version 7 had no counts and no holder: none is taken for abandoned."""
    path = tmp_path / "old.sqlite"
    conn = raw(path)
    migrate(conn, target=6)
    conn.execute(
        "INSERT INTO ingest_runs (started, arguments, status) "
        "VALUES ('2024-01-01T00:00:00.000+00:00', '{}', 'running')"
    )
    conn.close()
    with Catalog.open(path) as cat:
        (old,) = cat.runs()
        assert (old.status, old.images_added, old.faces_added, old.owner) == (
            "running",
            None,
            None,
            None,
        )
        assert cat.runs(held=True) == []
        new = cat.start_run({})
        assert (cat.runs()[1].images_added, cat.runs()[1].faces_added) == (0, 0)
        cat.hold_run(new, RunOwner("h", "", 1, ""))
        assert [r.id for r in cat.runs(held=True)] == [new]
        assert cat._conn is not None
        plan = cat._conn.execute(
            "EXPLAIN QUERY PLAN SELECT id FROM ingest_runs WHERE renewed IS NOT NULL"
        ).fetchall()
        assert "ingest_runs_held" in " ".join(row[3] for row in plan)


OLD_ENTRY = np.array([0.5, -0.5, 0.5, -0.5], np.float32)


def _old_catalog_with_one_entry(path: Path, version: int, org: str | None = None) -> None:
    """A catalog at schema ``version`` holding one blocklist entry (``OLD_ENTRY``; ``org``
    from version 8, which added it)."""
    conn = raw(path)
    migrate(conn, target=version)
    conn.execute("INSERT INTO models (name, dim) VALUES ('sface', 4)")
    names, marks = "model_id, dim, embedding, added, note", "1, 4, ?, ?, ?"
    row: list[object] = [OLD_ENTRY.astype("<f4").tobytes(), "2024-01-01T00:00:00", "forget --like"]
    if org is not None:
        names, marks, row = f"{names}, org", f"{marks}, ?", [*row, org]
    conn.execute(f"INSERT INTO blocklist ({names}) VALUES ({marks})", row)
    conn.close()


def test_the_blocklist_of_a_version_7_catalog_stays_deployment_wide(tmp_path: Path) -> None:
    """Version 8 gives each blocklist entry the organisation it applies to; the entries from
    before were all the host's erasures (an organisation's made none): every ingest still
    skips faces like them."""
    path, vector = tmp_path / "old.sqlite", OLD_ENTRY
    _old_catalog_with_one_entry(path, 7)
    with Catalog.open(path) as cat:
        assert cat._conn is not None and schema_version(cat._conn) == SCHEMA_VERSION
        assert np.array_equal(cat.blocklist("sface"), [vector])
        assert np.array_equal(cat.blocklist("sface", "north"), [vector])
        assert cat.blocklist_sizes("sface") == {None: 1}
        cat.blocklist_add("sface", -vector, org="north")
        assert cat.blocklist("sface", "north").shape == (2, 4)
        assert cat.blocklist("sface", "south").shape == (1, 4)


def test_the_blocklist_of_a_version_8_catalog_has_no_pending_entry(tmp_path: Path) -> None:
    """Version 9 marks an erasure's entry pending until its audit entry is written; the
    entries from before are recorded (NULL)."""
    path, vector = tmp_path / "old.sqlite", OLD_ENTRY
    _old_catalog_with_one_entry(path, 8, org="north")
    with Catalog.open(path) as cat:
        assert cat._conn is not None and schema_version(cat._conn) == SCHEMA_VERSION == 9
        assert cat.blocklist_pending() == []
        owner = RunOwner("here", "space", 7, "123")
        added = cat.blocklist_add("sface", -vector, org="north", pending=owner)
        (pending,) = cat.blocklist_pending()
        assert (pending.id, pending.org, pending.owner) == (added, "north", owner)
        assert cat.blocklist("sface", "north").shape == (2, 4)  # applied while pending
        assert cat.blocklist_recorded(added) and not cat.blocklist_recorded(added)
        assert cat.blocklist_pending() == []


def test_a_newer_catalog_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    Catalog.open(path).close()
    conn = raw(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(CatalogError, match="newer"):
        Catalog.open(path)
    with pytest.raises(CatalogError):
        migrate(raw(tmp_path / "other.sqlite"), target=SCHEMA_VERSION + 1)


def test_a_failing_migration_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "c.sqlite"
    Catalog.open(path).close()
    broken = Migration(SCHEMA_VERSION + 1, "broken", ("CREATE TABLE half (a)", "NOT SQL"))
    monkeypatch.setattr(schema, "MIGRATIONS", (*schema.MIGRATIONS, broken))
    with pytest.raises(CatalogError):
        Catalog.open(path)
    conn = raw(path)
    assert schema_version(conn) == SCHEMA_VERSION
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "half" not in tables and "faces" in tables
    conn.close()


def test_a_file_that_is_not_a_catalog_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    path.write_bytes(b"this is not a database at all" * 200)
    with pytest.raises(CatalogError, match="not a facesearch catalog"):
        Catalog.open(path)


_CRASHING_CHILD = """
import os, sys
from pathlib import Path
from facesearch.gallery.catalog import Catalog, _write
sys.path.insert(0, sys.argv[2])
from test_catalog_schema import new_image

calls = 0
real = _write.model_key

def dies_halfway(*args, **kwargs):
    global calls
    calls += 1
    if calls == 7:
        os._exit(3)  # like a kill -9 or a power cut for the process: no cleanup at all
    return real(*args, **kwargs)

_write.model_key = dies_halfway
cat = Catalog.open(Path(sys.argv[1]))
cat.add_images("main", [new_image(i, 2, "Ann") for i in range(10)])
"""


def test_a_process_killed_mid_batch_leaves_no_trace_of_it(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    with Catalog.open(path) as cat:
        cat.add_images("main", [new_image("before", 1)])
    env = {**os.environ, "PYTHONPATH": str(Path(facesearch.__file__).parents[1])}
    child = subprocess.run(
        [sys.executable, "-c", _CRASHING_CHILD, str(path), str(Path(__file__).parent)],
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert child.returncode == 3, child.stderr.decode()
    with Catalog.open(path) as cat:
        stats = cat.stats()
        assert (stats["images"], stats["faces"], stats["subjects"]) == (1, 1, 0)
        cat.add_images("main", [new_image(i, 2, "Ann") for i in range(10)])  # a re-run works
        assert cat.stats()["faces"] == 21


def test_readers_do_not_wait_for_a_writer_and_writers_queue(
    tmp_path: Path, database_url: str
) -> None:
    """On both databases: a writer waits ``busy_timeout_s`` for another, then gives up."""
    a = Catalog.open_home(tmp_path, database_url)
    b = Catalog.open_home(tmp_path, database_url, busy_timeout_s=0.05)
    with a, b:
        a.add_images("main", [new_image("a")])
        with a._writing() as conn:  # a is in the middle of a write transaction
            conn.execute("INSERT INTO subjects (name) VALUES ('not yet committed')")
            assert b.stats()["subjects"] == 0  # b reads the last commit at once
            assert b.has_image(sha("a"), "main")
            with pytest.raises(CatalogError, match="busy"):
                b.add_images("main", [new_image("b")])
        b.add_images("main", [new_image("b")])
        assert a.stats()["images"] == 2 and a.stats()["subjects"] == 1


def test_a_catalog_may_be_handed_to_another_thread(tmp_path: Path) -> None:
    with Catalog.open(tmp_path / "c.sqlite") as cat:
        cat.add_images("main", [new_image("a")])
        seen: list[int] = []
        worker = threading.Thread(target=lambda: seen.append(cat.stats()["images"]))
        worker.start()
        worker.join()
        assert seen == [1]


_SCAN_OF_A_BIG_TABLE = re.compile(r"\bSCAN (faces|images|f|i)\b")


def test_lookups_use_indexes_not_table_scans(tmp_path: Path) -> None:
    """At 10^7 faces a full scan is seconds: none of these calls may do one."""
    with Catalog.open(tmp_path / "c.sqlite") as cat:
        added = cat.add_images("main", [new_image(i, 2, "S" if i % 3 else None) for i in range(60)])
        cat.add_images("other", [new_image(i, 1) for i in range(60, 70)])
        conn = cat._conn
        assert conn is not None
        statements: list[str] = []
        conn.set_trace_callback(statements.append)
        cat.state("sface")
        cat.collections()
        cat.stats()
        cat.known_hashes("main", [sha(1), sha(2)])
        cat.has_image(sha(3), "main")
        cat.faces([added[5].face_ids[0], added[9].face_ids[1]])
        cat.faces_of_image(added[4].image_id)
        cat.faces_of_subject("S")
        for _ in cat.face_vectors(["main"], "sface", chunk=50):
            pass
        for _ in cat.face_vectors(None, "sface", chunk=50):
            pass
        cat.set_label(added[0].face_ids, "T")
        cat.delete_faces([added[1].face_ids[0]], prune_images=True)
        cat.delete_image(added[2].image_id)
        cat.delete_subject("T", prune_images=True)
        conn.set_trace_callback(None)
        queries = [
            s for s in statements if s.lstrip().split(" ")[0] in ("SELECT", "DELETE", "UPDATE")
        ]
        assert len(queries) > 15
        for sql in queries:
            plan = " | ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql))
            assert not _SCAN_OF_A_BIG_TABLE.search(plan), f"{sql}\n  -> {plan}"
