"""Making and loading indexes by kind: ``make_index`` and ``load_index``.

Kinds:

``auto``   ``FaissIndex``: exact up to ``approx_threshold`` (default 200 000), approximate
           (IVF-PQ fast-scan + SQ8 re-ranking) past it.
``flat``   ``FaissIndex`` that never approximates (``approx_threshold=None``).
``ivf``    ``FaissIndex`` that approximates as soon as it holds ``MIN_APPROX`` (1 000) vectors.
``numpy``  ``NumpyIndex``: brute force in numpy (reference; small galleries and tests).

HNSW is deliberately not offered: FAISS cannot remove from it, and faces must be erasable
(see ``faiss_index``'s docstring). An unknown kind or parameter is a ConfigError, never a
silent fallback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from facesearch.errors import ConfigError, VectorIndexError
from facesearch.gallery.vectors import storage
from facesearch.gallery.vectors.base import VectorIndex
from facesearch.gallery.vectors.faiss_index import MIN_APPROX, PARAMS, FaissIndex
from facesearch.gallery.vectors.numpy_index import NumpyIndex
from facesearch.settings import INDEX_KINDS

_FAISS_PARAMS = frozenset({*PARAMS, "threads"})  # what FaissIndex() takes


def make_index(dim: int, kind: str = "auto", **params: Any) -> VectorIndex:
    """A new, empty index of ``kind`` (see the module docstring) for ``dim``-wide vectors.

    ``params`` go to the backend: for the FAISS kinds ``approx_threshold``, ``nlist``,
    ``nprobe``, ``probe_fraction``, ``rerank``, ``retrain_growth``, ``threads``, ``seed`` (see
    ``FaissIndex``); none for numpy."""
    if kind == "numpy":
        if params:
            raise ConfigError(f"numpy index takes no parameters, got {sorted(params)}")
        return NumpyIndex(dim)
    if kind not in INDEX_KINDS:  # the one list of kinds, also checked by settings
        raise ConfigError(f"unknown index kind {kind!r}; choose one of {', '.join(INDEX_KINDS)}")
    unknown = set(params) - _FAISS_PARAMS
    if unknown:
        raise ConfigError(f"unknown index parameter(s): {', '.join(sorted(unknown))}")
    if kind in ("flat", "ivf") and "approx_threshold" in params:
        raise ConfigError(f"kind {kind!r} sets approx_threshold itself; use kind 'auto'")
    if kind == "flat":
        params["approx_threshold"] = None
    elif kind == "ivf":
        params["approx_threshold"] = MIN_APPROX
    return FaissIndex(dim, **params)


def load_index(directory: Path, *, threads: int = 0) -> VectorIndex:
    """Load the index saved in ``directory``, whatever its kind (read from the manifest).

    ``threads`` applies to FAISS indexes (0 = FAISS's default)."""
    directory = Path(directory)
    manifest = storage.read_manifest(directory)
    if manifest.kind == NumpyIndex.kind:
        return NumpyIndex.load(directory)
    if manifest.kind == FaissIndex.kind:
        return FaissIndex.load(directory, threads=threads)
    raise VectorIndexError(f"{directory}: unknown index kind {manifest.kind!r} in the manifest")
