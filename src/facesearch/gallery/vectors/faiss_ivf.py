"""Approximate FAISS storage: IVF + 4-bit PQ fast-scan candidates, re-scored from SQ8 codes.

Two copies of every vector, both compressed:

- ``coarse``: ``IndexIVFPQFastScan`` (spherical k-means into ``nlist`` lists; PQ with one
  4-bit sub-quantiser per two dimensions, ``dim / 4`` bytes: 32 B at 128-d). It is scanned
  with SIMD over the ``nprobe`` nearest lists and returns ``k * rerank`` candidate rows.
  Its ids are row numbers of:
- ``codes``: SQ8 codes (``dim`` bytes: 128 B at 128-d) in a dense numpy array, row ``r``
  belonging to face id ``row_ids[r]``. Candidates are re-scored from these (score error
  ~1e-3) and the best ``k`` returned.

Per 128-d face: 32 (PQ) + 8 (row in the list) + 128 (SQ8) + 8 (row -> id) + 16 (sorted id
-> row lookup) = 192 bytes, plus the centroids.

Erasure: ``remove`` zeroes the PQ code (FAISS's ``remove_ids`` moves the last entry of a
list into the hole but leaves the last slot's bytes in the block it writes to disk) and the
SQ8 row, then keeps rows dense by moving the last rows into the holes (renumbering those
rows in the lists), so neither memory nor files keep an erased face.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import faiss
import numpy as np
import numpy.typing as npt

from facesearch.errors import VectorIndexError
from facesearch.gallery.vectors.base import PAD_ID, PAD_SIMILARITY, Ids, Vectors
from facesearch.gallery.vectors.sq8 import SQ8, Codes

KMEANS_ITERATIONS = 10
_CHUNK = 262_144
_RERANK_BYTES = 1 << 25  # candidate codes gathered at once while re-scoring


def pq_subquantizers(dim: int) -> int:
    """One 4-bit sub-quantiser per two dimensions (per dimension when ``dim`` is odd)."""
    return dim // 2 if dim % 2 == 0 else dim


class IvfStore:
    def __init__(self, dim: int, coarse: Any, sq: SQ8) -> None:
        self.dim = dim
        self.coarse: Any = coarse
        self.sq = sq
        self.n = 0
        self.codes: Codes = np.zeros((0, dim), dtype=np.uint8)
        self.row_ids: Ids = np.zeros(0, dtype=np.int64)
        self.sorted_ids: Ids = np.zeros(0, dtype=np.int64)
        self.sorted_rows: Ids = np.zeros(0, dtype=np.int64)

    @classmethod
    def train(cls, dim: int, sample: Vectors, nlist: int, seed: int, sq: SQ8 | None) -> IvfStore:
        """An empty store whose k-means, PQ (and SQ8 unless given) are trained on ``sample``."""
        quantizer = faiss.IndexFlatIP(dim)
        coarse = faiss.IndexIVFPQFastScan(
            quantizer, dim, nlist, pq_subquantizers(dim), 4, faiss.METRIC_INNER_PRODUCT, 32
        )
        coarse.by_residual = False
        coarse.cp.spherical = True
        coarse.cp.niter = KMEANS_ITERATIONS
        coarse.cp.seed = seed
        coarse.cp.max_points_per_centroid = 1 << 30  # the caller samples
        coarse.train(sample)
        return cls(dim, coarse, sq if sq is not None else SQ8.train(sample))

    def __len__(self) -> int:
        return self.n

    @property
    def nlist(self) -> int:
        return int(self.coarse.nlist)

    # --- adding ------------------------------------------------------------------------------

    def _reserve(self, need: int) -> None:
        if need <= len(self.codes):
            return
        cap = max(need, len(self.codes) + len(self.codes) // 2, 1024)
        codes = np.zeros((cap, self.dim), dtype=np.uint8)
        row_ids = np.full(cap, PAD_ID, dtype=np.int64)
        codes[: self.n] = self.codes[: self.n]
        row_ids[: self.n] = self.row_ids[: self.n]
        self.codes.fill(0)  # scrub the outgrown buffer before it is released
        self.codes, self.row_ids = codes, row_ids

    def add(self, ids: Ids, vectors: Vectors, codes: Codes | None = None) -> None:
        """Add faces. ``codes``: their SQ8 codes when already known (a rebuild keeps them
        bit for bit); otherwise ``vectors`` are encoded."""
        m = len(ids)
        self._reserve(self.n + m)
        rows = np.arange(self.n, self.n + m, dtype=np.int64)
        for start in range(0, m, _CHUNK):
            stop = min(start + _CHUNK, m)
            part = vectors[start:stop]
            block = codes[start:stop] if codes is not None else self.sq.encode(part)
            self.codes[self.n + start : self.n + stop] = block
            self.coarse.add_with_ids(part, rows[start:stop])
        self.row_ids[self.n : self.n + m] = ids
        self.n += m
        order = np.argsort(ids, kind="stable")
        at = np.searchsorted(self.sorted_ids, ids[order])
        self.sorted_ids = np.insert(self.sorted_ids, at, ids[order])
        self.sorted_rows = np.insert(self.sorted_rows, at, rows[order])

    # --- removing ------------------------------------------------------------------------------

    def _lists(self) -> Iterator[tuple[int, npt.NDArray[np.int64]]]:
        """(list number, writable view of its ids) for every non-empty list."""
        invlists = faiss.downcast_InvertedLists(self.coarse.invlists)
        for list_no in range(self.nlist):
            size = int(invlists.list_size(list_no))
            if size:
                yield list_no, faiss.rev_swig_ptr(invlists.get_ids(list_no), size)

    def remove(self, ids: Ids) -> int:
        """Erase ``ids`` (all present, distinct)."""
        pos = np.searchsorted(self.sorted_ids, ids)
        gone = np.sort(self.sorted_rows[pos])
        invlists: Any = faiss.downcast_InvertedLists(self.coarse.invlists)
        zero = np.zeros(int(self.coarse.code_size), dtype=np.uint8)
        for list_no, list_ids in self._lists():
            hits = np.flatnonzero(np.isin(list_ids, gone))
            if len(hits):
                n_blocks = -(-len(list_ids) // int(invlists.n_per_block))
                blocks = faiss.rev_swig_ptr(
                    invlists.get_codes(list_no), n_blocks * int(invlists.block_size)
                ).reshape(n_blocks, int(invlists.block_size))
                for offset in hits:
                    invlists.packer.pack_1(zero, int(offset), blocks)
        removed = int(self.coarse.remove_ids(faiss.IDSelectorBatch(gone)))
        if removed != len(gone):
            raise VectorIndexError(f"FAISS removed {removed} of {len(gone)} vectors")
        # Keep rows dense: the live rows past the new end move into the holes below it.
        n_new = self.n - len(gone)
        holes = gone[gone < n_new]
        tail = np.arange(n_new, self.n, dtype=np.int64)
        movers = tail[~np.isin(tail, gone)]
        self.codes[holes] = self.codes[movers]
        self.row_ids[holes] = self.row_ids[movers]
        self.codes[n_new : self.n] = 0
        self.row_ids[n_new : self.n] = PAD_ID
        if len(movers):
            renumber = np.full(self.n - n_new, PAD_ID, dtype=np.int64)
            renumber[movers - n_new] = holes
            for _, list_ids in self._lists():
                moved = list_ids >= n_new
                if moved.any():
                    list_ids[moved] = renumber[list_ids[moved] - n_new]
        self.n = n_new
        self.sorted_ids = np.delete(self.sorted_ids, pos)
        self.sorted_rows = np.delete(self.sorted_rows, pos)
        self.sorted_rows[np.searchsorted(self.sorted_ids, self.row_ids[holes])] = holes
        return removed

    # --- searching ------------------------------------------------------------------------------

    def search(self, queries: Vectors, k: int, nprobe: int, rerank: int) -> tuple[Vectors, Ids]:
        nq = len(queries)
        n_cand = min(self.n, max(k, k * rerank))
        params = faiss.SearchParametersIVF()
        params.nprobe = nprobe
        _, rows = self.coarse.search(queries, n_cand, params=params)
        rows = np.asarray(rows, dtype=np.int64)
        valid = rows >= 0
        safe = np.where(valid, rows, 0)
        scores = np.empty((nq, n_cand), dtype=np.float32)
        per = max(1, _RERANK_BYTES // max(1, n_cand * self.dim))
        for start in range(0, nq, per):
            stop = min(start + per, nq)
            cand = self.codes[safe[start:stop].ravel()].reshape(stop - start, n_cand, self.dim)
            scores[start:stop] = self.sq.scores(queries[start:stop], cand)
        scores[~valid] = PAD_SIMILARITY
        keep = min(k, n_cand)
        if n_cand > keep:
            top = np.argpartition(-scores, keep - 1, axis=1)[:, :keep]
            scores = np.take_along_axis(scores, top, 1)
            safe = np.take_along_axis(safe, top, 1)
        ids = np.where(np.isneginf(scores), PAD_ID, self.row_ids[safe])
        return scores, ids

    # --- reading back ------------------------------------------------------------------------

    def encoded(self) -> Iterator[tuple[Ids, Codes]]:
        """(ids, SQ8 codes) in row order, in chunks (copies)."""
        for start in range(0, self.n, _CHUNK):
            stop = min(start + _CHUNK, self.n)
            yield self.row_ids[start:stop].copy(), self.codes[start:stop].copy()

    def rows(self, rows: Ids) -> Vectors:
        """Decoded vectors at ``rows``."""
        return self.sq.decode(self.codes[rows])

    def memory_bytes(self) -> int:
        per_face = int(self.coarse.code_size) + 8 + self.dim + 8 + 16
        return self.n * per_face + self.nlist * self.dim * 4

    # --- files ------------------------------------------------------------------------------

    def writers(self) -> dict[str, tuple[str, Any]]:
        n = self.n

        def npy(arr: npt.NDArray[Any]) -> Any:
            def write(path: Path) -> None:
                with open(path, "wb") as f:
                    np.save(f, arr, allow_pickle=False)

            return write

        def coarse(path: Path) -> None:
            faiss.write_index(self.coarse, str(path))

        return {
            "coarse": ("faiss", coarse),
            "codes": ("npy", npy(self.codes[:n])),
            "rows": ("npy", npy(self.row_ids[:n])),
            "sq": ("npy", npy(self.sq.to_array())),
        }

    @classmethod
    def read(cls, dim: int, paths: dict[str, Path]) -> IvfStore:
        coarse = faiss.read_index(str(paths["coarse"]))
        if not isinstance(coarse, faiss.IndexIVFPQFastScan) or int(coarse.d) != dim:
            raise VectorIndexError(f"{paths['coarse']}: not a {dim}-d IVF-PQ fast-scan index")
        sq = SQ8.from_array(np.load(paths["sq"], allow_pickle=False))
        codes = np.load(paths["codes"], allow_pickle=False)
        row_ids = np.load(paths["rows"], allow_pickle=False)
        n = len(row_ids)
        if codes.shape != (n, dim) or codes.dtype != np.uint8 or int(coarse.ntotal) != n:
            raise VectorIndexError(f"{paths['codes']}: index files disagree with each other")
        store = cls(dim, coarse, sq)
        store.codes, store.row_ids, store.n = codes, row_ids.astype(np.int64), n
        order = np.argsort(store.row_ids, kind="stable")
        store.sorted_ids, store.sorted_rows = store.row_ids[order], order.astype(np.int64)
        return store
