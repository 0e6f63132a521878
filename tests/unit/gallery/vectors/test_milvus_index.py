"""The vector-index contract (test_index's backend tests) against ``MilvusIndex`` on Milvus
Lite, its URL, its filtered search, and its proved erasure."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from tests.unit.gallery.vectors import test_index as contract
from tests.unit.gallery.vectors.test_index import (  # noqa: F401  (collected here too)
    DIM,
    ids_for,
    test_backends_are_vector_indexes,
    test_bad_add_rejected,
    test_bad_search_rejected,
    test_duplicate_ids_rejected,
    test_empty_index_returns_padding,
    test_k_larger_than_n_pads,
    test_remove_erases,
    test_removed_id_can_be_added_again,
    test_results_sorted_and_self_match_first,
    test_zero_queries,
    unit,
)

from facesearch.errors import ConfigError, VectorIndexError
from facesearch.gallery.vectors import (
    MilvusIndex,
    MilvusStore,
    NumpyIndex,
    VectorsTarget,
    milvus_store,
    open_milvus,
    vectors_target,
)
from facesearch.settings import Settings

pytest.importorskip("pymilvus", reason="Milvus needs the distributed extra")


@pytest.fixture(scope="module")
def lite(tmp_path_factory: pytest.TempPathFactory) -> VectorsTarget:
    return vectors_target(str(tmp_path_factory.mktemp("milvus") / "vectors.db"))


def fresh_store(target: VectorsTarget) -> MilvusStore:
    """A store of its own: another catalog id names another Milvus collection."""
    return open_milvus(target, "contract:0", DIM, uuid.uuid4().hex)


@pytest.fixture
def backend(lite: VectorsTarget, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The contract tests imported above, run with ``BACKENDS["milvus"]``."""
    monkeypatch.setitem(contract.BACKENDS, "milvus", lambda: MilvusIndex(fresh_store(lite), 1))
    yield "milvus"


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240611)


# --- vectors_url ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url, kind, uri, token",
    [
        (None, "files", "", ""),
        ("", "files", "", ""),
        ("milvus://vectors.example:19531", "milvus", "http://vectors.example:19531", ""),
        ("milvus://vectors.example", "milvus", "http://vectors.example:19530", ""),
        ("http://10.0.0.5:19530/", "milvus", "http://10.0.0.5:19530", ""),
        ("https://u:p%40ss@m.example", "milvus", "https://m.example:19530", "u:p@ss"),
    ],
)
def test_vectors_url_is_read(url: str | None, kind: str, uri: str, token: str) -> None:
    target = vectors_target(url)
    assert (target.kind, target.uri, target.token) == (kind, uri, token)
    assert "p@ss" not in str(target)


@pytest.mark.parametrize("url", ["milvus://vectors.example:19530", "/data/vectors.db"])
def test_the_setting_keeps_the_url_as_written(url: str, tmp_path: Path) -> None:
    """Not turned into a Path (which would fold ``//`` away) from the environment or a copy."""
    settings = Settings.from_env(env={"FACESEARCH_VECTORS_URL": url}, home=tmp_path)
    assert settings.index.vectors_url == url
    assert settings.replace(vectors_url=url).index.vectors_url == url
    assert Settings.from_env(env={}, home=tmp_path).index.vectors_url == ""


def test_a_db_path_is_milvus_lite(tmp_path: Path) -> None:
    target = vectors_target(str(tmp_path / "v.db"))
    assert target.kind == "milvus-lite" and target.uri == str(tmp_path / "v.db")


@pytest.mark.parametrize(
    "url", ["postgresql://db/x", "vectors", "milvus://", "milvus://h:port", "milvus://h/db"]
)
def test_anything_else_is_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError, match="vectors_url"):
        vectors_target(url)


# --- search and erasure -------------------------------------------------------------------------


def test_search_matches_numpy_over_the_collections_asked_for(
    lite: VectorsTarget, rng: np.random.Generator
) -> None:
    store = fresh_store(lite)
    x, ids = unit(rng, 1500), ids_for(1500)
    part = np.arange(1500) % 3  # three facesearch collections, one Milvus collection
    for c in range(3):
        MilvusIndex(store, c).add(ids[part == c], x[part == c])
    queries = unit(rng, 20)
    for wanted in ([0], [1, 2], None):
        ref = NumpyIndex(DIM)
        keep = np.ones(1500, bool) if wanted is None else np.isin(part, wanted)
        ref.add(ids[keep], x[keep])
        ref_s, ref_i = ref.search(queries, 15)
        s, i = store.search(queries, 15, wanted)
        np.testing.assert_allclose(s, ref_s, atol=1e-5)
        assert (i == ref_i).mean() > 0.99  # near-ties may swap
        assert np.isin(i, ids[keep]).all()


def test_erasure_is_flushed_proved_and_left_pending(
    lite: VectorsTarget, rng: np.random.Generator
) -> None:
    store = fresh_store(lite)
    x, ids = unit(rng, 200), ids_for(200)
    MilvusIndex(store, 1).add(ids[:100], x[:100])
    MilvusIndex(store, 2).add(ids[100:], x[100:])
    gone = ids[95:105]  # across both collections
    record = store.erase(gone)
    assert record.faces == 10 and record.flushed and record.proved_absent
    assert "Milvus Lite" in record.compaction and record.left_to_server
    assert store.last_erasure == record
    _, got = store.search(x[95:105], 5, None)  # their own embeddings find other faces
    assert not np.isin(got, gone).any()
    assert store.count() == 190 and not len(store.held(gone))
    assert store.erase(gone).faces == 0  # nothing left to erase
    pending = store.pending_physical_deletions()
    assert [(p.faces, p.compaction_state) for p in pending] == [(10, "automatic")]
    again = fresh_store(lite)  # another process sees the same record
    assert again.pending_physical_deletions() == [] and store.pending_physical_deletions()


def test_state_record_survives_a_new_connection(lite: VectorsTarget) -> None:
    catalog_id = uuid.uuid4().hex
    store = open_milvus(lite, "contract:0", DIM, catalog_id)
    assert store.read_state() is None
    store.write_state({"face_count": 3})
    assert open_milvus(lite, "contract:0", DIM, catalog_id).read_state() == {"face_count": 3}
    assert fresh_store(lite).read_state() is None  # another catalog: its own collection


def test_a_collection_of_another_width_is_refused(lite: VectorsTarget) -> None:
    catalog_id = uuid.uuid4().hex
    open_milvus(lite, "contract:0", DIM, catalog_id)
    with pytest.raises(VectorIndexError, match="32-wide"):
        open_milvus(lite, "contract:0", DIM + 1, catalog_id)


def test_reads_are_strong_right_after_a_change_only(
    lite: VectorsTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = fresh_store(lite)
    assert store._level() == "Strong"  # just opened: anything may have changed
    monkeypatch.setattr(milvus_store, "FRESH_S", 0.0)  # the window has passed
    assert store._level("state 1") == "Strong"  # the catalog changed since the last read
    assert store._level("state 1") == "Session"
    store.put(1, np.array([5]), np.ones((1, DIM), np.float32) / np.sqrt(DIM))
    monkeypatch.setattr(milvus_store, "FRESH_S", 60.0)
    assert store._level("state 1") == "Strong"  # its own write


def test_an_erasure_record_reads_as_json(lite: VectorsTarget) -> None:
    store = fresh_store(lite)
    store.put(1, np.array([7]), np.ones((1, DIM), np.float32) / np.sqrt(DIM))
    record = store.erase(np.array([7]))
    assert record.as_dict() == {
        "faces": 1,
        "flushed": True,
        "compaction": record.compaction,
        "proved_absent": True,
        "left_to_server": record.left_to_server,
    }
