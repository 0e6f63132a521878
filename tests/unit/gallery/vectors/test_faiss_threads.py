"""A small exact search runs on the calling thread alone, and leaves OpenMP's setting as it was."""

from __future__ import annotations

import faiss
import numpy as np
import pytest

from facesearch.gallery.vectors import faiss_index
from facesearch.gallery.vectors.faiss_index import FaissIndex


def unit(n: int, dim: int = 16, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def threads_seen(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """OpenMP's thread count at each FlatStore.search, from now on."""
    seen: list[int] = []
    real_search = faiss_index.FlatStore.search

    def spy(self, queries, k):  # type: ignore[no-untyped-def]
        seen.append(faiss.omp_get_max_threads())
        return real_search(self, queries, k)

    monkeypatch.setattr(faiss_index.FlatStore, "search", spy)
    return seen


def test_a_small_flat_search_runs_on_one_thread_and_puts_the_setting_back(monkeypatch) -> None:
    index = FaissIndex(16)
    vectors = unit(50)
    index.add(np.arange(50, dtype=np.int64), vectors)
    before = faiss.omp_get_max_threads()
    seen = threads_seen(monkeypatch)
    sims, ids = index.search(vectors[:2], 3)
    assert seen == [1]
    assert faiss.omp_get_max_threads() == before
    assert ids[:, 0].tolist() == [0, 1]
    assert np.allclose(sims[:, 0], 1.0, atol=1e-5)


def test_a_large_flat_search_keeps_the_thread_setting(monkeypatch) -> None:
    monkeypatch.setattr(faiss_index, "SMALL_FLAT_SEARCH", 10)
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(2)
    try:
        index = FaissIndex(16)
        index.add(np.arange(50, dtype=np.int64), unit(50))
        seen = threads_seen(monkeypatch)
        index.search(unit(1, seed=1), 3)
        assert seen == [2]
    finally:
        faiss.omp_set_num_threads(before)
