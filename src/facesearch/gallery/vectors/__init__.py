"""Vector index: unit embeddings in, nearest faces out (inner product = cosine).

One protocol (``VectorIndex``), two backends: ``NumpyIndex`` (brute force, the reference
and test oracle) and ``FaissIndex`` (exact, then IVF-PQ fast-scan with SQ8 re-ranking past a
size). ``make_index`` and
``load_index`` pick a backend by kind. Conventions (padding, ties, erasure) are in ``base``;
the atomic save protocol in ``storage``.

The index is derived data: the catalog holds the embeddings and can rebuild it.
"""

from facesearch.gallery.vectors.base import PAD_ID, PAD_SIMILARITY, VectorIndex
from facesearch.gallery.vectors.factory import load_index, make_index
from facesearch.gallery.vectors.faiss_index import FaissIndex
from facesearch.gallery.vectors.numpy_index import NumpyIndex

__all__ = [
    "PAD_ID",
    "PAD_SIMILARITY",
    "FaissIndex",
    "NumpyIndex",
    "VectorIndex",
    "load_index",
    "make_index",
]
