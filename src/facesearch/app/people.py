"""People, checked and audited: build a collection's persons, read them, review them.

- ``build_people``: cluster every face of a collection into persons (``gallery.people``);
  one ``people_build`` entry with the counts.
- ``list_people`` and ``show_person``: reads of personal data, one ``read`` entry each (what
  "people": the collection and the counts; "person": the person and the face ids shown). The
  crops and photos they show are part of that read (``app.people_reads``).
- ``name_person``, ``merge_persons``, ``split_person``, ``not_person``: a reviewer's change,
  one entry each (``person_name``, ``person_merge``, ``person_split``, ``person_not``); a
  later build or ingest never undoes it (the faces are pinned, "not this person" is kept).
- ``attach_new``: after an ingest, the new faces of a collection that has been built join
  persons (called by ``app.ingest``; logged in the ingest's entry).

Building and reviewing need READ_GALLERY and CURATE; reading needs READ_GALLERY. The trail
is checked writable before a change, which is logged after it (as ``ingest`` does). Scoped
(``app.scope``): a collection or person the actor's organisation may not see, or not change,
is not found, exactly as one that does not exist.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from facesearch.accountability import AccountabilityStore, Action, Actor, Permission
from facesearch.app.checks import allow, check_case, entry_missing, log
from facesearch.app.people_records import PeoplePage, PeopleRecord, PersonFace, PersonRecord
from facesearch.app.reads import log_read
from facesearch.app.scope import scope_of
from facesearch.core import clustering
from facesearch.engine import Engine
from facesearch.errors import FaceSearchError, InputError, NotFoundError
from facesearch.gallery import people
from facesearch.gallery.catalog import Catalog, StoredPerson

_log = logging.getLogger(__name__)

__all__ = [
    "BuildRecord",
    "BuildRequest",
    "PeopleRecord",
    "PersonFace",
    "PersonRecord",
    "ReviewRecord",
    "ReviewRequest",
    "attach_new",
    "build_people",
    "list_people",
    "merge_persons",
    "name_person",
    "not_person",
    "people_built",
    "person_names",
    "persons_of",
    "show_person",
    "split_person",
]


@dataclass(frozen=True)
class BuildRequest:
    """Build the people of ``collection``: ``method`` and the similarity threshold, taken
    from the calibration table at ``max_fmr`` (defaults: ``core.clustering``'s)."""

    collection: str = "default"
    method: clustering.Method = clustering.DEFAULT_METHOD
    max_fmr: float = clustering.DEFAULT_MAX_FMR
    case: str | None = None
    purpose: str | None = None


@dataclass(frozen=True)
class BuildRecord:
    id: int  # the audit entry
    summary: people.BuildSummary

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, **self.summary.as_dict()}


@dataclass(frozen=True)
class ReviewRequest:
    """A reviewer's change to ``person``: the other fields are those the change takes
    (``name`` for name, ``other`` for merge, ``face_ids`` for split and not-this-person)."""

    person: int
    name: str | None = None
    other: int | None = None
    face_ids: tuple[int, ...] = ()
    case: str | None = None
    purpose: str | None = None


@dataclass(frozen=True)
class ReviewRecord:
    """A logged change (entry ``id``, its ``action``) and the person it leaves: the person
    named or kept by a merge, the new person of a split or of "not this person"."""

    id: int
    action: str
    person: PersonRecord

    def as_json(self, show_path: Callable[[str], str] = str) -> dict[str, Any]:
        return {
            "id": self.id,
            "action": self.action,
            "person": self.person.as_json(show_path, detail=True),
        }


# -- build and attach ------------------------------------------------------------------------


def build_people(
    engine: Engine, store: AccountabilityStore, actor: Actor, request: BuildRequest
) -> BuildRecord:
    """Cluster every face of the collection into persons, keeping every reviewer's decision
    and the person ids where it can; one ``people_build`` entry."""
    checked = _curating(store, actor, request.case, request.purpose)
    scope_of(store, engine.catalog, actor).check_owns(request.collection)
    summary = people.build(
        engine.catalog,
        request.collection,
        engine.pipeline.model_id,
        engine.calibration.threshold_for_asked_fmr(request.max_fmr),
        method=request.method,
        search_ids=partial(engine.indexes.search, collections=[request.collection]),
    )
    payload = {**summary.as_dict(), "max_fmr": request.max_fmr}
    done = f"built the people of the collection {request.collection!r}"
    return BuildRecord(
        _log_change(store, actor, Action.PEOPLE_BUILD, checked, payload, done), summary
    )


def attach_new(engine: Engine, collection: str) -> people.AttachSummary | None:
    """Place the faces of ``collection`` that have no person yet, when its people have been
    built (None otherwise). Unchecked: part of the ingest that added them, logged there. A
    failure must not keep the ingest from its entry: it is logged as a warning and told in
    the summary's ``error``; the next attach or build places those faces."""
    try:
        return people.attach(
            engine.catalog,
            collection,
            engine.pipeline.model_id,
            engine.calibration.threshold_for_fmr(clustering.DEFAULT_MAX_FMR),
        )
    except FaceSearchError as exc:
        _log.warning("the new faces of %r joined no person: %s", collection, exc)
        return people.AttachSummary(collection, 0, 0, 0, error=str(exc))


# -- reads -------------------------------------------------------------------------------------


def people_page(people: Sequence[PersonRecord], at: int, per_page: int) -> PeoplePage:
    """Page ``at`` (from 1) of ``people``, the most faces first, ``per_page`` a page. Past
    the last page: the last."""
    ranked = sorted(people, key=lambda p: (-len(p.faces), p.person))
    pages = max(1, -(-len(ranked) // per_page))
    at = min(max(1, at), pages)
    first = (at - 1) * per_page
    return PeoplePage(at, pages, tuple(ranked[first : first + per_page]))


def list_people(
    engine: Engine,
    store: AccountabilityStore,
    actor: Actor,
    collection: str = "default",
    *,
    case: str | None = None,
    page: tuple[int, int] | None = None,
) -> PeopleRecord:
    """Every person of ``collection`` with its faces, logged as one read. The entry says what
    the read showed, which its crops and photos reached with it may be (``people_reads``):
    with ``page`` (page ``at``, ``per_page``: the People page's grid, ``people_page``), the
    cover faces of that page (``face_ids``); without, every face listed (``last_face_id``:
    faces ingested since are not)."""
    allow(actor, Permission.READ_GALLERY)
    check_case(case, None, required=False)
    scope_of(store, engine.catalog, actor).check_sees(collection)
    found = tuple(PersonRecord.of(p) for p in engine.catalog.persons(collection))
    faces = sum(len(p.faces) for p in found)
    shown: dict[str, Any]
    paged = None if page is None else people_page(found, *page)
    if paged is not None:
        shown = {"page": paged.at, "face_ids": [p.cover.face_id for p in paged.persons]}
    else:
        shown = {"last_face_id": max((f.face_id for p in found for f in p.faces), default=0)}
    entry = log_read(
        store,
        actor,
        "people",
        case=case,
        collection=collection,
        persons=len(found),
        faces=faces,
        **shown,
    )
    return PeopleRecord(entry.seq, collection, found, paged)


def show_person(
    engine: Engine,
    store: AccountabilityStore,
    actor: Actor,
    person: int,
    *,
    case: str | None = None,
) -> PersonRecord:
    """One person and every face of it (the least certain first), logged as one read (its
    entry: the record's ``read``)."""
    allow(actor, Permission.READ_GALLERY)
    check_case(case, None, required=False)
    record = PersonRecord.of(_person(engine, store, actor, person))
    faces = [f.face_id for f in record.faces]
    entry = log_read(store, actor, "person", case=case, person=record.person, face_ids=faces)
    return replace(record, read=entry.seq)


def people_built(engine: Engine, store: AccountabilityStore, actor: Actor, collection: str) -> bool:
    """Whether the people of ``collection`` have been built (then ingest keeps them up to
    date). NotFoundError for an unknown collection, or one out of the actor's scope."""
    allow(actor, Permission.READ_GALLERY)
    scope_of(store, engine.catalog, actor).check_sees(collection)
    return engine.catalog.people_built(collection)


def persons_of(
    engine: Engine, store: AccountabilityStore, actor: Actor, face_ids: Sequence[int]
) -> dict[int, int]:
    """``{face id: person id}`` for those of ``face_ids`` that have a person, in collections
    ``actor``'s organisation sees (ids only, no personal data: e.g. to group the candidates
    of a search already logged; one in a collection whose share was withdrawn since has
    none, as an erased one)."""
    allow(actor, Permission.READ_GALLERY)
    scope = scope_of(store, engine.catalog, actor)
    if not scope.everything:
        face_ids = [f.id for f in engine.catalog.faces(face_ids) if scope.sees(f.collection)]
    return engine.catalog.persons_of(face_ids)


def person_names(
    engine: Engine, store: AccountabilityStore, actor: Actor, person_ids: Sequence[int]
) -> dict[int, str | None]:
    """``{person id: name}`` (None: unnamed) of those of ``person_ids`` that exist in
    collections ``actor``'s organisation sees: the names reviewers gave, e.g. to label the
    persons ``persons_of`` found for a search's hits."""
    allow(actor, Permission.READ_GALLERY)
    names = engine.catalog.person_names(person_ids)
    scope = scope_of(store, engine.catalog, actor)
    if scope.everything:
        return names
    homes = engine.catalog.person_collections(list(names))  # one read; a person merged away
    return {
        p: n for p, n in names.items() if p in homes and scope.sees(homes[p])
    }  # meanwhile: gone


# -- review ------------------------------------------------------------------------------------


def name_person(
    engine: Engine, store: AccountabilityStore, actor: Actor, request: ReviewRequest
) -> ReviewRecord:
    """Name the person (``request.name``; None unnames it); its faces are pinned."""
    return _review(engine, store, actor, request, Action.PERSON_NAME, _name)


def merge_persons(
    engine: Engine, store: AccountabilityStore, actor: Actor, request: ReviewRequest
) -> ReviewRecord:
    """Merge ``request.other`` into ``request.person`` (refused when both hold a face of
    one photo); the faces are pinned, ``other`` is gone."""
    return _review(engine, store, actor, request, Action.PERSON_MERGE, _merge)


def split_person(
    engine: Engine, store: AccountabilityStore, actor: Actor, request: ReviewRequest
) -> ReviewRecord:
    """Move ``request.face_ids`` off the person into a new person; both sides are pinned."""
    return _review(engine, store, actor, request, Action.PERSON_SPLIT, _split)


def not_person(
    engine: Engine, store: AccountabilityStore, actor: Actor, request: ReviewRequest
) -> ReviewRecord:
    """Record that the face ``request.face_ids`` (one face) is not this person: every later
    build and ingest remembers it; the face moves to a new person of its own."""
    return _review(engine, store, actor, request, Action.PERSON_NOT, _not)


# What a review change returns: the person it leaves, and its entry's payload (bar "person").
Change = tuple[StoredPerson, dict[str, Any]]


def _name(catalog: Catalog, request: ReviewRequest) -> Change:
    before, after = catalog.name_person(request.person, request.name)
    return after, {"name": after.name, "previous_name": before.name, "face_ids": _ids(after)}


def _merge(catalog: Catalog, request: ReviewRequest) -> Change:
    if request.other is None:
        raise InputError("name the other person")
    other, kept = catalog.merge_persons(request.person, request.other)
    return kept, {"other": other.id, "other_name": other.name, "face_ids": _ids(other)}


def _split(catalog: Catalog, request: ReviewRequest) -> Change:
    new = catalog.split_person(request.person, request.face_ids)
    return new, {"new_person": new.id, "face_ids": _ids(new)}


def _not(catalog: Catalog, request: ReviewRequest) -> Change:
    if len(request.face_ids) != 1:
        raise InputError("name exactly one face that is not this person")
    new = catalog.not_person(request.person, request.face_ids[0])
    return new, {"face_id": request.face_ids[0], "new_person": new.id}


# -- shared -------------------------------------------------------------------------------------


def _ids(person: StoredPerson) -> list[int]:
    return sorted(f.face_id for f in person.faces)


def _person(
    engine: Engine, store: AccountabilityStore, actor: Actor, person: int, change: bool = False
) -> StoredPerson:
    """Person ``person`` when ``actor``'s organisation sees its collection (owns it, for a
    ``change``); NotFoundError as for a person that does not exist otherwise."""
    found = engine.catalog.person(person)
    scope = scope_of(store, engine.catalog, actor)
    if not (scope.owns if change else scope.sees)(found.collection):
        raise NotFoundError(f"no person with id {person}")
    return found


def _curating(
    store: AccountabilityStore, actor: Actor, case: str | None, purpose: str | None
) -> tuple[str | None, str | None]:
    """The checks of a change to persons, and the trail checked writable before it."""
    allow(actor, Permission.READ_GALLERY)
    allow(actor, Permission.CURATE)
    checked = check_case(case, purpose, required=False)
    store.audit.check_writable()
    return checked


def _log_change(
    store: AccountabilityStore,
    actor: Actor,
    action: Action,
    checked: tuple[str | None, str | None],
    payload: dict[str, Any],
    done: str,
) -> int:
    """Log a change made (case and purpose as checked); the error says it was made when the
    entry cannot be written."""
    try:
        return log(store, actor, action, *checked, payload).seq
    except FaceSearchError as exc:
        raise entry_missing(exc, done) from exc


def _review(
    engine: Engine,
    store: AccountabilityStore,
    actor: Actor,
    request: ReviewRequest,
    action: Action,
    change: Callable[[Catalog, ReviewRequest], Change],
) -> ReviewRecord:
    checked = _curating(store, actor, request.case, request.purpose)
    for one in (request.person, request.other):
        if one is not None:
            _person(engine, store, actor, one, change=True)
    person, fields = change(engine.catalog, request)
    payload = {"person": request.person, **fields}
    done = f"the {action.value.replace('_', ' ')} of person {request.person} was made"
    seq = _log_change(store, actor, action, checked, payload, done)
    return ReviewRecord(seq, action.value, PersonRecord.of(person))
