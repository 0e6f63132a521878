"""FAISS index: exact while the gallery is small, IVF + 8-bit scalar quantiser past a size.

Two modes, one class:

``flat``  ``IndexIDMap2(IndexFlatIP)``: exact, float32, ``4 * dim`` bytes per face (+ id
          maps). Used while ``len(index) < approx_threshold`` (default 200 000, where one
          exact 128-d query costs ~8 ms on two cores).
``ivf``   ``IndexIVFScalarQuantizer``: spherical k-means into ``nlist`` lists (``nlist`` = the
          power of two nearest ``2 * sqrt(n)``), vectors stored as 8-bit codes (``dim`` bytes
          + an 8-byte id: 136 B per 128-d face; 520 B per 512-d face), not residuals. A query
          scans the ``nprobe`` nearest lists (``probe_fraction`` of them, default 1/8).
          Scores are decoded from the codes: within ~2e-3 of the exact cosine.

The switch happens inside ``add`` once the threshold is reached, rebuilding from the stored
float32 vectors; past that the float32 vectors are not kept (they would cost 512 B per face
at 128-d). The index does not switch back when faces are removed: rebuild it from the
catalog to get an exact one. When the gallery grows ``retrain_growth`` times (default 8)
past the size it was trained at, ``add`` retrains (more lists) from the decoded codes.

Why IVF-SQ8 and not HNSW (measured by ``benchmarks/search.py``; see its table):

- Erasure. IVF removes natively (``remove_ids``): the code leaves its list, and this class
  first overwrites the code with zeros so the bytes do not linger in the list's memory.
  FAISS's HNSW cannot remove; tombstones would keep erased faces in memory and force a
  full rebuild (hours at 10 M on two cores) before every save.
- Memory. HNSW32 on float32 is ~800 B per face, HNSW16 on SQ8 still ~280 B plus upper
  levels; IVF-SQ8 is 136 B (+ 8 B of sorted ids kept here for duplicate checks).
- Build time. IVF trains k-means on a sample and assigns; HNSW insertion at 10^7 on two
  cores is an order of magnitude slower.
- HNSW reaches a given mate recall at lower latency, but IVF-SQ8 with ``nprobe = nlist / 8``
  meets the target (mate recall >= 0.99) within the latency budget at 1 M and 10 M.

Threads: ``threads > 0`` calls ``faiss.omp_set_num_threads`` (process-wide in FAISS) before
every operation; 0 leaves FAISS's default (all cores). A single query is spread over the
threads by inverted list (``parallel_mode = 1``), batches by query.

Concurrency: ``search`` may run from several threads at once; ``add``, ``remove`` and
``save`` must not overlap with anything (the caller holds a lock).

Files: ``index`` (FAISS's own format, via ``faiss.write_index``). The ids are read back
from the index itself.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from facesearch.errors import ConfigError, VectorIndexError
from facesearch.index import storage
from facesearch.index.base import (
    PAD_ID,
    PAD_SIMILARITY,
    Ids,
    Vectors,
    check_ids,
    check_k,
    check_new_ids,
    check_vectors,
    padded,
    sort_hits,
)

log = logging.getLogger(__name__)

MIN_APPROX = 1_000  # never approximate below this many vectors
TRAIN_PER_LIST = 40  # k-means training points per list (FAISS wants >= 39)
KMEANS_ITERATIONS = 10
_ADD_CHUNK = 262_144


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
        probe_fraction: float = 0.125,
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
        if retrain_growth is not None and retrain_growth <= 1.0:
            raise ConfigError("retrain_growth must be > 1 or None")
        if threads < 0:
            raise ConfigError("threads must not be negative")
        self._dim = dim
        self.approx_threshold = approx_threshold
        self.nlist = nlist
        self.nprobe = nprobe
        self.probe_fraction = probe_fraction
        self.retrain_growth = retrain_growth
        self.threads = threads
        self.seed = seed
        self._trained_n = 0
        self._sorted: Ids = np.zeros(0, dtype=np.int64)
        self._set_threads()
        self._index: Any = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))

    # --- introspection ----------------------------------------------------------------------

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def mode(self) -> str:
        """``"flat"`` (exact) or ``"ivf"`` (approximate)."""
        return "ivf" if isinstance(self._index, faiss.IndexIVF) else "flat"

    def __len__(self) -> int:
        return int(self._index.ntotal)

    def __repr__(self) -> str:
        return f"FaissIndex(dim={self._dim}, n={len(self)}, mode={self.mode!r})"

    def ids(self) -> Ids:
        return self._sorted.copy()

    def effective_nprobe(self) -> int:
        if self.mode != "ivf":
            return 0
        nlist = int(self._index.nlist)
        if self.nprobe is not None:
            return min(self.nprobe, nlist)
        return max(1, min(nlist, math.ceil(nlist * self.probe_fraction)))

    def memory_bytes(self) -> int:
        """Bytes held in RAM by the vectors, codes, ids and centroids (not FAISS's small
        fixed overhead, nor the id hash map of flat mode)."""
        n, d = len(self), self._dim
        extra = int(self._sorted.nbytes)
        if self.mode == "flat":
            return n * (4 * d + 8) + extra
        return n * (int(self._index.code_size) + 8) + int(self._index.nlist) * d * 4 + extra

    # --- mutation ---------------------------------------------------------------------------

    def add(self, ids: Ids, vectors: Vectors) -> None:
        new_ids = check_new_ids(ids, self._sorted)
        vecs = check_vectors(vectors, self._dim, len(new_ids))
        if len(new_ids) == 0:
            return
        self._set_threads()
        if self._needs_rebuild(len(self) + len(new_ids)):
            self._rebuild(new_ids, vecs)  # the new vectors go straight into the new index
        else:
            for start in range(0, len(new_ids), _ADD_CHUNK):
                stop = start + _ADD_CHUNK
                self._index.add_with_ids(vecs[start:stop], new_ids[start:stop])
        order = np.sort(new_ids)
        self._sorted = np.insert(self._sorted, np.searchsorted(self._sorted, order), order)

    def remove(self, ids: Ids) -> int:
        gone = check_ids(ids)
        if len(gone) == 0 or len(self) == 0:
            return 0
        pos = np.minimum(np.searchsorted(self._sorted, gone), len(self._sorted) - 1)
        present = np.unique(gone[self._sorted[pos] == gone])
        if len(present) == 0:
            return 0
        self._set_threads()
        self._scrub(present)
        removed = int(self._index.remove_ids(present))
        if removed != len(present):
            raise VectorIndexError(f"FAISS removed {removed} of {len(present)} vectors")
        self._sorted = np.delete(self._sorted, np.searchsorted(self._sorted, present))
        return removed

    def _scrub(self, ids: Ids) -> None:
        """Overwrite the stored vectors/codes of ``ids`` with zeros before FAISS removes them,
        so that their bytes do not survive in the buffers FAISS shrinks but keeps."""
        if self.mode == "flat":
            flat: Any = faiss.downcast_index(self._index.index)
            n = int(flat.ntotal)
            xb = faiss.rev_swig_ptr(flat.get_xb(), n * self._dim).reshape(n, self._dim)
            id_map = faiss.vector_to_array(self._index.id_map)
            xb[np.isin(id_map, ids)] = 0.0
            return
        invlists = faiss.downcast_InvertedLists(self._index.invlists)
        code_size = int(invlists.code_size)
        for list_no in range(int(invlists.nlist)):
            size = int(invlists.list_size(list_no))
            if size == 0:
                continue
            list_ids = faiss.rev_swig_ptr(invlists.get_ids(list_no), size)
            hit = np.isin(list_ids, ids)
            if hit.any():
                codes = faiss.rev_swig_ptr(invlists.get_codes(list_no), size * code_size)
                codes.reshape(size, code_size)[hit] = 0

    # --- switching to (and retraining) the approximate index ---------------------------------

    def _needs_rebuild(self, total: int) -> bool:
        if self.mode == "flat":
            return self.approx_threshold is not None and total >= max(
                self.approx_threshold, MIN_APPROX
            )
        return self.retrain_growth is not None and total >= self.retrain_growth * self._trained_n

    def rebuild(self) -> None:
        """Train a new IVF-SQ8 index for the current size from the stored vectors (float32
        in flat mode; decoded codes in IVF mode) and move every vector into it."""
        if len(self) < MIN_APPROX:
            raise VectorIndexError(f"need at least {MIN_APPROX} vectors to build an IVF index")
        self._set_threads()
        self._rebuild(np.zeros(0, np.int64), np.zeros((0, self._dim), np.float32))

    def _rebuild(self, extra_ids: Ids, extra: Vectors) -> None:
        """Rebuild as IVF-SQ8 holding the stored vectors plus (extra_ids, extra)."""
        n_old = len(self)
        n = n_old + len(extra_ids)
        nlist = self.nlist or auto_nlist(n)
        log.info(
            "index: building IVF-SQ8 with %d lists for %d vectors (was %s)", nlist, n, self.mode
        )
        rng = np.random.default_rng(self.seed)
        sample = np.sort(rng.choice(n, size=min(n, TRAIN_PER_LIST * nlist), replace=False))
        old_rows, new_rows = sample[sample < n_old], sample[sample >= n_old] - n_old
        new = self._new_ivf(nlist)
        if self.mode == "flat":
            flat = faiss.downcast_index(self._index.index)
            vectors = flat.reconstruct_n(0, n_old) if n_old else extra[:0]
            id_map = faiss.vector_to_array(self._index.id_map)
            new.train(np.concatenate([vectors[old_rows], extra[new_rows]]))
            for start in range(0, n_old, _ADD_CHUNK):
                stop = start + _ADD_CHUNK
                new.add_with_ids(vectors[start:stop], id_map[start:stop])
            vectors.fill(0.0)  # scrub the temporary float32 copy
        else:
            old = self._decoded_rows(old_rows) if len(old_rows) else extra[:0]
            new.train(np.concatenate([old, extra[new_rows]]))
            for list_ids, vectors in self._decoded_lists():
                new.add_with_ids(vectors, list_ids)
        for start in range(0, len(extra_ids), _ADD_CHUNK):
            stop = start + _ADD_CHUNK
            new.add_with_ids(extra[start:stop], extra_ids[start:stop])
        self._index = new
        self._trained_n = n

    def _new_ivf(self, nlist: int) -> Any:
        quantizer = faiss.IndexFlatIP(self._dim)
        ivf = faiss.IndexIVFScalarQuantizer(
            quantizer,
            self._dim,
            nlist,
            faiss.ScalarQuantizer.QT_8bit,
            faiss.METRIC_INNER_PRODUCT,
            False,
        )
        # Per-dimension min/max widened by 20 % each side: codes of vectors added after
        # training rarely clip (measured: score error std 1e-3, max 5e-3 at 128-d).
        ivf.sq.rangestat = faiss.ScalarQuantizer.RS_minmax
        ivf.sq.rangestat_arg = 0.2
        ivf.cp.spherical = True
        ivf.cp.niter = KMEANS_ITERATIONS
        ivf.cp.seed = self.seed
        ivf.cp.max_points_per_centroid = 1 << 30  # the sample is drawn here
        return ivf

    def _decoded_lists(self) -> Any:
        """Yield (ids, decoded float32 vectors) list by list (IVF mode)."""
        invlists = faiss.downcast_InvertedLists(self._index.invlists)
        code_size = int(invlists.code_size)
        for list_no in range(int(invlists.nlist)):
            size = int(invlists.list_size(list_no))
            if size == 0:
                continue
            ids = faiss.rev_swig_ptr(invlists.get_ids(list_no), size).copy()
            codes = faiss.rev_swig_ptr(invlists.get_codes(list_no), size * code_size)
            yield ids, self._index.sq.decode(codes.reshape(size, code_size))

    def _decoded_rows(self, rows: Ids) -> Vectors:
        """Decoded vectors of the given positions in list order (IVF mode)."""
        out: list[Vectors] = []
        seen = 0
        for _, vectors in self._decoded_lists():
            stop = seen + len(vectors)
            lo, hi = np.searchsorted(rows, [seen, stop])
            if hi > lo:
                out.append(vectors[rows[lo:hi] - seen])
            seen = stop
        return np.concatenate(out)

    # --- search -----------------------------------------------------------------------------

    def search(self, queries: Vectors, k: int) -> tuple[Vectors, Ids]:
        q = check_vectors(queries, self._dim)
        k = check_k(k)
        self._set_threads()
        if len(q) == 0 or len(self) == 0:
            return padded(len(q), k)
        if self.mode == "ivf":
            threads = self.threads or faiss.omp_get_max_threads()
            self._index.parallel_mode = 1 if len(q) < threads else 0
            params = faiss.SearchParametersIVF()
            params.nprobe = self.effective_nprobe()
            sims, ids = self._index.search(q, k, params=params)
        else:
            sims, ids = self._index.search(q, k)
        sims = np.where(ids == PAD_ID, PAD_SIMILARITY, sims).astype(np.float32)
        return sort_hits(sims, ids.astype(np.int64))

    # --- files ------------------------------------------------------------------------------

    def params(self) -> dict[str, Any]:
        """The constructor parameters (threads aside: a property of the machine)."""
        return {
            "approx_threshold": self.approx_threshold,
            "nlist": self.nlist,
            "nprobe": self.nprobe,
            "probe_fraction": self.probe_fraction,
            "retrain_growth": self.retrain_growth,
            "seed": self.seed,
        }

    def save(self, directory: Path) -> None:
        index = self._index

        def write_index(path: Path) -> None:
            faiss.write_index(index, str(path))

        params = {**self.params(), "mode": self.mode, "trained_n": self._trained_n}
        manifest = storage.Manifest(kind=self.kind, dim=self._dim, count=len(self), params=params)
        storage.save_generation(Path(directory), manifest, {"index": ("faiss", write_index)})

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
        path = manifest.path(directory, "index")
        try:
            raw = faiss.read_index(str(path))
        except RuntimeError as exc:
            raise VectorIndexError(f"{path}: cannot read the FAISS index: {exc}") from exc
        # read_index already returns the concrete class (and owns it: do not re-wrap).
        if mode == "ivf" and not isinstance(raw, faiss.IndexIVFScalarQuantizer):
            raise VectorIndexError(f"{path}: expected an IVF-SQ index")
        if mode == "flat" and not isinstance(raw, faiss.IndexIDMap2):
            raise VectorIndexError(f"{path}: expected an IDMap2 flat index")
        if int(raw.ntotal) != manifest.count or int(raw.d) != manifest.dim:
            raise VectorIndexError(f"{path}: index file disagrees with the manifest")
        index._index = raw
        index._trained_n = trained_n
        index._sorted = np.sort(index._stored_ids())
        return index

    def _stored_ids(self) -> Ids:
        if self.mode == "flat":
            return np.asarray(faiss.vector_to_array(self._index.id_map), dtype=np.int64)
        invlists = faiss.downcast_InvertedLists(self._index.invlists)
        parts = [np.zeros(0, dtype=np.int64)]
        for list_no in range(int(invlists.nlist)):
            size = int(invlists.list_size(list_no))
            if size:
                parts.append(faiss.rev_swig_ptr(invlists.get_ids(list_no), size).copy())
        return np.concatenate(parts)

    def _set_threads(self) -> None:
        if self.threads > 0:
            faiss.omp_set_num_threads(self.threads)
