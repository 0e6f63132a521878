"""Several writers on one home: the saved index never claims faces it does not hold.

Issue 7, item 1: two ingests at once left 613 of 1,181 faces indexed, and the index was
served short until ``reindex``. These tests reproduce the interleavings with real SQLite (and, for
those in one process, PostgreSQL with two catalog objects: two replicas) and real FAISS files
(synthetic embeddings), in one process and in several.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from tests.unit.gallery.test_collections import DIM, MODEL, add_faces, fill, manifest_inode

from facesearch.gallery.catalog import Catalog
from facesearch.gallery.collections import IndexSet


def test_interleaved_writers_leave_a_complete_index(
    tmp_path: Path, open_catalog: Callable[[], Catalog]
) -> None:
    with open_catalog() as cat:
        fill(cat, 20)
        a = IndexSet(tmp_path, cat, MODEL, DIM)
        b = IndexSet(tmp_path, cat, MODEL, DIM)
        a.ensure_loaded()
        b.ensure_loaded()
        # writer A commits faces to the catalog and its index, then B does, then both save
        ids_a, vecs_a = add_faces(cat, 15, seed=1)
        a.add("c", ids_a, vecs_a)
        ids_b, vecs_b = add_faces(cat, 25, seed=2, collection="d")
        b.add("d", ids_b, vecs_b)
        b.save()
        a.save()  # A's in-memory index lacks B's faces
        total = cat.state(MODEL).face_count
        assert total == 60
        fresh = IndexSet(tmp_path, cat, MODEL, DIM)
        assert fresh.size() == total
        # every face is found by its own vector, in a fresh reader and in both writers
        for reader in (fresh, a, b):
            for ids, vecs in ((ids_a, vecs_a), (ids_b, vecs_b)):
                _, got = reader.search(vecs, 1, None)
                assert (got[:, 0] == ids).all()


def test_a_long_lived_reader_catches_up_before_searching(
    tmp_path: Path, open_catalog: Callable[[], Catalog]
) -> None:
    with open_catalog() as cat:
        fill(cat, 10)
        reader = IndexSet(tmp_path, cat, MODEL, DIM)
        reader.ensure_loaded()
        ids, vecs = add_faces(cat, 5, seed=3)  # another process's ingest
        _, got = reader.search(vecs, 1, None)
        assert (got[:, 0] == ids).all()
        gone = cat.delete_faces([int(ids[0])])  # another process's erasure
        assert len(gone) == 1
        _, got = reader.search(vecs[:1], 3, None)
        assert int(ids[0]) not in got[0]
        assert reader.size() == 14


def _writer(home: str, seed: int, rounds: int, database_url: str) -> None:
    with Catalog.open_home(home, database_url) as cat:
        indexes = IndexSet(Path(home), cat, MODEL, DIM)
        indexes.ensure_loaded()
        for r in range(rounds):
            ids, vecs = add_faces(cat, 7, seed=seed * 100 + r, collection=f"w{seed % 2}")
            indexes.add(f"w{seed % 2}", ids, vecs)
            indexes.save()


def test_processes_writing_at_once_end_like_a_serial_run(
    tmp_path: Path, database_url: str, open_catalog: Callable[[], Catalog]
) -> None:
    """Four processes on one home, on its SQLite file or on one PostgreSQL database."""
    ctx = mp.get_context("spawn")
    args = [(str(tmp_path), s, 6, database_url) for s in range(4)]
    procs = [ctx.Process(target=_writer, args=a) for a in args]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    with open_catalog() as cat:
        state = cat.state(MODEL)
        assert state.face_count == 4 * 6 * 7
        saved = manifest_inode(tmp_path)
        fresh = IndexSet(tmp_path, cat, MODEL, DIM)
        assert fresh.size() == state.face_count
        assert manifest_inode(tmp_path) == saved  # the files on disk were complete, not rebuilt
        held = np.sort(np.concatenate([i.ids() for i in fresh._indexes.values()]))
        expected = np.sort(np.concatenate([ids for ids, _ in cat.face_vectors(None, MODEL)]))
        assert np.array_equal(held, expected)
    leftovers = [p.name for p in (tmp_path / "index").rglob("*.tmp")]
    assert leftovers == []


def test_erasures_by_another_writer_are_read_from_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, open_catalog: Callable[[], Catalog]
) -> None:
    """``other`` is another process on the home, or another replica on PostgreSQL."""
    with open_catalog() as cat, open_catalog() as other:
        ids, vecs = add_faces(cat, 30, seed=5)
        reader = IndexSet(tmp_path, cat, MODEL, DIM)
        reader.ensure_loaded()

        def no_repair() -> None:
            raise AssertionError("compared every id instead of reading the erasure log")

        monkeypatch.setattr(reader, "_repair", no_repair)
        other.delete_faces([int(ids[3]), int(ids[7])])
        more, more_vecs = add_faces(other, 4, seed=6)
        _, got = reader.search(vecs[[3, 7]], 1, None)
        assert not set(got[:, 0].tolist()) & {int(ids[3]), int(ids[7])}
        assert reader.size() == 32
        _, got = reader.search(more_vecs, 1, None)
        assert (got[:, 0] == more).all()
        monkeypatch.undo()
        # a catalog whose log does not cover the gap (written before the log existed): repaired
        other._live().execute("DELETE FROM erased_faces")
        other.delete_faces([int(ids[0])])
        other._live().execute("DELETE FROM erased_faces")
        assert reader.size() == 31
        assert int(ids[0]) not in reader.search(vecs[:1], 3, None)[1][0]


def test_a_read_only_home_can_still_be_searched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The shared lock a reader takes must not need to write (a mounted snapshot, a replica;
    chmod does not stop root, so the read-only file system is simulated)."""
    import errno
    import os

    import facesearch.private

    with Catalog.open_home(tmp_path) as cat:
        ids, vecs = add_faces(cat, 12, seed=8)
        IndexSet(tmp_path, cat, MODEL, DIM).save()
        real_open = os.open

        def read_only_open(path, flags, *args):  # type: ignore[no-untyped-def]
            if flags & (os.O_CREAT | os.O_WRONLY | os.O_RDWR):
                raise OSError(errno.EROFS, "Read-only file system", str(path))
            return real_open(path, flags, *args)

        monkeypatch.setattr(facesearch.private.os, "open", read_only_open)
        reader = IndexSet(tmp_path, cat, MODEL, DIM)
        _, got = reader.search(vecs, 1, None)
        assert (got[:, 0] == ids).all()  # loaded: a rebuild would have had to write
        (tmp_path / "index" / ".lock").unlink()  # no lock file at all: still readable
        again = IndexSet(tmp_path, cat, MODEL, DIM)
        assert again.size() == 12
