"""Browsing the gallery a page at a time, and what an erasure "like this photo" would take;
both checked and logged.

``browse``: faces, images or subjects, filtered by collection, subject name prefix and
labelled / unlabelled, in a stable order (faces and images by id, subjects by name), one page
of at most ``MAX_PER_PAGE``. A page is a read of personal data: one ``read`` entry (what
``gallery_page``) naming its filters and the ids it shows, under the case the reader gave.

``erase_preview``: the gallery faces that ``erase`` with the same photo and false match rate
would remove now (``Engine.faces_like`` over the collections the eraser's organisation owns,
the very selection ``erase`` makes), for the confirmation step before an erasure; erasers
only, logged as a read (what ``erase_preview``, the photo's sha256 and the face ids listed).
The erasure itself stays ``app.erase``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Literal

from facesearch.accountability import AccountabilityStore, Actor, Permission
from facesearch.app.checks import allow, check_case, sha256
from facesearch.app.reads import log_read
from facesearch.app.scope import reach_of, scope_of
from facesearch.engine import Engine
from facesearch.errors import InputError, NotFoundError
from facesearch.gallery.catalog import Catalog, FaceRecord
from facesearch.gallery.catalog.browse import BrowseFilter, ImageEntry, SubjectEntry
from facesearch.like_odds import LikeOdds, like_odds

__all__ = [
    "KINDS",
    "MAX_PER_PAGE",
    "BrowseRecord",
    "BrowseRequest",
    "ErasePreview",
    "ImageEntry",
    "SubjectEntry",
    "browse",
    "erase_preview",
]

Kind = Literal["faces", "images", "subjects"]
KINDS: tuple[Kind, ...] = ("faces", "images", "subjects")
PER_PAGE = 24
MAX_PER_PAGE = 48  # each face shown is a crop, itself a logged read
MAX_PREFIX_CHARS = 200


@dataclass(frozen=True)
class BrowseRequest:
    """One page of one kind of item; ``page`` counts from 1."""

    kind: Kind
    collection: str | None = None
    subject_prefix: str | None = None
    labelled: bool | None = None
    page: int = 1
    per_page: int = PER_PAGE
    case: str | None = None

    def check(self) -> None:
        if self.kind not in KINDS:
            raise InputError(f"browse one of: {', '.join(KINDS)}")
        if self.page < 1:
            raise InputError("pages are numbered from 1")
        if not 1 <= self.per_page <= MAX_PER_PAGE:
            raise InputError(f"a page shows 1 to {MAX_PER_PAGE} items")
        if self.subject_prefix is not None and len(self.subject_prefix) > MAX_PREFIX_CHARS:
            raise InputError(f"a subject prefix has at most {MAX_PREFIX_CHARS} characters")

    def filters(self) -> BrowseFilter:
        return BrowseFilter(self.collection, self.subject_prefix or None, self.labelled)


Item = FaceRecord | ImageEntry | SubjectEntry


@dataclass(frozen=True)
class BrowseRecord:
    """One page as shown and logged (``id``: its read entry). ``pages`` is at least 1."""

    id: int
    request: BrowseRequest
    items: tuple[Item, ...]
    total: int
    pages: int

    def filters_json(self) -> dict[str, Any]:
        r = self.request
        return {"collection": r.collection, "subject": r.subject_prefix, "labelled": r.labelled}


def browse(
    store: AccountabilityStore, catalog: Catalog, actor: Actor, request: BrowseRequest
) -> BrowseRecord:
    """One page of the gallery (NotFoundError for an unknown collection, or a page past the
    last one), logged as a read naming what it shows."""
    allow(actor, Permission.READ_GALLERY)
    request.check()
    case, _ = check_case(request.case, None, required=False)
    scope = scope_of(store, catalog, actor)
    if request.collection is not None and (
        request.collection not in {c.name for c in catalog.collections()}
        or not scope.sees(request.collection)
    ):
        raise NotFoundError(f"no collection named {request.collection!r}")
    offset = (request.page - 1) * request.per_page
    filters, size = request.filters(), request.per_page
    if not scope.everything:
        filters = replace(filters, within=tuple(sorted(scope.visible)))
    items: list[Item]
    if request.kind == "faces":
        faces, total = catalog.list_faces(filters, offset, size)
        items = list(faces)
    elif request.kind == "images":
        images, total = catalog.list_images(filters, offset, size)
        items = list(images)
    else:
        subjects, total = catalog.list_subjects(filters, offset, size)
        items = list(subjects)
    pages = max(1, math.ceil(total / request.per_page))
    if request.page > pages:
        raise NotFoundError(f"no page {request.page}: there {_are(pages)}")
    shown = _shown_ids(request.kind, items)
    entry = log_read(
        store,
        actor,
        "gallery_page",
        case=case,
        kind=request.kind,
        filters={
            "collection": request.collection,
            "subject": request.subject_prefix,
            "labelled": request.labelled,
        },
        page=request.page,
        **shown,
    )
    return BrowseRecord(entry.seq, request, tuple(items), total, pages)


def _are(pages: int) -> str:
    return "is 1 page" if pages == 1 else f"are {pages:,} pages"


def _shown_ids(kind: Kind, items: list[Item]) -> dict[str, Any]:
    if kind == "faces":
        return {"face_ids": [i.id for i in items if isinstance(i, FaceRecord)]}
    if kind == "images":
        return {"image_ids": [i.image.id for i in items if isinstance(i, ImageEntry)]}
    return {"subjects": [i.name for i in items if isinstance(i, SubjectEntry)]}


@dataclass(frozen=True)
class ErasePreview:
    """What an erasure like a photo would remove now (``id``: the read entry)."""

    id: int
    like_sha256: str
    threshold: float
    faces: tuple[FaceRecord, ...]
    odds: LikeOdds  # the strangers expected; its refusal: why erase would refuse it now

    @property
    def image_ids(self) -> tuple[int, ...]:
        return tuple(sorted({f.image_id for f in self.faces}))

    @property
    def subjects(self) -> tuple[str, ...]:
        return tuple(sorted({f.subject for f in self.faces if f.subject}))


def erase_preview(
    engine: Engine,
    store: AccountabilityStore,
    actor: Actor,
    like: bytes,
    *,
    max_fmr: float | None = None,
    case: str | None = None,
) -> ErasePreview:
    """The gallery faces ``erase(EraseRequest(like=like, max_fmr=max_fmr))`` would remove
    now, most similar first; logged as a read."""
    allow(actor, Permission.ERASE)
    case, _ = check_case(case, None, required=False)
    person = engine.person_like(like, max_fmr)
    scope = reach_of(store, engine.catalog, actor)  # what erase would take: its own faces
    odds = like_odds(engine, person, scope.erasable)
    ids = engine.faces_like(person, scope.erasable)
    held = {f.id: f for f in engine.catalog.faces(ids)}
    faces = tuple(held[i] for i in ids if i in held)
    digest = sha256(like)
    entry = log_read(
        store,
        actor,
        "erase_preview",
        case=case,
        like_sha256=digest,
        max_fmr=max_fmr,
        face_ids=[f.id for f in faces],
    )
    return ErasePreview(entry.seq, digest, person.threshold, faces, odds)
