"""``MilvusIndex``: one facesearch collection's vectors in Milvus, as a ``VectorIndex``.

A view on the model's ``MilvusStore`` restricted to one partition-key value (the facesearch
collection id). Nothing lives in memory: every call goes to Milvus at Strong consistency, so
``save`` only flushes, and ``remove`` is the store's erasure (delete, flush, compact, proof).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facesearch.errors import VectorIndexError
from facesearch.gallery.vectors.base import Ids, Vectors, check_ids, check_new_ids, check_vectors
from facesearch.gallery.vectors.milvus_store import MilvusStore


class MilvusIndex:
    kind = "milvus"

    def __init__(self, store: MilvusStore, collection: int) -> None:
        self.store, self.collection = store, int(collection)

    @property
    def dim(self) -> int:
        return self.store.dim

    def __len__(self) -> int:
        return self.store.count([self.collection])

    def ids(self) -> Ids:
        return self.store.ids([self.collection])

    def add(self, ids: Ids, vectors: Vectors) -> None:
        arr = check_new_ids(ids, self.store.held(check_ids(ids)))  # held anywhere: ids are global
        vecs = check_vectors(vectors, self.dim, len(arr))
        self.store.put(self.collection, arr, vecs)

    def add_missing(self, ids: Ids, vectors: Vectors) -> int:
        """Add those of ``ids`` not held yet (another writer may have added the rest: the
        vectors are shared); returns how many were added."""
        arr = check_new_ids(ids, np.empty(0, np.int64))  # repeats within the call refused
        vecs = check_vectors(vectors, self.dim, len(arr))
        keep = ~np.isin(arr, self.store.held(arr))
        if keep.any():
            self.store.put(self.collection, arr[keep], vecs[keep])
        return int(keep.sum())

    def remove(self, ids: Ids) -> int:
        return self.store.erase(check_ids(ids), [self.collection]).faces

    def search(self, queries: Vectors, k: int) -> tuple[Vectors, Ids]:
        return self.store.search(queries, k, [self.collection])

    def save(self, directory: Path) -> None:
        """Nothing to write in ``directory``: the server holds the vectors; flush them."""
        try:
            self.store.client.flush(self.store.name)
        except Exception as exc:
            raise VectorIndexError(f"Milvus flush failed: {exc}") from exc
