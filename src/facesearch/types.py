"""Plain data that crosses module boundaries, and what every layer's records and handles
share: ``fields_dict`` (a record's JSON when it is exactly its fields) and ``Closing``.

Coordinate convention (the one place it is written down): pixel coordinates in the decoded
image after EXIF orientation has been applied, origin at the top-left corner, x to the right,
y down. A box is (x, y, w, h) with (x, y) its top-left corner. Landmarks are five (x, y)
points in this order: right eye, left eye (from the viewer: the eye on the left of the image
first), nose tip, right mouth corner, left mouth corner -- YuNet's and ArcFace's order.

Embeddings are numpy float32 vectors of unit L2 norm; similarity is their dot product (cosine).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, Self

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

MAX_ID = 2**63 - 1  # the largest SQLite integer: no id of the catalog or the trail is larger
# a subject's, person's or collection's name: a folder name's limit on common file systems
MAX_NAME_CHARS = 255

Embedding = npt.NDArray[np.float32]
Image = npt.NDArray[np.uint8]  # H x W x 3, RGB


class Closing:
    """A handle to close when done: ``close()``, or ``with handle: ...``, which closes it."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def fields_dict(record: DataclassInstance) -> dict[str, Any]:
    """A dataclass's fields by name, in declaration order: the JSON object of a record whose
    JSON is exactly its fields. Shallow (not ``dataclasses.asdict``, which copies and recurses);
    a tuple becomes a list, as JSON would have it."""
    values = ((f.name, getattr(record, f.name)) for f in fields(record))
    return {name: list(v) if isinstance(v, tuple) else v for name, v in values}


@dataclass(frozen=True)
class BBox:
    x: float
    y: float
    w: float
    h: float

    def as_list(self) -> list[float]:
        return [round(self.x, 2), round(self.y, 2), round(self.w, 2), round(self.h, 2)]

    @property
    def center(self) -> tuple[float, float]:
        return (self.x + self.w / 2.0, self.y + self.h / 2.0)


@dataclass(frozen=True)
class Quality:
    """How usable a face is for recognition; computed from the detection and the aligned crop."""

    size: float  # the shorter side of the face box, in pixels
    sharpness: float  # variance of the Laplacian of the aligned 112x112 grey crop
    yaw: float  # degrees, estimated from the landmarks; 0 = frontal
    pitch: float  # degrees, rough estimate from the landmarks
    roll: float  # degrees, in-plane rotation of the eye line
    score: float  # detection score

    def as_dict(self) -> dict[str, float]:
        return {
            "size": round(self.size, 1),
            "sharpness": round(self.sharpness, 1),
            "yaw": round(self.yaw, 1),
            "pitch": round(self.pitch, 1),
            "roll": round(self.roll, 1),
            "score": round(self.score, 4),
        }


@dataclass(frozen=True)
class Detection:
    """One face as the detector found it."""

    bbox: BBox
    landmarks: tuple[tuple[float, float], ...]  # five (x, y) points
    score: float

    def landmarks_array(self) -> npt.NDArray[np.float32]:
        return np.asarray(self.landmarks, dtype=np.float32).reshape(5, 2)


@dataclass(frozen=True)
class Face:
    """A detected face with its quality and, once embedded, its embedding."""

    index: int  # position of the face in its image, largest-first order of the detector
    detection: Detection
    quality: Quality
    embedding: Embedding | None = None
    second_embedding: Embedding | None = None  # the second model's, where fusion is on

    @property
    def bbox(self) -> BBox:
        return self.detection.bbox


@dataclass(frozen=True)
class ImageFaces:
    """Every face found in one image (path or source id), in detection order."""

    source: str
    width: int
    height: int
    faces: tuple[Face, ...]
    main: int | None  # index of the main face, None when there is no face
