"""The ``VectorIndex`` protocol and the argument checks every backend shares.

Conventions (written once, here):

- Vectors are float32 rows of unit L2 norm, ``dim`` wide; similarity is their inner product
  (cosine), in [-1, 1]. The index does not normalise: the embedder does.
- Ids are int64 face ids chosen by the caller (the catalog), unique within an index, >= 0.
- ``search`` returns ``(similarities, ids)``, both ``(n_queries, k)``, best first. Rows with
  fewer than ``k`` hits are padded with id ``PAD_ID`` (-1) and similarity ``PAD_SIMILARITY``
  (-inf, which sorts below every real score); callers drop ``ids == -1``. Ties between equal
  similarities are broken by ascending id in the exact backends.
- ``remove`` erases: the vector leaves the in-memory structure (it is not a tombstone), and
  the next ``save`` writes files without it and deletes the files of earlier saves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from facesearch.errors import VectorIndexError

PAD_ID = -1
PAD_SIMILARITY = float("-inf")

Ids = npt.NDArray[np.int64]
Vectors = npt.NDArray[np.float32]


@runtime_checkable
class VectorIndex(Protocol):
    """A set of (id, unit vector) pairs searchable by inner product."""

    @property
    def dim(self) -> int:
        """Width of the vectors."""
        ...

    def __len__(self) -> int:
        """Number of vectors held."""
        ...

    def ids(self) -> Ids:
        """Every id held, ascending."""
        ...

    def add(self, ids: Ids, vectors: Vectors) -> None:
        """Add ``vectors`` (n, dim) under ``ids`` (n,). An id already held, or repeated in
        ``ids``, raises VectorIndexError and adds nothing."""
        ...

    def remove(self, ids: Ids) -> int:
        """Erase the vectors of ``ids``; ids not held are ignored. Returns how many went."""
        ...

    def search(self, queries: Vectors, k: int) -> tuple[Vectors, Ids]:
        """The ``k`` most similar vectors to each query: (similarities, ids), (n, k) each."""
        ...

    def save(self, directory: Path) -> None:
        """Write the index to ``directory`` atomically (see ``storage``)."""
        ...


# --- argument checks -------------------------------------------------------------------------


def check_ids(ids: object) -> Ids:
    """``ids`` as a 1-D int64 array of distinct non-negative values, or VectorIndexError."""
    arr = np.asarray(ids)
    if arr.ndim != 1:
        raise VectorIndexError(f"ids must be a 1-D array, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise VectorIndexError(f"ids must be integers, got {arr.dtype}")
    out = arr.astype(np.int64, copy=False)
    if out.size and int(out.min()) < 0:
        raise VectorIndexError("ids must not be negative (-1 marks padding in results)")
    return out


def check_new_ids(ids: object, held: Ids) -> Ids:
    """``check_ids`` plus: no repeats within ``ids``, none already in ``held`` (sorted)."""
    out = check_ids(ids)
    if len(np.unique(out)) != len(out):
        raise VectorIndexError("duplicate ids in one add() call")
    if len(held) and len(out):
        pos = np.minimum(np.searchsorted(held, out), len(held) - 1)
        dup = out[held[pos] == out]
        if len(dup):
            raise VectorIndexError(f"ids already in the index: {dup[:5].tolist()}")
    return out


def check_vectors(vectors: object, dim: int, n: int | None = None) -> Vectors:
    """``vectors`` as a C-contiguous float32 (n, dim) array of finite values."""
    arr = np.asarray(vectors)
    if arr.ndim != 2 or arr.shape[1] != dim:
        raise VectorIndexError(f"vectors must have shape (n, {dim}), got {arr.shape}")
    if n is not None and arr.shape[0] != n:
        raise VectorIndexError(f"{n} ids but {arr.shape[0]} vectors")
    if not np.issubdtype(arr.dtype, np.floating):
        raise VectorIndexError(f"vectors must be floating point, got {arr.dtype}")
    out = np.ascontiguousarray(arr, dtype=np.float32)
    for start in range(0, len(out), 65536):  # in slices: no n x dim temporary
        if not np.isfinite(out[start : start + 65536]).all():
            raise VectorIndexError("vectors contain NaN or infinity")
    return out


def check_k(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise VectorIndexError(f"k must be a positive integer, got {k!r}")
    return int(k)


def padded(n: int, k: int) -> tuple[Vectors, Ids]:
    """An all-padding result of shape (n, k)."""
    return (
        np.full((n, k), PAD_SIMILARITY, dtype=np.float32),
        np.full((n, k), PAD_ID, dtype=np.int64),
    )


def sort_hits(sims: Vectors, ids: Ids) -> tuple[Vectors, Ids]:
    """Sort each row by similarity descending, then id ascending; padding (-1) last."""
    key_id = np.where(ids == PAD_ID, np.iinfo(np.int64).max, ids)
    order = np.lexsort((key_id, -sims.astype(np.float64)), axis=1)
    return np.take_along_axis(sims, order, 1), np.take_along_axis(ids, order, 1)
