"""IndexSet with Milvus Lite holding the vectors: still derived from the catalog (real SQLite,
synthetic faces), erasure proved, several writers on the same vectors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tests.unit.gallery.test_collections import DIM, MODEL, add_faces

from facesearch.errors import ConfigError
from facesearch.gallery.catalog import Catalog
from facesearch.gallery.collections import IndexSet

pytest.importorskip("pymilvus", reason="Milvus needs the distributed extra")


def milvus_set(home: Path, cat: Catalog) -> IndexSet:
    return IndexSet(home, cat, MODEL, DIM, vectors_url=str(home / "vectors.db"))


def test_a_bad_vectors_url_fails_when_the_set_is_made(tmp_path: Path) -> None:
    with Catalog.open_home(tmp_path) as cat, pytest.raises(ConfigError, match="vectors_url"):
        IndexSet(tmp_path, cat, MODEL, DIM, vectors_url="redis://x")


def test_search_forget_and_reopen(tmp_path: Path) -> None:
    with Catalog.open_home(tmp_path) as cat:
        ids_c, vecs_c = add_faces(cat, 30, seed=1)
        ids_d, vecs_d = add_faces(cat, 20, seed=2, collection="d")
        indexes = milvus_set(tmp_path, cat)
        assert indexes.size() == 50 and indexes.size(["d"]) == 20  # built from the catalog
        _, got = indexes.search(vecs_d, 1, ["d"])
        assert (got[:, 0] == ids_d).all()
        _, got = indexes.search(vecs_d, 3, ["c"])  # filtered: only collection c
        assert np.isin(got, ids_c).all()
        indexes.save()
        assert not (tmp_path / "index" / "manifest.json").exists()  # no index files

        gone = [f.id for f in cat.delete_faces([int(ids_c[0]), int(ids_d[0])])]
        assert indexes.remove(gone) == 2
        record = indexes.last_erasure
        assert record is not None and record.faces == 2 and record.proved_absent
        indexes.save()
        _, got = indexes.search(np.concatenate([vecs_c[:1], vecs_d[:1]]), 5, None)
        assert not np.isin(got, gone).any()
        assert indexes.pending_physical_deletions()[0].faces == 2

        reopened = milvus_set(tmp_path, cat)  # starts from the state recorded in Milvus
        assert reopened.size() == 48
        _, got = reopened.search(vecs_c[1:], 1, None)
        assert (got[:, 0] == ids_c[1:]).all()


def test_vectors_lost_on_the_server_are_repaired_on_open(tmp_path: Path) -> None:
    with Catalog.open_home(tmp_path) as cat:
        ids, vecs = add_faces(cat, 40, seed=3)
        indexes = milvus_set(tmp_path, cat)
        indexes.save()
        store = indexes._connect()
        store.client.delete(store.name, filter=f"id in {ids[:5].tolist()}")  # behind its back
        store.put(999, np.array([10**9], np.int64), vecs[:1])  # and a stray vector
        reopened = milvus_set(tmp_path, cat)
        assert reopened.size() == 40
        _, got = reopened.search(vecs, 1, None)
        assert (got[:, 0] == ids).all()
        assert not len(store.held(np.array([10**9], np.int64)))


def test_two_writers_share_the_vectors_without_duplicates(tmp_path: Path) -> None:
    with Catalog.open_home(tmp_path) as cat:
        add_faces(cat, 10, seed=4)
        a, b = milvus_set(tmp_path, cat), milvus_set(tmp_path, cat)
        a.ensure_loaded()
        b.ensure_loaded()
        ids_a, vecs_a = add_faces(cat, 15, seed=5)
        a.add("c", ids_a, vecs_a)  # in Milvus now; b catches up without adding them twice
        ids_b, vecs_b = add_faces(cat, 5, seed=6, collection="d")
        b.add("d", ids_b, vecs_b)
        a.save()
        b.save()
        for reader in (a, b, milvus_set(tmp_path, cat)):
            assert reader.size() == 30
            _, got = reader.search(np.concatenate([vecs_a, vecs_b]), 1, None)
            assert (got[:, 0] == np.concatenate([ids_a, ids_b])).all()


def test_rebuild_starts_from_the_catalog_again(tmp_path: Path) -> None:
    with Catalog.open_home(tmp_path) as cat:
        ids, vecs = add_faces(cat, 12, seed=7)
        indexes = milvus_set(tmp_path, cat)
        assert indexes.rebuild() == 12
        _, got = indexes.search(vecs, 1, None)
        assert (got[:, 0] == ids).all()
