"""Milvus index types on Milvus Lite (fast, embedded): each type it builds finds a vector's
own id at rank 1, a change of ``milvus_index`` rebuilds the index of an existing collection,
``auto`` follows the size, and a type Lite lacks is refused."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import numpy as np
import pytest
from tests.unit.gallery.test_collections import DIM, MODEL, add_faces

from facesearch.errors import ConfigError
from facesearch.gallery.catalog import Catalog
from facesearch.gallery.collections import IndexSet
from facesearch.gallery.vectors import MilvusIndexChoice, MilvusStore, milvus_store
from facesearch.gallery.vectors import milvus_index as types

pytest.importorskip("pymilvus", reason="Milvus needs the distributed extra")

N = 2_000


def vectors(n: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def held_type(store: MilvusStore) -> str:
    return str(store.client.describe_index(store.name, "vector")["index_type"])


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tmp_path_factory.mktemp("milvus") / "vectors.db")


@pytest.mark.parametrize("kind", sorted(types.LITE_TYPES))
def test_each_type_lite_builds_finds_own_id_first(db: str, kind: str) -> None:
    store = MilvusStore(db, MODEL, DIM, uuid.uuid4().hex, index=MilvusIndexChoice(kind))
    try:
        ids, x = np.arange(1, N + 1, dtype=np.int64), vectors(N)
        store.put(1, ids, x)
        store.write_state({})  # flush, then the index of the size
        assert held_type(store) == kind == store.index.type
        _, got = store.search(x[:50], 5, [1])
        assert (got[:, 0] == ids[:50]).all()
    finally:
        store.close()


def test_changing_the_type_rebuilds_the_index_of_an_existing_collection(db: str) -> None:
    catalog_id = uuid.uuid4().hex
    ids, x = np.arange(1, N + 1, dtype=np.int64), vectors(N, seed=1)
    first = MilvusStore(db, MODEL, DIM, catalog_id, index=MilvusIndexChoice("FLAT"))
    first.put(1, ids, x)
    first.write_state({})
    assert held_type(first) == "FLAT"
    first.close()
    for kind, params in [("HNSW", {"M": 16}), ("IVF_SQ8", {"nlist": 32})]:
        store = MilvusStore(db, MODEL, DIM, catalog_id, index=MilvusIndexChoice(kind))
        try:  # opening with another setting rebuilt it; the vectors are all still there
            assert held_type(store) == kind and store.count() == N
            assert params.items() <= store.index.build_params(DIM).items()
            _, got = store.search(x[:50], 3, None)
            assert (got[:, 0] == ids[:50]).all()
        finally:
            store.close()
    again = MilvusStore(db, MODEL, DIM, catalog_id, index=MilvusIndexChoice("IVF_SQ8", nprobe=8))
    assert again.index.nlist == 32 and again.index.nprobe == 8  # a search parameter: kept index
    again.close()


def test_auto_follows_the_size(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(types, "AUTO_FLAT_BELOW", 500)  # small sizes, the same rule
    store = MilvusStore(db, MODEL, DIM, uuid.uuid4().hex)
    try:
        assert store.index.type == "FLAT"
        store.put(1, np.arange(1, 1001, dtype=np.int64), vectors(1000, seed=2))
        store.write_state({})
        assert held_type(store) == store.index.type == "IVF_SQ8"
    finally:
        store.close()


def test_a_type_lite_lacks_is_refused(db: str) -> None:
    with pytest.raises(ConfigError, match="cannot build a IVF_PQ index"):
        MilvusStore(db, MODEL, DIM, uuid.uuid4().hex, index=MilvusIndexChoice("IVF_PQ"))


def test_index_set_opens_milvus_with_the_setting(db: str, tmp_path: Path) -> None:
    with Catalog.open_home(tmp_path) as cat:
        ids, vecs = add_faces(cat, 30, seed=3)
        choice = MilvusIndexChoice("HNSW", ef=64)
        index_set = IndexSet(tmp_path, cat, MODEL, DIM, vectors_url=db, milvus_index=choice)
        _, got = index_set.search(vecs, 1, ["c"])
        assert (got[:, 0] == ids).all()
        store = index_set._milvus
        assert store is not None and held_type(store) == "HNSW" and store.index.ef == 64


def test_a_search_parameter_changes_without_a_rebuild(
    db: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="facesearch.gallery.vectors.milvus_store")
    catalog_id = uuid.uuid4().hex
    first = MilvusStore(db, MODEL, DIM, catalog_id, index=MilvusIndexChoice("HNSW"))
    first.put(1, np.arange(1, 101, dtype=np.int64), vectors(100, seed=4))
    first.write_state({})
    first.close()
    store = MilvusStore(db, MODEL, DIM, catalog_id, index=MilvusIndexChoice("HNSW", ef=512))
    store.write_state({})
    store.close()
    assert store.index.search_params(10) == {"ef": 512}
    assert "rebuilding the index" not in caplog.text


def test_a_collection_made_before_index_records_is_read_as_flat(db: str) -> None:
    catalog_id = uuid.uuid4().hex
    old = MilvusStore(db, MODEL, DIM, catalog_id)
    old.put(1, np.arange(1, 201, dtype=np.int64), vectors(200, seed=5))
    old.client.delete(milvus_store.META, filter=f'key == "{old.name}:index"')  # an older home
    old.close()
    store = MilvusStore(db, MODEL, DIM, catalog_id, index=MilvusIndexChoice("HNSW"))
    try:
        assert held_type(store) == "HNSW" and store.count() == 200
    finally:
        store.close()
