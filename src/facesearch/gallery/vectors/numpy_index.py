"""Brute-force search in numpy: the reference implementation and the test oracle.

Exact: every query is scored against every vector (a matrix product, in blocks to bound
memory) and the top ``k`` kept. Fine up to ~10^5 faces; past that use ``FaissIndex``.

Memory: ``4 * dim + 8`` bytes per face (float32 vectors in a growable buffer, int64 ids).
Erasure: ``remove`` compacts the buffer and zeroes the rows it vacates, and a buffer
outgrown by ``add`` is zeroed before it is released, so the bytes of an erased vector do
not linger in arrays this index owns. Files: ``ids`` and ``vectors`` as ``.npy``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facesearch.errors import VectorIndexError
from facesearch.gallery.vectors import storage
from facesearch.gallery.vectors.base import (
    Ids,
    Vectors,
    check_ids,
    check_k,
    check_new_ids,
    check_vectors,
    padded,
    sort_hits,
)

_BLOCK_FLOATS = 1 << 24  # scores held at once while searching (64 MiB)


class NumpyIndex:
    """Exact inner-product search over float32 vectors held in a numpy array."""

    kind = "numpy"

    def __init__(self, dim: int) -> None:
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise VectorIndexError(f"dim must be a positive integer, got {dim!r}")
        self._dim = dim
        self._n = 0
        self._ids: Ids = np.zeros(0, dtype=np.int64)
        self._vectors: Vectors = np.zeros((0, dim), dtype=np.float32)
        self._sorted: Ids = np.zeros(0, dtype=np.int64)

    @property
    def dim(self) -> int:
        return self._dim

    def __len__(self) -> int:
        return self._n

    def __repr__(self) -> str:
        return f"NumpyIndex(dim={self._dim}, n={self._n})"

    def ids(self) -> Ids:
        return self._sorted.copy()

    def vectors(self) -> tuple[Ids, Vectors]:
        """Copies of (ids, vectors) in storage order."""
        return self._ids[: self._n].copy(), self._vectors[: self._n].copy()

    def add(self, ids: Ids, vectors: Vectors) -> None:
        new_ids = check_new_ids(ids, self._sorted)
        vecs = check_vectors(vectors, self._dim, len(new_ids))
        m = len(new_ids)
        if m == 0:
            return
        need = self._n + m
        if need > len(self._vectors):
            cap = max(need, 2 * len(self._vectors), 1024)
            grown = np.zeros((cap, self._dim), dtype=np.float32)
            grown_ids = np.zeros(cap, dtype=np.int64)
            grown[: self._n] = self._vectors[: self._n]
            grown_ids[: self._n] = self._ids[: self._n]
            self._vectors.fill(0.0)  # scrub the outgrown buffer before it is released
            self._vectors, self._ids = grown, grown_ids
        self._vectors[self._n : need] = vecs
        self._ids[self._n : need] = new_ids
        self._n = need
        self._sorted = np.sort(self._ids[:need])

    def remove(self, ids: Ids) -> int:
        gone = check_ids(ids)
        if self._n == 0 or len(gone) == 0:
            return 0
        drop = np.isin(self._ids[: self._n], gone)
        count = int(drop.sum())
        if count == 0:
            return 0
        keep = ~drop
        n_keep = self._n - count
        self._vectors[:n_keep] = self._vectors[: self._n][keep]
        self._ids[:n_keep] = self._ids[: self._n][keep]
        self._vectors[n_keep : self._n] = 0.0
        self._ids[n_keep : self._n] = 0
        self._n = n_keep
        self._sorted = np.sort(self._ids[:n_keep])
        return count

    def search(self, queries: Vectors, k: int) -> tuple[Vectors, Ids]:
        q = check_vectors(queries, self._dim)
        k = check_k(k)
        nq = len(q)
        sims, ids = padded(nq, k)
        if nq == 0 or self._n == 0:
            return sims, ids
        keep = min(k, self._n)
        block = max(keep, _BLOCK_FLOATS // max(nq, 1))
        cand_s: list[Vectors] = []
        cand_i: list[Ids] = []
        for start in range(0, self._n, block):
            stop = min(start + block, self._n)
            s = q @ self._vectors[start:stop].T
            if stop - start > keep:
                part = np.argpartition(-s, keep - 1, axis=1)[:, :keep]
                s = np.take_along_axis(s, part, 1)
                cand_i.append(self._ids[start:stop][part])
            else:
                cand_i.append(np.broadcast_to(self._ids[start:stop], s.shape))
            cand_s.append(s)
        all_s = np.concatenate(cand_s, axis=1)
        all_i = np.concatenate(cand_i, axis=1)
        if all_s.shape[1] > keep:
            part = np.argpartition(-all_s, keep - 1, axis=1)[:, :keep]
            all_s = np.take_along_axis(all_s, part, 1)
            all_i = np.take_along_axis(all_i, part, 1)
        top_s, top_i = sort_hits(all_s.astype(np.float32), all_i.astype(np.int64))
        sims[:, :keep] = top_s
        ids[:, :keep] = top_i
        return sims, ids

    # --- files ------------------------------------------------------------------------------

    def save(self, directory: Path) -> None:
        ids, vecs = self._ids[: self._n], self._vectors[: self._n]

        def write_ids(path: Path) -> None:
            with open(path, "wb") as f:
                np.save(f, ids, allow_pickle=False)

        def write_vectors(path: Path) -> None:
            with open(path, "wb") as f:
                np.save(f, vecs, allow_pickle=False)

        manifest = storage.Manifest(kind=self.kind, dim=self._dim, count=self._n)
        writers = {"ids": ("npy", write_ids), "vectors": ("npy", write_vectors)}
        storage.save_generation(Path(directory), manifest, writers)

    @classmethod
    def load(cls, directory: Path) -> NumpyIndex:
        directory = Path(directory)
        manifest = storage.read_manifest(directory)
        if manifest.kind != cls.kind:
            raise VectorIndexError(f"{directory}: holds a {manifest.kind!r} index, not numpy")
        try:
            ids = np.load(manifest.path(directory, "ids"), allow_pickle=False)
            vecs = np.load(manifest.path(directory, "vectors"), allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise VectorIndexError(f"{directory}: cannot read the index files: {exc}") from exc
        if len(ids) != manifest.count or vecs.shape != (manifest.count, manifest.dim):
            raise VectorIndexError(f"{directory}: index files disagree with the manifest")
        index = cls(manifest.dim)
        index.add(ids, vecs)
        return index
