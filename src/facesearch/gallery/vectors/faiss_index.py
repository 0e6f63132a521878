"""FAISS index: exact while the gallery is small, IVF-PQ fast-scan + SQ8 re-ranking past a size.

Two modes, one class:

``flat``  ``IndexIDMap2(IndexFlatIP)`` (``faiss_flat``): exact, float32, 4 * dim bytes per
          face. Used while ``len(index) < approx_threshold`` (default 200 000; one exact
          128-d query costs ~6 ms at 10^5 faces and ~55 ms at 10^6 on two cores).
``ivf``   ``faiss_ivf``: an IVF index with 4-bit PQ fast-scan codes proposes ``k * rerank``
          candidates from the ``nprobe`` nearest of ``nlist`` lists; they are re-scored from
          8-bit scalar-quantised copies (score error ~1e-3) and the best ``k`` returned.
          ``nlist`` = the power of two nearest 2 * sqrt(n); ``nprobe`` = ``probe_fraction``
          of the lists (default 1/2); ``rerank`` = 20. 192 bytes per 128-d face in RAM.

The switch happens inside ``add`` once the threshold is reached, building from the stored
float32 vectors plus the batch being added (a bulk load never holds them all as float32).
The float32 vectors are then dropped (512 B per 128-d face would break the memory budget):
the index does not switch back when faces are removed; rebuild it from the catalog for an
exact one. When the gallery grows ``retrain_growth`` times (default 8) past the size it was
trained at, ``add`` retrains the lists and PQ from the decoded SQ8 codes, which are kept bit
for bit (no quantisation error accumulates); the add that triggers it takes as long as a
rebuild (minutes at 10^7).

Why this design (``benchmarks/search.py``, synthetic galleries fitted to real SFace/LFW
embeddings, two cores; mate recall = share of the mates an exact search ranks in the top 10
above the FMR 1e-3 threshold that the index also returns):

- Face embeddings are nearly isotropic (the between-person covariance spreads over ~100 of
  128 dimensions), so a mate at similarity 0.4-0.6 often lies in another IVF cell than its
  probe: mate recall 0.99 takes probing 3/8 to 1/2 of the lists (1/8: 0.94). HNSW fares
  worse: HNSW32 with efSearch 512 reaches 0.89 at 10^6 faces (3.5 ms).
- Probing half the lists is a scan of half the gallery. With 8-bit codes (IVF-SQ8) that is
  4 ms per query and 240 ms per batch of 64 at 10^6; SIMD 4-bit PQ codes (fast scan),
  re-ranked from 8-bit codes, give 2.8 ms and 38 ms, and 12.6 ms per query at 10^7, with
  mate recall 0.996 (10^6) and 0.994 (10^7). Building 10^7: 3 minutes.
- Erasure. IVF removes natively. ``faiss_ivf`` also zeroes the erased PQ code (FAISS leaves
  a removed last entry's bytes in the block it writes to disk) and the SQ8 row, and keeps
  rows dense. FAISS's HNSW cannot remove at all: tombstones would keep erased faces in
  memory and force a full rebuild (HNSW32 took 170 s per 10^6 faces) before every save.
- Memory: 192 B per 128-d face vs 784 B for HNSW32 on float32, 137 B for IVF-SQ8.

Faster, slightly less exhaustive: ``probe_fraction=0.375, rerank=50`` (10^7: 10.2 ms, 0.993).

Threads: ``threads > 0`` calls ``faiss.omp_set_num_threads`` (process-wide in FAISS) before
every operation; 0 leaves FAISS's default (all cores). A single query is spread over the
threads by inverted list (``parallel_mode = 1``), batches by query.

A small exact search (queries x faces up to ``SMALL_FLAT_SEARCH``) runs on the calling
thread alone: OpenMP's thread team costs more than it saves there, and its waiting threads spin
on the cores that concurrent searches need (one query against 245 faces: 7 us on one thread,
176 us on two; against 20,000: 1.3 ms against 7.8 ms with other work on the cores).

Concurrency: ``search`` may run from several threads at once; ``add``, ``remove``, ``save``
and ``rebuild`` must not overlap with anything (the caller holds a lock).

Files: flat mode ``index`` (``faiss.write_index``); ivf mode ``coarse`` (FAISS), ``codes``
(SQ8, .npy), ``rows`` (row -> face id, .npy), ``sq`` (quantiser ranges, .npy).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from facesearch.errors import ConfigError, VectorIndexError
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
from facesearch.gallery.vectors.faiss_flat import FlatStore
from facesearch.gallery.vectors.faiss_ivf import IvfStore

log = logging.getLogger(__name__)

MIN_APPROX = 1_000  # never approximate below this many vectors
TRAIN_PER_LIST = 40  # k-means training points per list (FAISS wants >= 39)
SMALL_FLAT_SEARCH = 1 << 20  # queries x faces of an exact search run on one thread
_IVF_FILES = ("coarse", "codes", "rows", "sq")
# the constructor parameters a saved index records and is loaded with (threads aside)
PARAMS = (
    "approx_threshold",
    "nlist",
    "nprobe",
    "probe_fraction",
    "rerank",
    "retrain_growth",
    "seed",
)


def auto_nlist(n: int) -> int:
    """Power of two nearest ``2 * sqrt(n)``, at most ``n / TRAIN_PER_LIST``."""
    target = 2.0 * math.sqrt(max(n, 1))
    nlist = 1 << max(0, round(math.log2(target)))
    while nlist > 1 and nlist * TRAIN_PER_LIST > n:
        nlist //= 2
    return max(1, nlist)


class FaissIndex:
    """Inner-product search with FAISS, exact up to ``approx_threshold`` vectors."""

    kind = "faiss"

    def __init__(
        self,
        dim: int,
        *,
        approx_threshold: int | None = 200_000,
        nlist: int | None = None,
        nprobe: int | None = None,
        probe_fraction: float = 0.5,
        rerank: int = 20,
        retrain_growth: float | None = 8.0,
        threads: int = 0,
        seed: int = 1234,
    ) -> None:
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
            raise VectorIndexError(f"dim must be a positive integer, got {dim!r}")
        if approx_threshold is not None and approx_threshold < MIN_APPROX:
            raise ConfigError(f"approx_threshold must be >= {MIN_APPROX} or None")
        if nlist is not None and nlist < 1:
            raise ConfigError("nlist must be positive")
        if nprobe is not None and nprobe < 1:
            raise ConfigError("nprobe must be positive")
        if not 0.0 < probe_fraction <= 1.0:
            raise ConfigError("probe_fraction must be in (0, 1]")
        if rerank < 1:
            raise ConfigError("rerank must be >= 1")
        if retrain_growth is not None and retrain_growth <= 1.0:
            raise ConfigError("retrain_growth must be > 1 or None")
        if threads < 0:
            raise ConfigError("threads must not be negative")
        self._dim = dim
        self.approx_threshold = approx_threshold
        self.nlist = nlist
        self.nprobe = nprobe
        self.probe_fraction = probe_fraction
        self.rerank = rerank
        self.retrain_growth = retrain_growth
        self.threads = threads
        self.seed = seed
        self._trained_n = 0
        self._set_threads()
        self._store: FlatStore | IvfStore = FlatStore(dim)

    # --- introspection ----------------------------------------------------------------------

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def mode(self) -> str:
        """``"flat"`` (exact) or ``"ivf"`` (approximate)."""
        return "ivf" if isinstance(self._store, IvfStore) else "flat"

    def __len__(self) -> int:
        return len(self._store)

    def __repr__(self) -> str:
        return f"FaissIndex(dim={self._dim}, n={len(self)}, mode={self.mode!r})"

    def ids(self) -> Ids:
        return self._store.sorted_ids.copy()

    @property
    def lists(self) -> int:
        """Number of IVF lists (0 in flat mode)."""
        return self._store.nlist if isinstance(self._store, IvfStore) else 0

    def effective_nprobe(self) -> int:
        nlist = self.lists
        if nlist == 0:
            return 0
        if self.nprobe is not None:
            return min(self.nprobe, nlist)
        return max(1, min(nlist, math.ceil(nlist * self.probe_fraction)))

    def memory_bytes(self) -> int:
        """Bytes of RAM held by vectors, codes, ids and centroids (not FAISS's fixed
        overhead, nor the id hash map of flat mode)."""
        return self._store.memory_bytes()

    # --- mutation ---------------------------------------------------------------------------

    def add(self, ids: Ids, vectors: Vectors) -> None:
        new_ids = check_new_ids(ids, self._store.sorted_ids)
        vecs = check_vectors(vectors, self._dim, len(new_ids))
        if len(new_ids) == 0:
            return
        self._set_threads()
        if self._needs_rebuild(len(self) + len(new_ids)):
            self._rebuild(new_ids, vecs)  # the new vectors go straight into the new index
        else:
            self._store.add(new_ids, vecs)

    def remove(self, ids: Ids) -> int:
        gone = np.unique(check_ids(ids))
        held = self._store.sorted_ids
        if len(gone) == 0 or len(held) == 0:
            return 0
        pos = np.minimum(np.searchsorted(held, gone), len(held) - 1)
        present = gone[held[pos] == gone]
        if len(present) == 0:
            return 0
        self._set_threads()
        return self._store.remove(present)

    def _needs_rebuild(self, total: int) -> bool:
        if self.mode == "flat":
            return self.approx_threshold is not None and total >= max(
                self.approx_threshold, MIN_APPROX
            )
        return self.retrain_growth is not None and total >= self.retrain_growth * self._trained_n

    def rebuild(self) -> None:
        """Retrain the approximate index for the current size from the stored vectors
        (float32 in flat mode, switching to ivf; SQ8 codes, kept as they are, in ivf mode)."""
        if len(self) < MIN_APPROX:
            raise VectorIndexError(f"need at least {MIN_APPROX} vectors to build an IVF index")
        self._set_threads()
        self._rebuild(np.zeros(0, np.int64), np.zeros((0, self._dim), np.float32))

    def _rebuild(self, extra_ids: Ids, extra: Vectors) -> None:
        old = self._store
        n_old = len(old)
        n = n_old + len(extra_ids)
        nlist = self.nlist or auto_nlist(n)
        log.info("index: training IVF with %d lists for %d vectors (was %s)", nlist, n, self.mode)
        rng = np.random.default_rng(self.seed)
        sample = np.sort(rng.choice(n, size=min(n, TRAIN_PER_LIST * nlist), replace=False))
        old_rows, new_rows = sample[sample < n_old], sample[sample >= n_old] - n_old
        training = np.concatenate([old.rows(old_rows), extra[new_rows]])
        if isinstance(old, FlatStore):
            new = IvfStore.train(self._dim, training, nlist, self.seed, sq=None)
            for ids, vectors in old.vectors():
                new.add(ids, vectors)
                vectors.fill(0.0)  # scrub the temporary float32 copy
        else:
            new = IvfStore.train(self._dim, training, nlist, self.seed, sq=old.sq)
            for ids, codes in old.encoded():
                new.add(ids, old.sq.decode(codes), codes=codes)
        if len(extra_ids):
            new.add(extra_ids, extra)
        self._store = new
        self._trained_n = n

    # --- search -----------------------------------------------------------------------------

    def search(self, queries: Vectors, k: int) -> tuple[Vectors, Ids]:
        q = check_vectors(queries, self._dim)
        k = check_k(k)
        self._set_threads()
        if len(q) == 0 or len(self) == 0:
            return padded(len(q), k)
        store = self._store
        if isinstance(store, FlatStore):
            with one_thread_if(len(q) * len(store) <= SMALL_FLAT_SEARCH):
                sims, ids = store.search(q, k)
            return sort_hits(np.where(ids < 0, np.float32(-np.inf), sims), ids)
        threads = self.threads or faiss.omp_get_max_threads()
        store.coarse.parallel_mode = 1 if len(q) < threads else 0
        sims, ids = store.search(q, k, self.effective_nprobe(), self.rerank)
        out_s, out_i = padded(len(q), k)
        found_s, found_i = sort_hits(sims, ids)
        out_s[:, : found_s.shape[1]] = found_s
        out_i[:, : found_i.shape[1]] = found_i
        return out_s, out_i

    # --- files ------------------------------------------------------------------------------

    def params(self) -> dict[str, Any]:
        """The constructor parameters (threads aside: a property of the machine)."""
        return {name: getattr(self, name) for name in PARAMS}

    def save(self, directory: Path) -> None:
        store = self._store
        writers = (
            store.writers() if isinstance(store, IvfStore) else {"index": ("faiss", store.write)}
        )
        params = {**self.params(), "mode": self.mode, "trained_n": self._trained_n}
        manifest = storage.Manifest(kind=self.kind, dim=self._dim, count=len(self), params=params)
        storage.save_generation(Path(directory), manifest, writers)

    @classmethod
    def load(cls, directory: Path, *, threads: int = 0) -> FaissIndex:
        directory = Path(directory)
        manifest = storage.read_manifest(directory)
        if manifest.kind != cls.kind:
            raise VectorIndexError(f"{directory}: holds a {manifest.kind!r} index, not faiss")
        params = dict(manifest.params)
        mode = params.pop("mode", "flat")
        trained_n = int(params.pop("trained_n", 0))
        try:
            index = cls(manifest.dim, threads=threads, **params)
        except TypeError as exc:
            raise VectorIndexError(f"{directory}: unknown index parameters: {exc}") from exc
        try:
            if mode == "ivf":
                paths = {role: manifest.path(directory, role) for role in _IVF_FILES}
                index._store = IvfStore.read(manifest.dim, paths)
            else:
                index._store = FlatStore.read(manifest.dim, manifest.path(directory, "index"))
        except (RuntimeError, OSError, ValueError) as exc:
            raise VectorIndexError(f"{directory}: cannot read the index files: {exc}") from exc
        if len(index) != manifest.count:
            raise VectorIndexError(f"{directory}: index files disagree with the manifest")
        index._trained_n = trained_n
        return index

    def _set_threads(self) -> None:
        if self.threads > 0:
            faiss.omp_set_num_threads(self.threads)


@contextmanager
def one_thread_if(small: bool) -> Iterator[None]:
    """FAISS on the calling thread alone while ``small`` (OpenMP's thread count is a setting
    of the calling thread: it is put back after)."""
    if not small:
        yield
        return
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)
