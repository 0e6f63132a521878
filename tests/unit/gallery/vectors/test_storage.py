"""Index files: save/load round trips, erasure on disk, atomic saves, kinds and switching."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt
import pytest

from facesearch.errors import ConfigError, VectorIndexError
from facesearch.gallery.vectors import (
    FaissIndex,
    NumpyIndex,
    VectorIndex,
    load_index,
    make_index,
    storage,
)
from facesearch.gallery.vectors.faiss_ivf import IvfStore
from facesearch.settings import INDEX_KINDS, Settings

DIM = 32
F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]
BACKENDS: dict[str, Callable[[], VectorIndex]] = {
    "numpy": lambda: NumpyIndex(DIM),
    "flat": lambda: make_index(DIM, "flat"),
    "ivf": lambda: make_index(DIM, "ivf", probe_fraction=1.0),
}


def unit(rng: np.random.Generator, n: int, dim: int = DIM) -> F32:
    x = rng.standard_normal((n, dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def ids_for(n: int) -> I64:
    return np.random.default_rng(n).permutation(np.arange(n, dtype=np.int64) * 7 + 3)


def filled(name: str, ids: I64, x: F32) -> VectorIndex:
    index = BACKENDS[name]()
    index.add(ids, x)
    return index


@pytest.fixture(params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(7)


def saved_bytes(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(directory.iterdir()))


def assert_same(a: VectorIndex, b: VectorIndex, queries: Any) -> None:
    assert len(a) == len(b) and a.dim == b.dim
    np.testing.assert_array_equal(a.ids(), b.ids())
    sa, ia = a.search(queries, 10)
    sb, ib = b.search(queries, 10)
    np.testing.assert_array_equal(ia, ib)
    np.testing.assert_array_equal(sa, sb)


def test_save_load_round_trip(backend: str, rng: np.random.Generator, tmp_path: Path) -> None:
    x, ids = unit(rng, 2500), ids_for(2500)
    index = filled(backend, ids, x)
    index.remove(ids[:100])
    index.save(tmp_path / "ix")
    loaded = load_index(tmp_path / "ix")
    assert type(loaded) is type(index)
    assert_same(index, loaded, x[:40])
    loaded.add(ids[:100], x[:100])  # the loaded index keeps working
    assert len(loaded) == 2500


def test_empty_round_trip(backend: str, tmp_path: Path) -> None:
    index = BACKENDS[backend]()
    index.save(tmp_path)
    loaded = load_index(tmp_path)
    assert len(loaded) == 0 and loaded.dim == DIM


def test_faiss_params_survive_save(rng: np.random.Generator, tmp_path: Path) -> None:
    index = FaissIndex(DIM, approx_threshold=1000, nprobe=3, rerank=7, retrain_growth=None)
    index.add(ids_for(1200), unit(rng, 1200))
    index.save(tmp_path)
    loaded = load_index(tmp_path, threads=1)
    assert isinstance(loaded, FaissIndex)
    assert (loaded.mode, loaded.nprobe, loaded.approx_threshold) == ("ivf", 3, 1000)
    assert loaded.retrain_growth is None and loaded.effective_nprobe() == 3
    assert loaded.rerank == 7


# --- erasure on disk --------------------------------------------------------------------------


def removed_fingerprint(index: VectorIndex, vector: Any) -> bytes:
    """The bytes a vector is stored as: raw float32, or its SQ8 code in IVF mode."""
    if isinstance(index, FaissIndex) and isinstance(index._store, IvfStore):
        return bytes(index._store.sq.encode(vector[None, :]).tobytes())
    return bytes(vector.astype(np.float32).tobytes())


def test_removed_vectors_leave_the_files(
    backend: str, rng: np.random.Generator, tmp_path: Path
) -> None:
    x, ids = unit(rng, 1500), ids_for(1500)
    index = filled(backend, ids, x)
    victim = 321
    fingerprint = removed_fingerprint(index, x[victim])
    index.save(tmp_path)
    assert fingerprint in saved_bytes(tmp_path)  # so the check below can fail
    first = set(os.listdir(tmp_path))

    assert index.remove(ids[[victim]]) == 1
    index.save(tmp_path)
    assert fingerprint not in saved_bytes(tmp_path)
    assert first.isdisjoint(set(os.listdir(tmp_path)) - {"manifest.json"})  # old files gone

    loaded = load_index(tmp_path)
    assert len(loaded) == 1499 and ids[victim] not in loaded.ids()
    _, got = loaded.search(x[victim : victim + 1], 50)
    assert ids[victim] not in got


# --- atomic save ----------------------------------------------------------------------------


def _break_writes(monkeypatch: pytest.MonkeyPatch, backend: str) -> None:
    """Make the backend's data-file writer write half a file, then fail like a full disk."""

    def half_then_fail(path: Path) -> None:
        Path(path).write_bytes(b"\x93NUMPY partial")
        raise OSError(28, "No space left on device")

    if backend == "numpy":
        real = np.save

        def fake_save(f: Any, arr: Any, **kw: Any) -> None:
            if arr.ndim == 2:  # the vectors file
                f.write(b"partial")
                raise OSError(28, "No space left on device")
            real(f, arr, **kw)

        monkeypatch.setattr(np, "save", fake_save)
    else:
        monkeypatch.setattr(faiss, "write_index", lambda index, path: half_then_fail(path))


def test_failed_save_keeps_previous(
    backend: str, rng: np.random.Generator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    x, ids = unit(rng, 1200), ids_for(1200)
    index = filled(backend, ids, x)
    index.save(tmp_path)
    before = sorted(os.listdir(tmp_path))
    index.remove(ids[:600])
    with monkeypatch.context() as m:
        _break_writes(m, backend)
        with pytest.raises(VectorIndexError, match="No space"):
            index.save(tmp_path)
    assert sorted(os.listdir(tmp_path)) == before  # no partial or temporary file left
    loaded = load_index(tmp_path)
    assert len(loaded) == 1200
    np.testing.assert_array_equal(loaded.ids(), np.sort(ids))


def test_crash_at_commit_keeps_previous(
    rng: np.random.Generator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    x, ids = unit(rng, 300), ids_for(300)
    index = NumpyIndex(DIM)
    index.add(ids, x)
    index.save(tmp_path)
    before = sorted(os.listdir(tmp_path))
    index.remove(ids[:10])
    real_replace = os.replace

    def replace(src: Any, dst: Any) -> None:
        if Path(dst).name == storage.MANIFEST:
            raise OSError(5, "Input/output error")
        real_replace(src, dst)

    with monkeypatch.context() as m:
        m.setattr(os, "replace", replace)
        with pytest.raises(VectorIndexError):
            index.save(tmp_path)
    assert sorted(os.listdir(tmp_path)) == before
    assert len(load_index(tmp_path)) == 300
    index.save(tmp_path)  # and a later save works and cleans up
    assert len(load_index(tmp_path)) == 290
    assert len(os.listdir(tmp_path)) == 3


def test_stale_files_from_a_crash_are_cleaned(rng: np.random.Generator, tmp_path: Path) -> None:
    index = NumpyIndex(DIM)
    index.add(np.arange(5), unit(rng, 5))
    index.save(tmp_path)
    stray = [tmp_path / ".vectors-0123456789abcdef01234567.npy.tmp"]
    stray.append(tmp_path / "vectors-0123456789abcdef01234567.npy")
    for p in stray:
        p.write_bytes(b"left by a crash")
    (tmp_path / "notes.txt").write_text("not ours")
    index.save(tmp_path)
    assert not any(p.exists() for p in stray)
    assert (tmp_path / "notes.txt").exists()


# --- loading errors ---------------------------------------------------------------------------


def test_load_errors(rng: np.random.Generator, tmp_path: Path) -> None:
    with pytest.raises(VectorIndexError, match="no saved index"):
        load_index(tmp_path)
    (tmp_path / "manifest.json").write_text("{not json")
    with pytest.raises(VectorIndexError):
        load_index(tmp_path)
    index = NumpyIndex(DIM)
    index.add(np.arange(3), unit(rng, 3))
    index.save(tmp_path)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    manifest["count"] = 4
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(VectorIndexError, match="disagree"):
        load_index(tmp_path)
    manifest["kind"] = "milvus"
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(VectorIndexError, match="unknown index kind"):
        load_index(tmp_path)


def test_truncated_faiss_file(rng: np.random.Generator, tmp_path: Path) -> None:
    index = make_index(DIM, "flat")
    index.add(np.arange(50), unit(rng, 50))
    index.save(tmp_path)
    data = next(tmp_path.glob("index-*.faiss"))
    data.write_bytes(data.read_bytes()[:100])
    with pytest.raises(VectorIndexError):
        load_index(tmp_path)


# --- kinds, switching, threads --------------------------------------------------------------


def test_make_index_kinds() -> None:
    assert isinstance(make_index(DIM, "numpy"), NumpyIndex)
    auto = make_index(512, "auto", nprobe=8)
    assert isinstance(auto, FaissIndex) and auto.approx_threshold == 200_000 and auto.dim == 512
    flat = make_index(DIM, "flat")
    assert isinstance(flat, FaissIndex) and flat.approx_threshold is None
    for kind, params in [("hnsw", {}), ("ivf", {"approx_threshold": 5000}), ("auto", {"m": 3})]:
        with pytest.raises(ConfigError):
            make_index(DIM, kind, **params)
    with pytest.raises(ConfigError):
        make_index(DIM, "numpy", threads=2)
    with pytest.raises(ConfigError):
        FaissIndex(DIM, approx_threshold=10)


def test_every_kind_the_settings_accept_makes_an_index_and_no_other(tmp_path: Path) -> None:
    for kind in INDEX_KINDS:
        assert make_index(DIM, kind).dim == DIM
        Settings(home=tmp_path).replace(index_kind=kind)
    with pytest.raises(ConfigError):
        Settings(home=tmp_path).replace(index_kind="hnsw")


def test_switches_to_ivf_at_threshold(rng: np.random.Generator) -> None:
    x, ids = unit(rng, 3000), ids_for(3000)
    index = FaissIndex(DIM, approx_threshold=2000, probe_fraction=1.0)
    index.add(ids[:1999], x[:1999])
    assert index.mode == "flat"
    index.add(ids[1999:], x[1999:])
    assert index.mode == "ivf" and len(index) == 3000
    np.testing.assert_array_equal(index.ids(), np.sort(ids))
    _, got = index.search(x[:100], 1)
    assert np.mean(got[:, 0] == ids[:100]) >= 0.99
    per_face = DIM // 4 + 8 + DIM + 8 + 16
    assert index.memory_bytes() == 3000 * per_face + index.lists * DIM * 4


def test_retrains_when_grown(rng: np.random.Generator) -> None:
    x, ids = unit(rng, 9000), ids_for(9000)
    index = FaissIndex(DIM, approx_threshold=1000, retrain_growth=4.0, probe_fraction=1.0)
    index.add(ids[:1000], x[:1000])
    small = index.lists
    codes_before = index._store.codes[:1000].copy()  # type: ignore[union-attr]
    index.add(ids[1000:], x[1000:])
    assert index.lists > small
    # retraining keeps the SQ8 codes of the first faces bit for bit
    store = index._store
    assert isinstance(store, IvfStore)
    rows = store.sorted_rows[np.searchsorted(store.sorted_ids, ids[:1000])]
    np.testing.assert_array_equal(store.codes[rows], codes_before)
    assert len(index) == 9000
    _, got = index.search(x[-50:], 1)
    assert np.mean(got[:, 0] == ids[-50:]) >= 0.98


def test_threads_parameter_is_applied(rng: np.random.Generator) -> None:
    before = faiss.omp_get_max_threads()
    try:
        index = FaissIndex(DIM, threads=1)
        index.add(np.arange(10), unit(rng, 10))
        faiss.omp_set_num_threads(2)
        index.search(unit(rng, 2), 3)
        assert faiss.omp_get_max_threads() == 1
    finally:
        faiss.omp_set_num_threads(before)


def test_512_dimensional(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    x = unit(rng, 1100, 512)
    index = make_index(512, "ivf", probe_fraction=1.0)
    index.add(np.arange(1100), x)
    _, got = index.search(x[:20], 1)
    np.testing.assert_array_equal(got[:, 0], np.arange(20))
    index.save(tmp_path)
    assert load_index(tmp_path).dim == 512


def test_one_big_add_goes_straight_to_ivf(rng: np.random.Generator) -> None:
    x, ids = unit(rng, 5000), ids_for(5000)
    index = FaissIndex(DIM, approx_threshold=2000, probe_fraction=1.0)
    index.add(ids[:500], x[:500])
    index.add(ids[500:], x[500:])  # crosses the threshold in one call
    assert index.mode == "ivf" and len(index) == 5000
    _, got = index.search(x[::50], 1)
    np.testing.assert_array_equal(got[:, 0], ids[::50])
