"""Milvus index types, and ``MilvusIndex``: one facesearch collection's vectors in Milvus.

**Index types** (setting ``milvus_index``; ``MilvusIndexChoice``): ``FLAT`` (exact),
``IVF_FLAT``, ``IVF_SQ8``, ``IVF_PQ``, ``HNSW``, and where the server has them ``HNSW_SQ``,
``IVF_RABITQ``, ``DISKANN``; ``auto`` picks by the number of vectors the model's Milvus
collection holds (``choose``; thresholds measured by ``benchmarks/scale.py``, see
docs/scale.md). What each server builds (``supported_types``):

- Milvus 2.3-2.4: FLAT, IVF_FLAT, IVF_SQ8, IVF_PQ, HNSW, DISKANN; 2.5 adds HNSW_SQ; 2.6 adds
  IVF_RABITQ.
- Milvus Lite 3.2 (checked on 3.2.2): FLAT, IVF_FLAT, IVF_SQ8, HNSW, HNSW_SQ. It accepts the
  other names too, then silently leaves the segments unindexed (brute force), so they are
  refused here.

A type the server lacks is a ConfigError, never a silent fallback. Parameters: ``nlist``
(0: the power of two nearest 4 sqrt(n), at most n / 40) and ``nprobe`` (0: nlist / 4) for the
IVF types; ``m`` (graph degree) and ``ef`` (0: 512) for the HNSW types (``ef`` is DISKANN's
``search_list`` too); IVF_PQ codes a face in dim / 4 bytes (8-bit codes of 4-wide pieces).

**MilvusIndex**: a view on the model's ``MilvusStore`` restricted to one partition-key value
(the facesearch collection id). Nothing lives in memory: every call goes to Milvus at Strong
consistency, so ``save`` only flushes, and ``remove`` is the store's erasure (delete, flush,
compact, proof).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from facesearch.errors import ConfigError, VectorIndexError
from facesearch.gallery.vectors.base import Ids, Vectors, check_ids, check_new_ids, check_vectors
from facesearch.settings.groups import MILVUS_INDEX_TYPES, IndexSettings

if TYPE_CHECKING:
    from facesearch.gallery.vectors.milvus_store import MilvusStore

# ``auto``: FLAT below AUTO_FLAT_BELOW vectors, IVF_SQ8 from there. Measured at 10^6 synthetic
# SFace faces (benchmarks/results/scale.json, docs/scale.md): FLAT ~300 ms a query on 2 cores;
# IVF_SQ8 (nprobe nlist/4) 0.985 of the rank-1 mates in a third of the memory of HNSW, which
# (M 16) found only 0.87 even at ef 512.
AUTO_FLAT_BELOW = 200_000
DEFAULT_M = 16
# Search defaults: at 10^5 synthetic SFace faces nlist / 16 and ef 128 found 0.90 and 0.95 of
# the mates exact search ranks first; nlist / 4 and ef 512 found 0.98-0.99 for ~1 ms more
# (at 10^6: IVF 0.94 -> 0.985-0.993, HNSW 0.68 -> 0.87).
PROBE_SHARE = 4  # nprobe = nlist / PROBE_SHARE
DEFAULT_EF = 512
EF_CONSTRUCTION = 256  # fixed: a change of ef (a search parameter) must not rebuild
IVF_TYPES = frozenset({"IVF_FLAT", "IVF_SQ8", "IVF_PQ", "IVF_RABITQ"})
GRAPH_TYPES = frozenset({"HNSW", "HNSW_SQ"})
LITE_TYPES = frozenset({"FLAT", "IVF_FLAT", "IVF_SQ8", "HNSW", "HNSW_SQ"})
SERVER_TYPES = (  # (from version, the types it adds)
    ((2, 0), frozenset({"FLAT", "IVF_FLAT", "IVF_SQ8", "IVF_PQ", "HNSW", "DISKANN"})),
    ((2, 5), frozenset({"HNSW_SQ"})),
    ((2, 6), frozenset({"IVF_RABITQ"})),
)


@dataclass(frozen=True)
class MilvusIndexChoice:
    """An index type and its parameters; 0 (and type ``auto``) mean "chosen by size"."""

    type: str = "auto"
    nlist: int = 0
    nprobe: int = 0
    m: int = DEFAULT_M
    ef: int = 0

    def __post_init__(self) -> None:
        if self.type not in MILVUS_INDEX_TYPES:
            raise ConfigError(
                f"milvus_index must be one of {', '.join(MILVUS_INDEX_TYPES)}, not {self.type!r}"
            )
        for name in ("nlist", "nprobe", "ef"):
            if getattr(self, name) < 0:
                raise ConfigError(f"milvus_{name} must not be negative (0: by size)")
        if not 2 <= self.m <= 2048:
            raise ConfigError(f"milvus_hnsw_m must be between 2 and 2048, not {self.m}")
        if self.nlist > 65_536 or (self.nlist and self.nprobe > self.nlist):
            raise ConfigError("milvus_nlist must be at most 65536 and milvus_nprobe <= it")

    @classmethod
    def from_settings(cls, index: IndexSettings) -> MilvusIndexChoice:
        return cls(
            index.milvus_index,
            index.milvus_nlist,
            index.milvus_nprobe,
            index.milvus_hnsw_m,
            index.milvus_ef,
        )

    def build_params(self, dim: int) -> dict[str, Any]:
        """Milvus's ``create_index`` parameters of this (resolved) choice."""
        if self.type in IVF_TYPES:
            params: dict[str, Any] = {"nlist": self.nlist}
            if self.type == "IVF_PQ":
                params |= {"m": pq_pieces(dim), "nbits": 8}
            return params
        if self.type in GRAPH_TYPES:
            params = {"M": self.m, "efConstruction": EF_CONSTRUCTION}
            return params | ({"sq_type": "SQ8"} if self.type == "HNSW_SQ" else {})
        return {}

    def search_params(self, k: int) -> dict[str, Any]:
        """Milvus's ``search`` parameters for a top ``k``."""
        if self.type in IVF_TYPES:
            return {"nprobe": self.nprobe}
        if self.type in GRAPH_TYPES:
            return {"ef": max(self.ef, k)}
        if self.type == "DISKANN":
            return {"search_list": max(self.ef, k)}
        return {}

    def __str__(self) -> str:
        shown = {**self.build_params(128), **self.search_params(10)}
        shown.pop("m", None)  # IVF_PQ's pieces follow from the width
        return self.type + "".join(f" {k}={v}" for k, v in shown.items() if k != "sq_type")


def pq_pieces(dim: int) -> int:
    """IVF_PQ sub-quantizers: one per 4 dimensions (a divisor of ``dim``)."""
    m = max(1, dim // 4)
    while dim % m:
        m -= 1
    return m


def auto_nlist(n: int) -> int:
    """The power of two nearest 4 sqrt(n) (Milvus's advice), at most 65 536 and n / 40 (40
    training points per list), at least 1."""
    nlist = min(65_536, 1 << round(math.log2(4.0 * math.sqrt(max(n, 1)))))
    while nlist > 1 and nlist * 40 > n:
        nlist //= 2
    return nlist


def supported_types(version: str, lite: bool) -> frozenset[str]:
    """The index types a Milvus of ``version`` (``get_server_version``) builds."""
    if lite:
        return LITE_TYPES
    found = re.match(r"v?(\d+)\.(\d+)", version)
    have = (int(found[1]), int(found[2])) if found else (2, 0)
    return frozenset().union(*(types for since, types in SERVER_TYPES if have >= since))


def keep_lists(
    wanted: MilvusIndexChoice, want: MilvusIndexChoice, held: MilvusIndexChoice
) -> MilvusIndexChoice:
    """``want`` (``choose``'s answer to ``wanted``) with the ``nlist`` of the index ``held``
    kept when ``nlist`` is chosen by size, the type stays and the two are within 4x: a
    growing collection is not rebuilt at each power of two (IVF lists are per segment, whose
    size is capped, so the size's ``nlist`` settles)."""
    close = held.nlist * 4 >= want.nlist >= held.nlist // 4
    if held.type != want.type or want.type not in IVF_TYPES or wanted.nlist or not close:
        return want
    nprobe = min(wanted.nprobe or max(1, held.nlist // PROBE_SHARE), held.nlist)
    return replace(want, nlist=held.nlist, nprobe=nprobe)


def choose(wanted: MilvusIndexChoice, faces: int, supported: frozenset[str]) -> MilvusIndexChoice:
    """The index for a collection of ``faces`` vectors: ``wanted`` with ``auto`` and the zero
    parameters resolved; a type the server lacks is a ConfigError."""
    kind = wanted.type
    if kind == "auto":
        kind = "FLAT" if faces < AUTO_FLAT_BELOW else "IVF_SQ8"
    elif kind not in supported:
        raise ConfigError(
            f"this Milvus cannot build a {kind} index; it builds {', '.join(sorted(supported))}"
        )
    nlist = wanted.nlist or auto_nlist(faces)
    if kind in IVF_TYPES:
        nprobe = min(wanted.nprobe or max(1, nlist // PROBE_SHARE), nlist)
        return replace(wanted, type=kind, nlist=nlist, nprobe=nprobe)
    if kind in GRAPH_TYPES or kind == "DISKANN":
        return replace(wanted, type=kind, nlist=0, nprobe=0, ef=wanted.ef or DEFAULT_EF)
    return MilvusIndexChoice("FLAT", m=wanted.m)


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
