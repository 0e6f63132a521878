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

Where the vectors live is the other choice, ``vectors_url`` (``vectors_target``): unset, the
kinds above in files in the home; a path ending in ``.db``, Milvus Lite (embedded);
``milvus://host:port`` or ``http(s)://host:port``, a Milvus server (``open_milvus``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from facesearch.errors import ConfigError, VectorIndexError
from facesearch.gallery.vectors import storage
from facesearch.gallery.vectors.base import VectorIndex
from facesearch.gallery.vectors.faiss_index import MIN_APPROX, PARAMS, FaissIndex
from facesearch.gallery.vectors.numpy_index import NumpyIndex
from facesearch.settings import INDEX_KINDS

if TYPE_CHECKING:
    from facesearch.gallery.vectors.milvus_index import MilvusIndexChoice
    from facesearch.gallery.vectors.milvus_store import MilvusStore

MILVUS_PORT = 19530

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


@dataclass(frozen=True)
class VectorsTarget:
    """Where the vectors live: ``files`` (FAISS in the home), ``milvus-lite`` or ``milvus``."""

    kind: str
    uri: str = ""  # what MilvusClient connects to (a .db path for Milvus Lite)
    token: str = ""  # "user:password" from the URL, for a server with authentication

    def __str__(self) -> str:  # never shows the password
        return self.kind if not self.uri else f"{self.kind} at {self.uri}"


def vectors_target(url: str | None) -> VectorsTarget:
    """Read ``vectors_url``; anything not understood is a ConfigError."""
    if not url:
        return VectorsTarget("files")
    if url.endswith(".db") and "://" not in url:
        return VectorsTarget("milvus-lite", str(Path(url).expanduser().absolute()))
    parts = urlsplit(url)
    if parts.scheme in ("milvus", "http", "https") and parts.hostname and not parts.path.strip("/"):
        scheme = "https" if parts.scheme == "https" else "http"
        try:
            port = parts.port or MILVUS_PORT
        except ValueError as exc:
            raise ConfigError(f"vectors_url {url!r}: bad port") from exc
        token = (
            f"{unquote(parts.username)}:{unquote(parts.password or '')}" if parts.username else ""
        )
        return VectorsTarget("milvus", f"{scheme}://{parts.hostname}:{port}", token)
    raise ConfigError(
        f"vectors_url must be unset (FAISS files in the home), a path ending in .db (Milvus "
        f"Lite) or milvus://HOST:PORT (a Milvus server), not {url!r}"
    )


def open_milvus(
    target: VectorsTarget,
    model_id: str,
    dim: int,
    catalog_id: str,
    index: MilvusIndexChoice | None = None,
) -> MilvusStore:
    """Connect to the Milvus of ``target`` (not ``files``), to the collection of ``model_id``
    for the catalog ``catalog_id``, indexed as ``index`` asks (default: auto); pymilvus
    comes with the ``distributed`` extra, and its absence is a ConfigError that says so."""
    if target.kind == "files":
        raise ConfigError("open_milvus needs a Milvus vectors_url")
    from facesearch.gallery.vectors.milvus_store import MilvusStore

    try:
        import pymilvus  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise ConfigError(
            f"vectors_url names Milvus but pymilvus is missing ({exc}): "
            "pip install 'facesearch[distributed]'"
        ) from exc
    return MilvusStore(target.uri, model_id, dim, catalog_id, token=target.token, index=index)
