"""Checks and conversions between catalog records and SQLite column values."""

from __future__ import annotations

import json
import math
import re
import struct
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from facesearch.core.text import (
    PLAIN_NAME_RULE,
    SEPARATORS,
    has_control,
    hiding,
    is_blank,
    is_plain_name,
)
from facesearch.errors import InputError
from facesearch.types import MAX_NAME_CHARS, BBox

_SHA256 = re.compile(r"[0-9a-f]{64}")
_F32 = np.dtype("<f4")
_F64 = np.dtype("<f8")


def now_utc() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def check_name(name: str, what: str) -> str:
    """A collection, subject, person or model name: text with something visible in it, of at
    most MAX_NAME_CHARS, on one line, without control characters or marks that change the
    text's direction (it is shown in pages, tables and the CLI: ``core.text``)."""
    if not isinstance(name, str) or is_blank(name):
        raise InputError(f"{what} name must be a non-empty string, not {name!r}")
    if "\x00" in name:
        raise InputError(f"{what} name must not contain NUL characters")
    if len(name) > MAX_NAME_CHARS:
        raise InputError(f"a {what} name has at most {MAX_NAME_CHARS} characters")
    if has_control(name) or any(ch in SEPARATORS or ch in "\t\n" for ch in name):
        raise InputError(f"a {what} name must not contain line breaks or control characters")
    problem = hiding(name)
    if problem is not None:
        raise InputError(f"a {what} name must not contain {problem}")
    return name


def check_new_collection_name(name: str) -> str:
    """A new collection's name: part of its addresses (``/api/v1/collections/NAME``), so
    ``PLAIN_NAME_RULE``'s, like a user's or an organisation's (the default collection of an
    organisation is named after it). A collection made before the rule keeps its name."""
    check_name(name, "collection")
    if not is_plain_name(name):
        raise InputError(f"collection name {name!r}: a new collection's name is {PLAIN_NAME_RULE}")
    return name


def check_sha256(digest: str) -> str:
    digest = digest.lower() if isinstance(digest, str) else ""
    if not _SHA256.fullmatch(digest):
        raise InputError("sha256 must be 64 hexadecimal digits")
    return digest


def check_count(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 0:
        raise InputError(f"{what} must be a non-negative integer, not {value!r}")
    return int(value)


def finite(value: float, what: str) -> float:
    number = float(value)
    if not math.isfinite(number):
        raise InputError(f"{what} must be a finite number, not {value!r}")
    return number


def encode_embedding(embedding: npt.ArrayLike) -> tuple[bytes, int]:
    """A 1-D finite float vector -> (little-endian float32 bytes, dim)."""
    array = np.asarray(embedding)
    if array.ndim != 1 or array.size == 0 or array.dtype.kind != "f":
        raise InputError(
            f"an embedding must be a non-empty 1-D float array, not {array.dtype} {array.shape}"
        )
    vector = array.astype(_F32)
    if not np.all(np.isfinite(vector)):
        raise InputError("an embedding holds NaN or infinite values")
    return vector.tobytes(), int(vector.size)


def decode_embedding(blob: bytes, dim: int) -> npt.NDArray[np.float32]:
    vector = np.frombuffer(bytearray(blob), dtype=_F32)
    if vector.size != dim:
        raise ValueError(f"embedding blob holds {vector.size} values, expected {dim}")
    return vector.astype(np.float32, copy=False)


def decode_embeddings(blobs: list[bytes], dim: int) -> npt.NDArray[np.float32]:
    """Many equal-length blobs -> a writable (n, dim) float32 array, with one copy."""
    joined = bytearray().join(blobs)
    return np.frombuffer(joined, dtype=_F32).reshape(len(blobs), dim).astype(np.float32, copy=False)


def encode_landmarks(landmarks: Any) -> bytes:
    try:
        points = np.asarray(landmarks, dtype=_F64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"landmarks must be five (x, y) points: {exc}") from exc
    if points.shape != (5, 2) or not np.all(np.isfinite(points)):
        raise InputError(f"landmarks must be five finite (x, y) points, not shape {points.shape}")
    return points.tobytes()


_LANDMARKS = struct.Struct("<10d")  # five (x, y) points, as encode_landmarks writes them


def decode_landmarks(blob: bytes) -> tuple[tuple[float, float], ...]:
    """Five (x, y) points (struct: 0.7 us a face where numpy took 13, on every face read)."""
    v = _LANDMARKS.unpack(blob)
    return ((v[0], v[1]), (v[2], v[3]), (v[4], v[5]), (v[6], v[7]), (v[8], v[9]))


def check_bbox(bbox: BBox) -> tuple[float, float, float, float]:
    values = (bbox.x, bbox.y, bbox.w, bbox.h)
    return tuple(finite(v, "a box coordinate") for v in values)  # type: ignore[return-value]


def encode_quality(quality: Mapping[str, float]) -> str:
    if not isinstance(quality, Mapping):
        raise InputError(f"quality must be a mapping of names to numbers, not {quality!r}")
    clean = {}
    for key, value in quality.items():
        if not isinstance(key, str):
            raise InputError(f"quality keys must be strings, not {key!r}")
        clean[key] = finite(value, f"quality[{key!r}]")
    return dump_json(clean, "quality")


def dump_json(value: Any, what: str) -> str:
    try:
        return json.dumps(value, sort_keys=True, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{what} must be JSON-serialisable: {exc}") from exc


def dump_json_object(value: Mapping[str, Any] | None, what: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise InputError(f"{what} must be a mapping, not {type(value).__name__}")
    return dump_json(dict(value), what)


def load_json(text: str | None) -> Any:
    return None if text is None else json.loads(text)
