"""Exact FAISS storage: ``IndexIDMap2(IndexFlatIP)``, float32, ``4 * dim`` bytes per face.

Used by ``FaissIndex`` below its approximation threshold. ``remove`` zeroes the rows it
erases before FAISS compacts the array, so an erased vector's bytes do not survive in the
tail FAISS shrinks away but keeps allocated.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from facesearch.errors import VectorIndexError
from facesearch.gallery.vectors.base import Ids, Vectors

_CHUNK = 262_144


class FlatStore:
    def __init__(self, dim: int, index: Any = None) -> None:
        self.dim = dim
        self.index: Any = index if index is not None else faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        self.sorted_ids: Ids = np.sort(self._id_map())

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def _id_map(self) -> Ids:
        return np.asarray(faiss.vector_to_array(self.index.id_map), dtype=np.int64)

    def _flat(self) -> Any:
        return faiss.downcast_index(self.index.index)

    def add(self, ids: Ids, vectors: Vectors) -> None:
        for start in range(0, len(ids), _CHUNK):
            stop = start + _CHUNK
            self.index.add_with_ids(vectors[start:stop], ids[start:stop])
        order = np.sort(ids)
        self.sorted_ids = np.insert(self.sorted_ids, np.searchsorted(self.sorted_ids, order), order)

    def remove(self, ids: Ids) -> int:
        """Erase ``ids`` (all present, distinct)."""
        flat = self._flat()
        n = len(self)
        xb = faiss.rev_swig_ptr(flat.get_xb(), n * self.dim).reshape(n, self.dim)
        xb[np.isin(self._id_map(), ids)] = 0.0
        removed = int(self.index.remove_ids(ids))
        if removed != len(ids):
            raise VectorIndexError(f"FAISS removed {removed} of {len(ids)} vectors")
        self.sorted_ids = np.delete(self.sorted_ids, np.searchsorted(self.sorted_ids, ids))
        return removed

    def search(self, queries: Vectors, k: int) -> tuple[Vectors, Ids]:
        sims, ids = self.index.search(queries, k)
        return np.asarray(sims, dtype=np.float32), np.asarray(ids, dtype=np.int64)

    def vectors(self) -> Iterator[tuple[Ids, Vectors]]:
        """(ids, float32 vectors) in chunks, copies."""
        flat = self._flat()
        id_map = self._id_map()
        for start in range(0, len(self), _CHUNK):
            stop = min(start + _CHUNK, len(self))
            yield id_map[start:stop], flat.reconstruct_n(start, stop - start)

    def rows(self, rows: Ids) -> Vectors:
        """Float32 vectors at storage positions ``rows``."""
        flat = self._flat()
        n = len(self)
        xb = faiss.rev_swig_ptr(flat.get_xb(), n * self.dim).reshape(n, self.dim)
        return np.array(xb[rows], dtype=np.float32)

    def memory_bytes(self) -> int:
        return len(self) * (4 * self.dim + 8) + int(self.sorted_ids.nbytes)

    def write(self, path: Path) -> None:
        faiss.write_index(self.index, str(path))

    @classmethod
    def read(cls, dim: int, path: Path) -> FlatStore:
        index = faiss.read_index(str(path))  # already the concrete class, owning its data
        if not isinstance(index, faiss.IndexIDMap2) or int(index.d) != dim:
            raise VectorIndexError(f"{path}: not a {dim}-d IDMap2 flat index")
        return cls(dim, index)
