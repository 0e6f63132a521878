"""Every vector index backend against the numpy reference: search, add/remove, save/load."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from facesearch.errors import VectorIndexError
from facesearch.gallery.vectors import (
    PAD_ID,
    FaissIndex,
    NumpyIndex,
    VectorIndex,
    make_index,
)
from facesearch.gallery.vectors.faiss_ivf import IvfStore

DIM = 32
F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]


def unit(rng: np.random.Generator, n: int, dim: int = DIM) -> F32:
    x = rng.standard_normal((n, dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


def near(rng: np.random.Generator, x: F32, noise: float) -> F32:
    """Unit vectors close to the rows of ``x`` (planted near-duplicates)."""
    y = x + noise * rng.standard_normal(x.shape).astype(np.float32)
    y /= np.linalg.norm(y, axis=1, keepdims=True)
    return y


def ids_for(n: int, offset: int = 0) -> I64:
    """Sparse, unordered ids, so that no backend can get away with using row numbers."""
    ids = np.arange(n, dtype=np.int64) * 7 + 3 + offset
    return np.random.default_rng(n + offset).permutation(ids)


# Backends built small: "ivf" approximates from 1 000 vectors and probes every list, so its
# results are comparable to exact ones (PQ candidates re-ranked from 8-bit codes).
Factory = Callable[[], VectorIndex]
BACKENDS: dict[str, Factory] = {
    "numpy": lambda: NumpyIndex(DIM),
    "flat": lambda: make_index(DIM, "flat"),
    "ivf": lambda: make_index(DIM, "ivf", probe_fraction=1.0),
}


@pytest.fixture(params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240611)


def filled(name: str, ids: I64, x: F32) -> VectorIndex:
    index = BACKENDS[name]()
    index.add(ids, x)
    return index


def test_backends_are_vector_indexes(backend: str) -> None:
    index = BACKENDS[backend]()
    assert isinstance(index, VectorIndex)
    assert index.dim == DIM
    assert len(index) == 0


# --- search ------------------------------------------------------------------------------------


def test_exact_backend_matches_numpy(rng: np.random.Generator) -> None:
    x, ids = unit(rng, 3000), ids_for(3000)
    queries = unit(rng, 60)
    ref_s, ref_i = filled("numpy", ids, x).search(queries, 25)
    s, i = filled("flat", ids, x).search(queries, 25)
    np.testing.assert_allclose(s, ref_s, atol=1e-5)
    # Identical ids wherever the reference scores are distinct (no near-tie to reorder).
    gaps = np.diff(ref_s, axis=1)
    distinct = np.ones_like(ref_s, dtype=bool)
    distinct[:, 1:] &= gaps < -1e-5
    distinct[:, :-1] &= gaps < -1e-5
    assert distinct.mean() > 0.9
    np.testing.assert_array_equal(i[distinct], ref_i[distinct])


def test_results_sorted_and_self_match_first(backend: str, rng: np.random.Generator) -> None:
    x, ids = unit(rng, 2000), ids_for(2000)
    index = filled(backend, ids, x)
    s, i = index.search(x[:50], 10)
    assert s.dtype == np.float32 and i.dtype == np.int64 and s.shape == i.shape == (50, 10)
    assert np.all(np.diff(s, axis=1) <= 0)
    np.testing.assert_array_equal(i[:, 0], ids[:50])
    np.testing.assert_allclose(s[:, 0], 1.0, atol=6e-3)


def test_ivf_scores_close_to_exact(rng: np.random.Generator) -> None:
    x, ids = unit(rng, 4000), ids_for(4000)
    queries = unit(rng, 40)
    ref_s, ref_i = filled("numpy", ids, x).search(queries, 10)
    s, i = filled("ivf", ids, x).search(queries, 10)
    assert np.mean([len(set(a) & set(b)) for a, b in zip(i, ref_i, strict=True)]) > 9.0
    np.testing.assert_allclose(s, ref_s, atol=0.02)


def test_approximate_recall_of_planted_near_duplicates(rng: np.random.Generator) -> None:
    """Default IVF settings (half the lists probed) find >= 99 % of near-duplicates."""
    n, dim = 40_000, 64
    x, ids = unit(rng, n, dim), ids_for(n)
    index = FaissIndex(dim, approx_threshold=1_000)
    index.add(ids, x)
    assert index.mode == "ivf"
    planted = rng.choice(n, 500, replace=False)
    probes = near(rng, x[planted], 0.06)  # cosine ~ 0.89 to its planted twin
    _, got = index.search(probes, 10)
    recall = np.mean([ids[p] in row for p, row in zip(planted, got, strict=True)])
    assert recall >= 0.99


def test_empty_index_returns_padding(backend: str, rng: np.random.Generator) -> None:
    s, i = BACKENDS[backend]().search(unit(rng, 3), 4)
    assert i.shape == (3, 4) and np.all(i == PAD_ID) and np.all(np.isneginf(s))


def test_k_larger_than_n_pads(backend: str, rng: np.random.Generator) -> None:
    x, ids = unit(rng, 1200), ids_for(1200)
    index = filled(backend, ids, x)
    index.remove(ids[5:])
    s, i = index.search(x[:2], 8)
    assert sorted(i[0, :5].tolist()) == sorted(ids[:5].tolist())
    assert np.all(i[:, 5:] == PAD_ID) and np.all(np.isneginf(s[:, 5:]))
    assert np.all(np.isfinite(s[:, :5]))


def test_zero_queries(backend: str) -> None:
    s, i = BACKENDS[backend]().search(np.zeros((0, DIM), np.float32), 3)
    assert s.shape == i.shape == (0, 3)


# --- bad input ------------------------------------------------------------------------------


def test_duplicate_ids_rejected(backend: str, rng: np.random.Generator) -> None:
    index = BACKENDS[backend]()
    index.add(np.array([1, 2, 3]), unit(rng, 3))
    with pytest.raises(VectorIndexError, match="already"):
        index.add(np.array([4, 2]), unit(rng, 2))
    with pytest.raises(VectorIndexError, match="duplicate"):
        index.add(np.array([5, 5]), unit(rng, 2))
    assert len(index) == 3  # nothing of the failed calls was added
    assert index.ids().tolist() == [1, 2, 3]


@pytest.mark.parametrize(
    "ids, vectors",
    [
        (np.array([1, 2]), np.zeros((2, DIM + 1), np.float32)),  # wrong dim
        (np.array([1, 2]), np.zeros((3, DIM), np.float32)),  # count mismatch
        (np.array([1]), np.zeros(DIM, np.float32)),  # 1-D vectors
        (np.array([-4]), np.ones((1, DIM), np.float32)),  # negative id
        (np.array([1.5]), np.ones((1, DIM), np.float32)),  # float id
        (np.array([1]), np.full((1, DIM), np.nan, np.float32)),  # NaN
    ],
)
def test_bad_add_rejected(backend: str, ids: I64, vectors: F32) -> None:
    index = BACKENDS[backend]()
    with pytest.raises(VectorIndexError):
        index.add(ids, vectors)
    assert len(index) == 0


def test_bad_search_rejected(backend: str, rng: np.random.Generator) -> None:
    index = filled(backend, np.array([1]), unit(rng, 1))
    with pytest.raises(VectorIndexError):
        index.search(unit(rng, 2, DIM + 3), 3)
    for k in (0, -1, 2.5):
        with pytest.raises(VectorIndexError):
            index.search(unit(rng, 2), k)  # type: ignore[arg-type]


def test_bad_dim_rejected() -> None:
    with pytest.raises(VectorIndexError):
        NumpyIndex(0)
    with pytest.raises(VectorIndexError):
        FaissIndex(-3)


# --- removal --------------------------------------------------------------------------------


def test_remove_erases(backend: str, rng: np.random.Generator) -> None:
    x, ids = unit(rng, 3000), ids_for(3000)
    index = filled(backend, ids, x)
    gone = rng.choice(3000, 300, replace=False)
    assert index.remove(np.concatenate([ids[gone], [10**12]])) == 300  # unknown id ignored
    assert index.remove(ids[gone]) == 0  # already gone
    assert len(index) == 2700
    assert not np.isin(ids[gone], index.ids()).any()
    _, got = index.search(x[gone], 20)  # the erased vectors themselves as queries
    assert not np.isin(got, ids[gone]).any()
    kept = np.setdiff1d(np.arange(3000), gone)[:50]
    _, got = index.search(x[kept], 1)
    np.testing.assert_array_equal(got[:, 0], ids[kept])


def test_removed_id_can_be_added_again(backend: str, rng: np.random.Generator) -> None:
    x = unit(rng, 1500)
    index = filled(backend, np.arange(1500), x)
    index.remove(np.array([7]))
    index.add(np.array([7]), x[7:8])
    assert len(index) == 1500
    assert index.search(x[7:8], 1)[1][0, 0] == 7


def test_numpy_remove_scrubs_its_buffer(rng: np.random.Generator) -> None:
    x, ids = unit(rng, 500), ids_for(500)
    index = NumpyIndex(DIM)
    index.add(ids, x)
    index.remove(ids[[10, 499]])  # one in the middle, the last row
    buffer = index._vectors.tobytes()
    assert x[11].tobytes() in buffer  # the check below can fail
    assert x[10].tobytes() not in buffer and x[499].tobytes() not in buffer


def test_faiss_flat_remove_scrubs_its_buffer(rng: np.random.Generator) -> None:
    import faiss

    x, ids = unit(rng, 500), ids_for(500)
    index = FaissIndex(DIM)
    index.add(ids, x)
    flat: Any = faiss.downcast_index(index._store.index.index)  # type: ignore[union-attr]
    view = faiss.rev_swig_ptr(flat.get_xb(), 500 * DIM)  # old size: includes freed tail
    assert x[498].tobytes() in view.tobytes()
    index.remove(ids[[10, 499]])
    raw = view.tobytes()
    assert x[10].tobytes() not in raw and x[499].tobytes() not in raw


def ivf_index(rng: np.random.Generator, n: int) -> tuple[FaissIndex, IvfStore, F32, I64]:
    x, ids = unit(rng, n), ids_for(n)
    index = FaissIndex(DIM, approx_threshold=1000, probe_fraction=1.0)
    index.add(ids, x)
    store = index._store
    assert isinstance(store, IvfStore)
    return index, store, x, ids


def test_ivf_remove_scrubs_pq_blocks(rng: np.random.Generator) -> None:
    import faiss

    index, store, _, _ = ivf_index(rng, 2000)
    invlists: Any = faiss.downcast_InvertedLists(store.coarse.invlists)
    list_no = int(np.argmax([invlists.list_size(i) for i in range(invlists.nlist)]))
    size = int(invlists.list_size(list_no))
    n_blocks = -(-size // int(invlists.n_per_block))
    blocks = faiss.rev_swig_ptr(
        invlists.get_codes(list_no), n_blocks * int(invlists.block_size)
    ).reshape(n_blocks, int(invlists.block_size))
    rows = faiss.rev_swig_ptr(invlists.get_ids(list_no), size)
    last_code = invlists.packer.unpack_1(blocks, size - 1)
    assert last_code.any()
    assert index.remove(store.row_ids[[rows[size - 1]]]) == 1  # the list's last entry
    # FAISS only shrinks the list: without scrubbing, the code would stay in the block.
    assert not invlists.packer.unpack_1(blocks, size - 1).any()


def test_ivf_remove_keeps_rows_dense_and_consistent(rng: np.random.Generator) -> None:
    index, store, x, ids = ivf_index(rng, 3000)
    gone = ids[rng.choice(3000, 700, replace=False)]
    index.remove(gone)
    n = len(store)
    assert n == 2300 and not np.isin(gone, store.row_ids[:n]).any()
    assert np.all(store.row_ids[n:] == -1) and not store.codes[n:].any()
    # the lookup maps every live id to the row holding it
    np.testing.assert_array_equal(store.row_ids[store.sorted_rows], store.sorted_ids)
    # every row appears exactly once in the lists
    rows = np.concatenate([list_ids.copy() for _, list_ids in store._lists()])
    np.testing.assert_array_equal(np.sort(rows), np.arange(n))
    # and each face is still found by its own vector
    keep = ~np.isin(ids, gone)
    _, got = index.search(x[keep][:200], 1)
    np.testing.assert_array_equal(got[:, 0], ids[keep][:200])


def test_ivf_remove_scrubs_sq8_codes(rng: np.random.Generator) -> None:
    index, store, x, ids = ivf_index(rng, 1500)
    victims = [5, 1499]  # a hole refilled from the tail, and the tail itself
    codes = [store.sq.encode(x[v : v + 1]).tobytes() for v in victims]
    assert all(c in store.codes.tobytes() for c in codes)
    index.remove(ids[victims])
    assert not any(c in store.codes.tobytes() for c in codes)
