"""facesearch: self-hosted face search (1:N) and verification (1:1).

A match is a lead for a person to check, never an identification.

    from facesearch import Engine
    with Engine("~/faces") as engine:
        result = engine.verify("a.jpg", "b.jpg")
"""

from __future__ import annotations

from facesearch.engine import Engine, VerifyResult
from facesearch.errors import (
    ConfigError,
    FaceSearchError,
    ImageError,
    InputError,
    ModelError,
    NoFaceError,
    NotFoundError,
)
from facesearch.settings import Settings
from facesearch.types import BBox, Detection, Face, ImageFaces, Quality

__version__ = "0.1.0"

__all__ = [
    "BBox",
    "ConfigError",
    "Detection",
    "Engine",
    "Face",
    "FaceSearchError",
    "ImageError",
    "ImageFaces",
    "InputError",
    "ModelError",
    "NoFaceError",
    "NotFoundError",
    "Quality",
    "Settings",
    "VerifyResult",
    "__version__",
]
