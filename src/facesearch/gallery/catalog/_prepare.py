"""Check and encode a NewImage before any write, so a bad item fails the batch up front."""

from __future__ import annotations

from dataclasses import dataclass

from facesearch.errors import InputError
from facesearch.gallery.catalog import _codec
from facesearch.gallery.catalog.records import NewFace, NewImage


@dataclass(frozen=True)
class PreparedFace:
    face_index: int
    bbox: tuple[float, float, float, float]
    landmarks: bytes
    det_score: float
    quality: str
    model_id: str
    dim: int
    embedding: bytes
    labelled: bool  # carries the image's subject


@dataclass(frozen=True)
class PreparedImage:
    sha256: str
    source: str
    size_bytes: int
    width: int
    height: int
    metadata: str | None
    subject: str | None
    faces: tuple[PreparedFace, ...]


def prepare_image(item: NewImage, position: int) -> PreparedImage:
    """Validate ``item`` (the ``position``-th of its batch) and encode its column values."""
    try:
        return _prepare(item)
    except InputError as exc:
        source = getattr(item, "source", "?")
        raise InputError(f"image {position} of the batch ({source}): {exc}") from exc


def _prepare(item: NewImage) -> PreparedImage:
    if not isinstance(item, NewImage):
        raise InputError(f"expected a NewImage, not {type(item).__name__}")
    if item.subject is not None:
        _codec.check_name(item.subject, "subject")
    indexes = [_codec.check_count(f.face_index, "face_index") for f in item.faces]
    if len(set(indexes)) != len(indexes):
        raise InputError(f"face_index values repeat: {indexes}")
    labelled = set(indexes if item.label_faces is None else item.label_faces)
    if not labelled <= set(indexes):
        raise InputError(f"label_faces {sorted(labelled - set(indexes))} name no face")
    return PreparedImage(
        sha256=_codec.check_sha256(item.sha256),
        source=str(item.source),
        size_bytes=_codec.check_count(item.size_bytes, "size_bytes"),
        width=_codec.check_count(item.width, "width"),
        height=_codec.check_count(item.height, "height"),
        metadata=_codec.dump_json_object(item.metadata, "metadata"),
        subject=item.subject,
        faces=tuple(_prepare_face(f, f.face_index in labelled) for f in item.faces),
    )


def _prepare_face(face: NewFace, labelled: bool) -> PreparedFace:
    blob, dim = _codec.encode_embedding(face.embedding)
    return PreparedFace(
        face_index=int(face.face_index),
        bbox=_codec.check_bbox(face.bbox),
        landmarks=_codec.encode_landmarks(face.landmarks),
        det_score=_codec.finite(face.det_score, "det_score"),
        quality=_codec.encode_quality(face.quality),
        model_id=_codec.check_name(face.model_id, "model"),
        dim=dim,
        embedding=blob,
        labelled=labelled,
    )
