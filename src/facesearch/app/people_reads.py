"""The crops and photos a People page or a person page shows, as part of that page's read.

A page of ``app.people`` (``list_people``: every person of a collection; ``show_person``: one
person and the face ids shown) is one read of personal data, one ``read`` entry. The crops and
photos such a page shows are reached with that entry's seq (the server's ``?people_read=``) and
are part of it, neither charged nor logged again, when ``covered_by_people_read`` lets them:

- the entry is a ``read`` of what ``people`` or ``person`` by the same user (same name, same
  organisation);
- it is at most ``PEOPLE_READ_LASTS`` old (an hour): a page kept open longer must be reloaded
  (its links are refused, saying so; a reload is a new read);
- the face is one the read showed: one of its ``face_ids`` (a person's faces; the covers of
  a People page's grid); for a ``people`` read that listed every person with every face (the
  API's), a face of a person of its collection now that was there then (its id at most the
  entry's ``last_face_id``: ids are never reused); the photo holds such a face;
- and, in every case, the face (or photo) is still held, in a collection the actor's
  organisation sees now.

Anything else is NotFoundError, the same as for an id that does not exist: another user's
seq, a seq that is no such read, a face outside it, one erased since or out of reach.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from facesearch.accountability import AccountabilityStore, Action, Actor, AuditEntry, Permission
from facesearch.app.checks import allow
from facesearch.app.scope import Scope, scope_of
from facesearch.errors import NotFoundError
from facesearch.gallery.catalog import Catalog
from facesearch.types import MAX_ID

__all__ = ["PAGE_READS", "PEOPLE_READ_LASTS", "covered_by_people_read", "people_read"]

PAGE_READS = frozenset({"people", "person"})  # the reads whose crops and photos are part of them
PEOPLE_READ_LASTS = timedelta(hours=1)


def people_read(store: AccountabilityStore, actor: Actor, seq: int) -> AuditEntry:
    """The ``read`` entry ``seq`` of a People or person page ``actor`` made, at most
    ``PEOPLE_READ_LASTS`` old. NotFoundError, as for no such entry, when it is not one of
    theirs; NotFoundError saying to reload the page when it is older."""
    entry = _entry(store, actor, seq)
    if (
        entry is None
        or entry.action != Action.READ.value
        or entry.payload.get("what") not in PAGE_READS
        or entry.actor != actor.name
    ):
        raise NotFoundError(f"no people read {seq}")
    if store.db.now() - entry.time > PEOPLE_READ_LASTS:
        hours = PEOPLE_READ_LASTS.total_seconds() / 3600
        raise NotFoundError(
            f"the page's read {seq} is more than {hours:g} hour old: reload the page"
        )
    return entry


def _entry(store: AccountabilityStore, actor: Actor, seq: int) -> AuditEntry | None:
    """Entry ``seq`` of ``actor``'s organisation (None: none there; the operator, of no
    organisation, reads no People page)."""
    if actor.org is None or not 1 <= seq <= MAX_ID:  # past int64: no entry, not an overflow
        return None
    try:
        return store.audit.get(seq, org=actor.org)
    except NotFoundError:
        return None


def covered_by_people_read(
    store: AccountabilityStore, catalog: Catalog, actor: Actor, seq: int, ids: Mapping[str, Any]
) -> None:
    """Whether the face (``face_id``) or photo (``image_id``) of ``ids`` is part of the
    People or person page read ``seq`` (module docstring): nothing when it is, NotFoundError
    otherwise."""
    allow(actor, Permission.READ_GALLERY)
    entry = people_read(store, actor, seq)
    scope = scope_of(store, catalog, actor)
    if "face_id" in ids:
        face_id = int(ids["face_id"])
        if face_id not in _faces_shown(catalog, scope, entry, [face_id]):
            raise NotFoundError(f"no face with id {face_id}")
    elif "image_id" in ids:
        image_id = int(ids["image_id"])
        if image_id not in _images_shown(catalog, scope, entry, image_id):
            raise NotFoundError(f"no image with id {image_id}")
    else:
        raise NotFoundError(f"no such part of people read {seq}")


def _faces_shown(
    catalog: Catalog, scope: Scope, entry: AuditEntry, face_ids: list[int]
) -> dict[int, int]:
    """``{face id: image id}`` of those of ``face_ids`` that read ``entry`` showed, still
    held and seen by ``scope``."""
    payload = entry.payload
    listed = payload.get("face_ids")
    if payload.get("what") == "person" or listed is not None:
        shown = {i for i in listed if isinstance(i, int)} if isinstance(listed, list) else set()
        face_ids = [i for i in face_ids if i in shown]
        held = [f for f in catalog.faces(face_ids) if scope.sees(f.collection)]
    else:  # the API's list: every face of every person then
        collection, last = payload.get("collection"), payload.get("last_face_id")
        last = last if isinstance(last, int) and not isinstance(last, bool) else 0
        face_ids = [i for i in face_ids if i <= last]
        held = [
            f
            for f in catalog.faces(face_ids)
            if f.collection == collection and scope.sees(f.collection)
        ]
        with_person = catalog.persons_of([f.id for f in held])
        held = [f for f in held if f.id in with_person]
    return {f.id: f.image_id for f in held}


def _images_shown(catalog: Catalog, scope: Scope, entry: AuditEntry, image_id: int) -> set[int]:
    """``{image_id}`` when the photo holds a face read ``entry`` showed (``_faces_shown``),
    else empty."""
    try:
        faces = catalog.faces_of_image(image_id)
    except NotFoundError:
        return set()
    return set(_faces_shown(catalog, scope, entry, [f.id for f in faces]).values())
