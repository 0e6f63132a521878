"""Vector index: unit embeddings in, nearest faces out (inner product = cosine).

One protocol (``VectorIndex``), three backends: ``NumpyIndex`` (brute force, the reference
and test oracle), ``FaissIndex`` (exact, then IVF-PQ fast-scan with SQ8 re-ranking past a
size), both saved as files in the home, and ``MilvusIndex`` (one collection's vectors in a
Milvus server or Milvus Lite, ``milvus_store``). ``make_index`` and ``load_index`` pick a file
backend by kind; ``vectors_target`` reads ``vectors_url`` and ``open_milvus`` connects.
Conventions (padding, ties, erasure) are in ``base``; the atomic save protocol in ``storage``.

The index is derived data: the catalog holds the embeddings and can rebuild it.
"""

from facesearch.gallery.vectors.base import PAD_ID, PAD_SIMILARITY, VectorIndex
from facesearch.gallery.vectors.factory import (
    VectorsTarget,
    load_index,
    make_index,
    open_milvus,
    vectors_target,
)
from facesearch.gallery.vectors.faiss_index import FaissIndex
from facesearch.gallery.vectors.milvus_index import MilvusIndex, MilvusIndexChoice
from facesearch.gallery.vectors.milvus_store import MilvusStore, PendingDeletion, VectorErasure
from facesearch.gallery.vectors.numpy_index import NumpyIndex

__all__ = [
    "PAD_ID",
    "PAD_SIMILARITY",
    "FaissIndex",
    "MilvusIndex",
    "MilvusIndexChoice",
    "MilvusStore",
    "NumpyIndex",
    "PendingDeletion",
    "VectorErasure",
    "VectorIndex",
    "VectorsTarget",
    "load_index",
    "make_index",
    "open_milvus",
    "vectors_target",
]
