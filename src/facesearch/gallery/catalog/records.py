"""Plain data that goes in and out of the catalog.

``New*`` records are what ingest hands in; the others are what the catalog hands back. Box and
landmark coordinates follow the convention written down in ``facesearch.types``. Times are UTC
ISO 8601 strings. Embeddings are numpy float32 vectors; they are left out of equality.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from facesearch.types import BBox, Embedding, fields_dict

RunStatus = Literal["completed", "failed", "interrupted"]
# "abandoned": its process died without finishing it (killed, its machine stopped), found by
# another process (``Catalog.release_run``)
RUN_STATUSES: tuple[str, ...] = ("running", "completed", "failed", "interrupted", "abandoned")


@dataclass(frozen=True)
class NewFace:
    """A face to store: where it is in its image, how good it is, and its embedding."""

    face_index: int  # position of the face in its image (the detector's order)
    bbox: BBox
    landmarks: tuple[tuple[float, float], ...]  # five (x, y) points
    det_score: float
    quality: Mapping[str, float]  # Quality.as_dict(): size, sharpness, yaw, pitch, roll, score
    model_id: str  # the embedder that produced the embedding
    embedding: Embedding = field(compare=False, repr=False)


@dataclass(frozen=True)
class NewImage:
    """An image to store in a collection, with every face found in it."""

    sha256: str  # of the file's bytes, lower-case hex; (collection, sha256) is unique
    source: str  # where it came from: a path, an archive member, a URI
    size_bytes: int
    width: int
    height: int
    metadata: Mapping[str, Any] | None = None  # any JSON object
    subject: str | None = None  # label the faces with this subject (created on demand)
    faces: tuple[NewFace, ...] = ()
    label_faces: tuple[int, ...] | None = None  # face_index values the subject applies to;
    # None: every face of the image


@dataclass(frozen=True)
class BlocklistSeen:
    """The erasure-blocklist entries a batch of new faces was screened against: those of
    ``model_id`` that apply to an ingest of ``org`` (None: the deployment-wide ones only),
    ``entries`` of them, the newest with id ``last_id`` (0: none). Both, since an entry can
    be taken back (a failed erasure's): one out and another in keeps the count."""

    model_id: str
    org: str | None
    entries: int
    last_id: int = 0


@dataclass(frozen=True)
class PendingBlock:
    """An erasure-blocklist entry whose erasure has not yet written its audit entry
    (``Catalog.blocklist_pending``): one still running, or one killed in between."""

    id: int
    model_id: str
    org: str | None  # None: the host's, for every ingest
    added: str  # UTC ISO 8601
    note: str
    owner: RunOwner | None  # the erasing process (None: unreadable)
    failed: str | None = None  # why its erasure gave up recording it (``blocklist_unrecorded``)
    renewed: str | None = None  # the owner's last sign of life (UTC ISO 8601; None: none yet)
    settling: bool = False  # ``owner`` is a settlement of it, not its erasure (``blocklist_claim``)
    held: str = field(default="", compare=False, repr=False)  # the pending text, as stored

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "model_id": self.model_id,
            "org": self.org,
            "added": self.added,
            "note": self.note,
            "process": None if self.owner is None else self.owner.as_dict(),
            "failed": self.failed,
            "renewed": self.renewed,
            "settling": self.settling,
        }


@dataclass(frozen=True)
class AddedImage:
    """What ``add_images`` did with one NewImage, in the order they were given."""

    image_id: int  # the new image, or the one already there for a duplicate
    face_ids: tuple[int, ...]  # in the order of NewImage.faces; empty for a duplicate
    duplicate: bool  # the collection already held this sha256: nothing was added


@dataclass(frozen=True)
class CollectionInfo:
    name: str
    images: int
    faces: int
    created: str


@dataclass(frozen=True)
class ImageRecord:
    id: int
    sha256: str
    collection: str
    source: str
    size_bytes: int
    width: int
    height: int
    added: str
    metadata: dict[str, Any] | None


@dataclass(frozen=True)
class FaceRecord:
    """A stored face with what a search result needs to show it."""

    id: int
    image_id: int
    collection: str
    source: str  # the image's source
    face_index: int
    bbox: BBox
    landmarks: tuple[tuple[float, float], ...]
    det_score: float
    quality: dict[str, float]
    model_id: str
    subject: str | None
    image_sha256: str = ""  # the image file's sha256 (a search flags its own probe by it)
    embedding: Embedding | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class RunOwner:
    """The process that holds an ingest run (``Catalog.hold_run``): enough to tell, from the
    same machine, whether it is still there (``gallery.run_lease``)."""

    host: str  # the machine's name, for people to read
    space: str  # the process id space: boot id and pid namespace ("" where unknown)
    pid: int
    since: str  # when the process started, in the kernel's clock ticks ("" where unknown)

    def as_dict(self) -> dict[str, Any]:
        return fields_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunOwner:
        return cls(str(data["host"]), str(data["space"]), int(data["pid"]), str(data["since"]))


# The reason recorded for a photo an ingest skipped because every face in it matches an entry
# of the erasure blocklist (an opt-out, not a broken file); a later copy of its bytes in the
# same run records "the same bytes as SOURCE, which failed: " and this.
EVERY_FACE_BLOCKED = "every face matches the erasure blocklist"


@dataclass(frozen=True)
class RunCounts:
    """Ingest runs and the files they did not add: ``failed``, those that could not be
    ingested; ``blocklisted``, those skipped on purpose (``EVERY_FACE_BLOCKED``)."""

    runs: int
    failed: int
    blocklisted: int


@dataclass(frozen=True)
class IngestRun:
    id: int
    started: str
    finished: str | None  # None while running, or when the run was cut short by a crash
    arguments: dict[str, Any]
    summary: dict[str, Any] | None
    status: str  # one of RUN_STATUSES
    failures: int
    # committed so far, with each batch (None: a run from before these were counted)
    images_added: int | None = None
    faces_added: int | None = None
    owner: RunOwner | None = None  # the process holding it (None: nobody answers for it)
    renewed: str | None = None  # the last sign of life of the owner while it holds the run


@dataclass(frozen=True)
class IngestFailure:
    run_id: int
    source: str
    reason: str


@dataclass(frozen=True)
class CatalogState:
    """What a derived vector index records to tell later whether it is stale.

    Two states are equal exactly when the faces of the model are the same ones: adding a face
    raises ``max_face_id`` (ids are never reused), deleting one raises ``erasure_generation``,
    and ``catalog_id`` differs between two catalog files. ``database_id`` is the PostgreSQL
    database the catalog is in (None: SQLite, or a state recorded before it was kept): a copy
    of the database keeps the ``catalog_id`` but is another database (``_identity``).
    """

    catalog_id: str
    model_id: str
    dim: int | None  # None while the catalog holds no embedding of this model
    face_count: int
    max_face_id: int  # 0 when there is no face
    erasure_generation: int
    database_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return fields_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CatalogState:
        """Read back ``as_dict()``; KeyError or ValueError if it is not one."""
        dim = data["dim"]
        return cls(
            catalog_id=str(data["catalog_id"]),
            model_id=str(data["model_id"]),
            dim=None if dim is None else int(dim),
            face_count=int(data["face_count"]),
            max_face_id=int(data["max_face_id"]),
            erasure_generation=int(data["erasure_generation"]),
            database_id=None if data.get("database_id") is None else str(data["database_id"]),
        )
