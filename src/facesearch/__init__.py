"""facesearch: self-hosted face search (1:N) and verification (1:1).

A match is a lead for a person to check, never an identification.

    from facesearch import Engine
    with Engine("~/faces") as engine:
        result = engine.verify("a.jpg", "b.jpg")

Everything ``Engine`` returns is exported here (checked by tests/unit/test_public_api.py).

The names are imported on first use (``facesearch._lazy``), so importing one module of the
package (the CLI's ``embed`` needs the pipeline) does not import the engine, FAISS and the
catalog.
"""

from __future__ import annotations

import typing as _typing

from facesearch._lazy import lazy_exports as _lazy_exports

if _typing.TYPE_CHECKING:
    from facesearch.core.matching import Verification
    from facesearch.engine import Engine, ImageInput
    from facesearch.errors import (
        ConfigError,
        FaceSearchError,
        ImageError,
        InputError,
        ModelError,
        NoFaceError,
        NotFoundError,
    )
    from facesearch.gallery.blocklist import BlocklistMatch
    from facesearch.gallery.catalog import CatalogErasure, FaceRecord
    from facesearch.gallery.ingest import FailedSource, IngestSummary
    from facesearch.gallery.vectors import VectorErasure
    from facesearch.pipeline import Decodable
    from facesearch.results import (
        ForgetResult,
        Hit,
        PersonLike,
        ProbeFace,
        SearchResult,
        VerifyResult,
    )
    from facesearch.settings import Settings
    from facesearch.types import BBox, Detection, Face, ImageFaces, Quality
else:  # each name imported from its module on first use
    __getattr__, __dir__ = _lazy_exports(
        __name__,
        {
            "facesearch.core.matching": ("Verification",),
            "facesearch.engine": ("Engine", "ImageInput"),
            "facesearch.errors": (
                "ConfigError",
                "FaceSearchError",
                "ImageError",
                "InputError",
                "ModelError",
                "NoFaceError",
                "NotFoundError",
            ),
            "facesearch.gallery.blocklist": ("BlocklistMatch",),
            "facesearch.gallery.catalog": ("CatalogErasure", "FaceRecord"),
            "facesearch.gallery.ingest": ("FailedSource", "IngestSummary"),
            "facesearch.gallery.vectors": ("VectorErasure",),
            "facesearch.pipeline": ("Decodable",),
            "facesearch.results": (
                "ForgetResult",
                "Hit",
                "PersonLike",
                "ProbeFace",
                "SearchResult",
                "VerifyResult",
            ),
            "facesearch.settings": ("Settings",),
            "facesearch.types": ("BBox", "Detection", "Face", "ImageFaces", "Quality"),
        },
    )

__version__ = "0.1.0"

__all__ = [
    "BBox",
    "BlocklistMatch",
    "CatalogErasure",
    "ConfigError",
    "Decodable",
    "Detection",
    "Engine",
    "Face",
    "FaceRecord",
    "FaceSearchError",
    "FailedSource",
    "ForgetResult",
    "Hit",
    "ImageError",
    "ImageFaces",
    "ImageInput",
    "IngestSummary",
    "InputError",
    "ModelError",
    "NoFaceError",
    "NotFoundError",
    "PersonLike",
    "ProbeFace",
    "Quality",
    "SearchResult",
    "Settings",
    "VectorErasure",
    "Verification",
    "VerifyResult",
    "__version__",
]
