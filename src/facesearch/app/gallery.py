"""Reads of the gallery, checked and logged: a face, its crop, an image, its file, a subject
(each a read of personal data, see ``reads``); collections and stats (counts only, not logged).

A crop or file reached from a search's view (``search=``) is part of the read of that search
and of its candidates only (NotFoundError otherwise); any other is logged under the case the
reader gave, or none. Sources are read from the catalog only, never from a request.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from facesearch.accountability import AccountabilityStore, Actor, Permission
from facesearch.app.checks import allow
from facesearch.app.reads import read_gallery
from facesearch.app.scope import reach_of, scope_of
from facesearch.engine import Engine
from facesearch.errors import CorruptImageError, ImageError, NotFoundError
from facesearch.gallery.catalog import Catalog, CollectionInfo, FaceRecord, ImageRecord
from facesearch.gallery.sources import read_source
from facesearch.reports.html import face_crop_jpeg
from facesearch.settings import Settings
from facesearch.types import BBox

__all__ = [
    "collection",
    "collections",
    "crop",
    "face",
    "file_bytes",
    "image",
    "overview",
    "reindex",
    "stats",
    "subject",
]


def crop(data: bytes, bbox: BBox, settings: Settings) -> bytes:
    """A JPEG of the face at ``bbox`` (widened by 30 %, at most 160 px); ImageError if the
    image cannot be decoded."""
    try:
        return face_crop_jpeg(
            data, bbox, settings.limits.max_file_bytes, settings.limits.max_pixels
        )
    except ImageError:
        raise
    except (OSError, ValueError) as exc:
        raise CorruptImageError(f"cannot crop the face: {exc}") from exc


def face(
    store: AccountabilityStore, catalog: Catalog, actor: Actor, face_id: int, *, case: str | None
) -> FaceRecord:
    return read_gallery(
        store, catalog, actor, "face", lambda c: c.face(face_id), case=case, face_id=face_id
    )


def _face_crop(catalog: Catalog, face_id: int, settings: Settings) -> bytes:
    record = catalog.face(face_id)
    return crop(_source(record.source, record.image_sha256, settings), record.bbox, settings)


def _image_file(catalog: Catalog, image_id: int, settings: Settings) -> bytes:
    image = catalog.image(image_id)
    return _source(image.source, image.sha256, settings)


def _source(source: str, sha256: str, settings: Settings) -> bytes:
    """The image's bytes, if they are still those ingested (``read_source``)."""
    data: bytes = read_source(source, settings.limits.max_file_bytes, settings.home, sha256=sha256)
    return data


FileRead = Literal["face_crop", "image_file"]
FILE_READS: dict[str, tuple[str, Callable[[Catalog, int, Settings], bytes]]] = {
    "face_crop": ("face_id", _face_crop),
    "image_file": ("image_id", _image_file),
}


def file_bytes(
    store: AccountabilityStore,
    catalog: Catalog,
    settings: Settings,
    actor: Actor,
    what: FileRead,
    item_id: int,
    *,
    case: str | None = None,
    search: int | None = None,
    people_read: int | None = None,
) -> bytes:
    """``face_crop``: a JPEG crop of the gallery face ``item_id``; ``image_file``: the bytes
    of the source file (or archive member) of the gallery image ``item_id``. ``search`` or
    ``people_read``: reached from that search's or People page's read (``read_gallery``)."""
    key, read = FILE_READS[what]
    return read_gallery(
        store,
        catalog,
        actor,
        what,
        lambda c: read(c, item_id, settings),
        case=case,
        search=search,
        people_read=people_read,
        **{key: item_id},
    )


def image(
    store: AccountabilityStore, catalog: Catalog, actor: Actor, image_id: int, *, case: str | None
) -> tuple[ImageRecord, list[FaceRecord]]:
    def make(c: Catalog) -> tuple[ImageRecord, list[FaceRecord]]:
        return c.image(image_id), c.faces_of_image(image_id)

    return read_gallery(store, catalog, actor, "image", make, case=case, image_id=image_id)


def subject(
    store: AccountabilityStore, catalog: Catalog, actor: Actor, name: str, *, case: str | None
) -> list[FaceRecord]:
    """The faces of a subject in the collections ``actor``'s organisation sees (NotFoundError,
    as for an unknown name, when it sees none of them)."""
    scope = scope_of(store, catalog, actor)

    def faces(c: Catalog) -> list[FaceRecord]:
        found = [f for f in c.faces_of_subject(name) if scope.sees(f.collection)]
        if not found:
            raise NotFoundError(f"no subject named {name!r}")
        return found

    return read_gallery(store, catalog, actor, "subject", faces, case=case, subject=name)


def collections(store: AccountabilityStore, catalog: Catalog, actor: Actor) -> list[CollectionInfo]:
    """The collections ``actor``'s organisation owns or was granted."""
    allow(actor, Permission.READ_GALLERY)
    scope = scope_of(store, catalog, actor)
    return [c for c in catalog.collections() if scope.sees(c.name)]


def collection(
    store: AccountabilityStore, catalog: Catalog, actor: Actor, name: str
) -> CollectionInfo:
    for info in collections(store, catalog, actor):
        if info.name == name:
            return info
    raise NotFoundError(f"no collection named {name!r}")


def stats(store: AccountabilityStore, catalog: Catalog, actor: Actor) -> dict[str, Any]:
    """What the catalog holds (counts per collection, subjects, ingest runs, models); for an
    organisation that does not own every collection, the counts of those it sees only: the
    subjects labelling a face in them, the ingest runs into those it owns (a shared one's
    runs are its owner's), its models by name and size, without the catalog-wide face count
    of each. ``ingest_failures``: the files that could not be ingested; ``ingest_blocklisted``:
    those skipped because every face matches the erasure blocklist."""
    allow(actor, Permission.READ_GALLERY)
    scope = scope_of(store, catalog, actor)
    held = dict(catalog.stats())
    if scope.everything:  # every collection, but the entries of its own ingests (not the CLI)
        if actor.is_local:
            return held
        return {**held, "blocklist": _blocklist_entries(catalog, held["models"], actor.org)}
    seen = [c for c in catalog.collections() if scope.sees(c.name)]
    runs = catalog.run_counts(sorted(c.name for c in seen if scope.owns(c.name)))
    return {
        "images": sum(c.images for c in seen),
        "faces": sum(c.faces for c in seen),
        "subjects": catalog.subject_count(sorted(c.name for c in seen)),
        "collections": len(seen),
        "ingest_runs": runs.runs,
        "ingest_failures": runs.failed,
        "ingest_blocklisted": runs.blocklisted,
        "models": [{k: v for k, v in m.items() if k != "faces"} for m in held.get("models", [])]
        if seen
        else [],
        "blocklist": _blocklist_entries(catalog, held.get("models", []), actor.org),
    }


def _blocklist_entries(catalog: Catalog, models: list[dict[str, Any]], org: str | None) -> int:
    """The erasure-blocklist entries that apply to ``org``'s ingests: the deployment-wide ones
    and its own, of every model (another organisation's neither count nor show)."""
    total = 0
    for model in models:
        sizes = catalog.blocklist_sizes(model["name"])
        total += sum(n for o, n in sizes.items() if o is None or (org or "").lower() == o.lower())
    return total


def overview(engine: Engine, store: AccountabilityStore, actor: Actor) -> dict[str, Any]:
    """``stats`` plus the vector indexes' size, the model and the home (``facesearch stats``);
    for an organisation that does not own every collection, ``stats`` of those it sees (the
    host's CLI counts everything: ``reach_of``); and how ingests match new faces against
    the erasure-blocklist entries that apply to them (``blocklist_ingests``)."""
    allow(actor, Permission.READ_GALLERY)
    if actor.org is not None and not reach_of(store, engine.catalog, actor).everything:
        out = stats(store, engine.catalog, actor)
        out["blocklist_ingests"] = blocklist_ingests(engine, actor.org)
        return out
    out = engine.stats()
    out["blocklist_ingests"] = blocklist_ingests(engine, None)
    return out


def blocklist_ingests(engine: Engine, org: str | None) -> list[dict[str, Any]]:
    """Per kind of ingest, the erasure-blocklist entries that apply to it and how it matches
    new faces against them (``gallery.blocklist``): each entry's false match rate and the
    similarity threshold, the expected share of other people's new faces skipped, and the
    share of new photos of an erased person let in all the same.

    The deployment-wide entries (``org`` None) apply to every ingest, an organisation's to
    its own ingests besides. For ``org`` the one row of its ingests (another organisation's
    entries neither count nor show); for None (who sees everything) a row for the ingests of
    an organisation with no entries of its own and one per organisation with some."""
    sizes = engine.catalog.blocklist_sizes(engine.pipeline.model_id)
    wide = sizes.get(None, 0)
    if org is not None:
        own = sum(n for o, n in sizes.items() if o is not None and o.lower() == org.lower())
        rows: list[tuple[str | None, int]] = [(org, wide + own)]
    else:
        rows = [(None, wide), *((o, wide + n) for o, n in sizes.items() if o is not None)]
    return [{"org": o, **engine.blocklist_match(k).as_dict()} for o, k in rows]


def reindex(engine: Engine, actor: Actor) -> int:
    """Rebuild every vector index from the catalog (the source of truth); faces indexed."""
    allow(actor, Permission.INGEST)
    return engine.reindex()
