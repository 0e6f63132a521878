"""Reads of personal data: who may see what, and one ``read`` entry per read.

Who may see a search, its candidates and its probe: its author; admins and auditors (and the
local CLI actor); whoever recorded a verdict on one of its candidates; and, while a candidate
waits for a second person's verdict (two-person rule), every other person who may decide.
Anyone else gets the same NotFoundError as for a search that does not exist (no existence
oracle).

A read through a search (its record or page, a candidate) is logged under the search's case
and names the candidate face ids it shows; the images such a view shows (probe, probe crops,
candidates' crops and files reached with ``search=``) are part of that read and not logged
again. Likewise the crops and photos a People or person page showed, reached with that page's
read (``people_reads``). Any other read (a face, an image, a subject) is logged under the case
the reader gave, or none. A subject export (embeddings included) needs a case and purpose like
a search.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from facesearch.accountability import (
    AccountabilityStore,
    Action,
    Actor,
    AuditEntry,
    CandidateState,
    Case,
    Permission,
    Role,
    can,
)
from facesearch.accountability.audit import entry_in_org
from facesearch.accountability.permissions import DEFAULT_ORG
from facesearch.app.checks import CASE_REGISTERED, allow, check_case, check_use, log
from facesearch.app.people_reads import covered_by_people_read
from facesearch.app.records import OUTCOME_OK, SearchRecord
from facesearch.app.scope import Scope, reach_of, scope_of
from facesearch.core.calibration import CalibrationTable
from facesearch.engine import Engine
from facesearch.errors import InputError, NotFoundError
from facesearch.gallery.catalog import Catalog, FaceRecord

__all__ = [
    "GALLERY_READS",
    "READS",
    "SEARCH_READS",
    "ReviewedSearch",
    "erased_probes",
    "export_subject",
    "held_candidates",
    "kept_for_its_org",
    "load_search",
    "log_read",
    "may_see_search",
    "probe_kept",
    "probe_of",
    "read_candidate",
    "read_gallery",
    "read_search",
    "reviewed",
    "search_record",
    "visible_search",
    "withdrawn",
    "work_of_case",
]

T = TypeVar("T")

# What a ``read`` entry's payload names as "what": the search routes' reads, then the gallery's.
SEARCH_READS = frozenset(
    {"search", "search_page", "candidate", "candidate_page", "probe", "probe_crop"}
)
GALLERY_READS = frozenset(
    {"face", "face_crop", "image", "image_file", "subject", "subject_export", "people", "person"}
    | {"gallery_page", "erase_preview"}  # a page of app.browse; the faces an erasure would take
)
READS = SEARCH_READS | GALLERY_READS


def may_see_search(store: AccountabilityStore, actor: Actor, entry: AuditEntry) -> bool:
    """Whether ``actor`` may see this search, its candidates and its probe: its author, the
    members of its case (who read it in the case report too), whoever decided on one of its
    candidates or may give the second verdict one awaits, admins, auditors and supervisors."""
    if actor.org is None or not entry_in_org(entry.org, actor.org):
        return False
    overseers = (Role.ADMIN, Role.AUDITOR, Role.SUPERVISOR)
    if actor.is_local or actor.role in overseers or entry.actor == actor.name:
        return True
    if entry.case and _member_since(store, actor, entry.case, entry):
        return True
    may_decide = can(actor.role, Permission.DECIDE)
    for state in store.decisions.states(entry.seq):
        if any(r.actor == actor.name for r in state.history):
            return True
        if may_decide and state.awaits_second_person(actor.name):
            return True
    return False


def _member_since(store: AccountabilityStore, actor: Actor, number: str, entry: AuditEntry) -> bool:
    """Whether ``actor`` is a member of case ``number`` of its organisation's registry and
    ``entry`` is that case's work (``work_of_case``). A number outside the registry (as
    ``default`` takes while its registry is empty): no."""
    assert actor.org is not None
    try:
        case = store.cases.get(number, actor.org)
    except NotFoundError:
        return False
    return actor.name in case.members and work_of_case(entry, case)


def work_of_case(entry: AuditEntry, case: Case) -> bool:
    """Whether ``entry``, logged under ``case``'s number, is that case's work for its members:
    logged once it was opened, and not a use checked while the registry did not hold the
    number (``checks.case_marks``: one in flight when the case was opened). A search logged
    under a number before a case of that number was opened was not that case's: opening a
    case of a number seen in the trail, or in use by a search still running, must not open
    others' searches to its opener. Its author, admins, auditors and supervisors see it."""
    return entry.time >= case.opened_at and entry.payload.get(CASE_REGISTERED) is not False


def visible_search(store: AccountabilityStore, actor: Actor, seq: int) -> AuditEntry:
    """The audit entry of search ``seq``; NotFoundError, the same as for a search that does
    not exist, when ``actor`` may not see it."""
    try:
        entry: AuditEntry | None = store.audit.get(seq)
    except NotFoundError:
        entry = None
    if entry is None or entry.action != Action.SEARCH.value:
        raise NotFoundError(f"no search {seq}")
    if not may_see_search(store, actor, entry):
        raise NotFoundError(f"no search {seq}")
    return entry


def search_record(
    catalog: Catalog, table: CalibrationTable, entry: AuditEntry, scope: Scope | None = None
) -> SearchRecord:
    """A logged search with the gallery as it is now (candidates erased since: erased).
    ``scope``: the reader's; a candidate in a collection it sees no longer (a share withdrawn
    since the search) is shown as an erased one: nothing of that gallery as it is now."""
    if entry.action != Action.SEARCH.value:
        raise NotFoundError(f"no search {entry.seq}")
    ids = SearchRecord.candidate_ids(entry.payload)
    held = {r.id: r for r in held_candidates(catalog, ids, scope)}
    return SearchRecord.from_entry(
        entry.seq, entry.actor, entry.case, entry.purpose, entry.payload, held, table
    )


def held_candidates(
    catalog: Catalog, face_ids: Sequence[int], scope: Scope | None
) -> list[FaceRecord]:
    """The gallery faces of ``face_ids`` (a search's candidates) still held, and seen by
    ``scope`` (None: every one): a candidate in a collection whose share was withdrawn since
    is, for that reader, as one erased since."""
    return [r for r in catalog.faces(face_ids) if scope is None or scope.sees(r.collection)]


@dataclass(frozen=True)
class ReviewedSearch:
    """A logged search, the review state of its candidates, and whether its probe is kept."""

    record: SearchRecord
    states: Mapping[int | str, CandidateState]
    probe_kept: bool

    def state(self, face_id: int) -> CandidateState | None:
        return self.states.get(face_id)


def reviewed(
    store: AccountabilityStore,
    catalog: Catalog,
    table: CalibrationTable,
    entry: AuditEntry,
    actor: Actor | None = None,
) -> ReviewedSearch:
    """The search of ``entry`` as ``actor`` reads it (``search_record`` within their reach;
    None: as the search itself answered, within the reach it had)."""
    scope = None if actor is None else reach_of(store, catalog, actor)
    record = search_record(catalog, table, entry, scope)
    states = {s.face_id: s for s in store.decisions.states(entry.seq)}
    return ReviewedSearch(record, states, probe_kept(store, entry))


def load_search(
    store: AccountabilityStore,
    catalog: Catalog,
    table: CalibrationTable,
    seq: int,
    actor: Actor | None = None,
) -> ReviewedSearch:
    """A search as its own answer (to the search or to a verdict on it): not a read.
    ``actor``: who is answered (their reach applies, as in ``read_search``)."""
    return reviewed(store, catalog, table, store.audit.get(seq), actor)


def log_read(
    store: AccountabilityStore,
    actor: Actor,
    what: str,
    *,
    search: AuditEntry | None = None,
    case: str | None = None,
    purpose: str | None = None,
    **ids: Any,
) -> AuditEntry:
    """Log one read of personal data: ``what`` (one of READS) and the ids read, under the
    case of ``search`` when it went through one. Call it after the read succeeded and before
    its data is handed out."""
    if what not in READS:
        raise InputError(f"unknown kind of read {what!r}")
    if what in GALLERY_READS:
        allow(actor, Permission.READ_GALLERY)
    payload: dict[str, Any] = {"what": what}
    if search is not None:
        case = search.case
        payload["search"] = search.seq
    case, purpose = check_case(case, purpose, required=False)
    payload.update(ids)
    return log(store, actor, Action.READ, case, purpose, payload)


def read_search(
    store: AccountabilityStore,
    catalog: Catalog,
    table: CalibrationTable,
    actor: Actor,
    seq: int,
    *,
    what: str = "search",
    face: int | None = None,
) -> ReviewedSearch:
    """A search ``actor`` may see, logged as one read naming the candidate face ids shown
    (those of probe face ``face`` alone when given)."""
    entry = visible_search(store, actor, seq)
    out = reviewed(store, catalog, table, entry, actor)
    faces = out.record.faces
    shown = [f for f in faces if face is None or f.face == face] or list(faces)
    face_ids = [h.face_id for f in shown for h in f.hits]
    log_read(store, actor, what, search=entry, face_ids=face_ids)
    return out


def read_candidate(
    store: AccountabilityStore,
    catalog: Catalog,
    table: CalibrationTable,
    actor: Actor,
    seq: int,
    face_id: int,
    *,
    what: str = "candidate",
) -> ReviewedSearch:
    """A candidate of a search ``actor`` may see, logged as one read (NotFoundError if the
    face is not one of its candidates)."""
    entry = visible_search(store, actor, seq)
    out = reviewed(store, catalog, table, entry, actor)
    if out.record.hit(face_id) is None:
        raise NotFoundError(f"face {face_id} is not a candidate of search {seq}")
    log_read(store, actor, what, search=entry, face_id=face_id)
    return out


def probe_of(store: AccountabilityStore, actor: Actor, seq: int) -> tuple[bytes, AuditEntry]:
    """The kept probe photo of a search ``actor`` may see (part of the read of the search:
    not logged again); NotFoundError once its retention period is over."""
    entry = visible_search(store, actor, seq)
    sha = str(entry.payload.get("probe_sha256") or "")
    try:
        data = store.probes.get(sha) if probe_kept(store, entry) else b""
    except NotFoundError:
        data = b""
    if not data:
        raise NotFoundError("the probe image is no longer kept (retention period over)")
    return data, entry


def probe_kept(store: AccountabilityStore, entry: AuditEntry) -> bool:
    """Whether the probe photo of search ``entry`` is still kept for its organisation: its
    retention not over (the one it was kept for, ``probe_kept_until``, when the entry says:
    the bytes of a photo another organisation searched too stay as long as the longer of
    the two), and not taken by an erasure of that organisation since. A failed search keeps
    no probe (it names its photo by sha256 only): bytes under that sha256 are another
    search's, perhaps another organisation's."""
    sha = str(entry.payload.get("probe_sha256") or "")
    if not sha or entry.payload.get("outcome", OUTCOME_OK) != OUTCOME_OK:
        return False
    moment = store.db.now()
    try:
        kept = store.probes.expires(sha) > moment
    except NotFoundError:
        return False
    return kept and kept_for_its_org(entry, moment) and not withdrawn(store, entry)


def kept_for_its_org(entry: AuditEntry, moment: datetime) -> bool:
    """Whether the retention search ``entry``'s probe was kept for (``probe_kept_until``)
    is not over at ``moment`` (entries that do not say: it is not)."""
    until = _kept_until(entry)
    return until is None or until > moment


def _kept_until(entry: AuditEntry) -> datetime | None:
    """When the search's probe ends for its organisation (None: not said, entries before)."""
    text = entry.payload.get("probe_kept_until")
    try:
        moment = datetime.fromisoformat(str(text)) if text else None
    except ValueError:
        return None
    if moment is not None and moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


def erased_probes(entry: AuditEntry) -> list[str]:
    """The kept probe photos (sha256) an ``erase`` entry took from its organisation."""
    deleted = entry.payload.get("probes_deleted")
    found = deleted.get("sha256") if isinstance(deleted, Mapping) else None
    return [str(d) for d in found] if isinstance(found, list) else []


def withdrawn(store: AccountabilityStore, entry: AuditEntry) -> bool:
    """Whether an erasure of ``entry``'s organisation, after it, took its probe photo. Kept
    probes are stored once per sha256: a photo two organisations searched keeps its bytes
    for the other one's record when one erases it (``app.erase``), but is gone for the one
    that erased it, exactly as if no one else had searched it."""
    sha = str(entry.payload.get("probe_sha256") or "")
    org = entry.org or DEFAULT_ORG
    later = store.audit.entries(org=org, action=Action.ERASE, since=entry.time, limit=None)
    return any(e.seq > entry.seq and sha in erased_probes(e) for e in later)


def read_gallery(
    store: AccountabilityStore,
    catalog: Catalog,
    actor: Actor,
    what: str,
    make: Callable[[Catalog], T],
    *,
    case: str | None = None,
    search: int | None = None,
    people_read: int | None = None,
    **ids: Any,
) -> T:
    """``make(catalog)``: a read of ``what`` (face, face_crop, image, image_file, subject)
    with ``ids``, logged under ``case``. With ``search``: a candidate's crop or file reached
    from that search's view (the actor must be able to see the search, and the face or image
    must be one of its candidates, still held and in a collection the actor sees now;
    NotFoundError otherwise, as for one erased since), part of the read of that search: not
    logged again. With ``people_read``: a crop or photo a People or person page showed, part
    of that page's read (``people_reads.covered_by_people_read``): not logged again."""
    check_case(case, None, required=False)
    if search is not None and people_read is not None:
        raise InputError("a read is part of a search or of a people read, not both")
    if people_read is not None:
        covered_by_people_read(store, catalog, actor, people_read, ids)
        return make(catalog)
    if search is None:
        allow(actor, Permission.READ_GALLERY)  # auditors reach candidates via a search
        check_in_scope(store, catalog, actor, ids)
        out = make(catalog)
        log_read(store, actor, what, case=case, **ids)
        return out
    entry = visible_search(store, actor, search)
    listed = SearchRecord.candidate_ids(entry.payload)
    if "face_id" in ids and ids["face_id"] not in listed:
        raise NotFoundError(f"face {ids['face_id']} is not a candidate of search {search}")
    held = held_candidates(catalog, listed, reach_of(store, catalog, actor))
    if "face_id" in ids and ids["face_id"] not in {r.id for r in held}:
        raise NotFoundError(f"no face with id {ids['face_id']}")  # erased, or out of reach
    if "image_id" in ids and ids["image_id"] not in {r.image_id for r in held}:
        raise NotFoundError(f"image {ids['image_id']} holds no candidate of search {search}")
    if not {"face_id", "image_id"} & ids.keys():
        raise NotFoundError(f"a {what} is not a candidate of search {search}")
    return make(catalog)


def check_in_scope(
    store: AccountabilityStore, catalog: Catalog, actor: Actor, ids: Mapping[str, Any]
) -> None:
    """NotFoundError, as for an id that does not exist, when the face or image of ``ids`` is
    in a collection ``actor``'s organisation may not see."""
    scope = scope_of(store, catalog, actor)
    if scope.everything:
        return
    if "face_id" in ids:
        collection = catalog.face(int(ids["face_id"])).collection
        if not scope.sees(collection):
            raise NotFoundError(f"no face with id {ids['face_id']}")
    if "image_id" in ids:
        collection = catalog.image(int(ids["image_id"])).collection
        if not scope.sees(collection):
            raise NotFoundError(f"no image with id {ids['image_id']}")


def export_subject(
    engine: Engine,
    store: AccountabilityStore,
    actor: Actor,
    subject: str,
    *,
    case: str | None,
    purpose: str | None,
) -> tuple[dict[str, Any], AuditEntry]:
    """Everything held about a subject in the collections ``actor`` reaches (``reach_of``),
    embeddings included (a subject-access export), logged as a read. NotFoundError, as for an
    unknown name, when it sees none of the subject's images. Case number and purpose follow
    the rule of a search."""
    case, purpose = check_use(store, actor, Permission.READ_GALLERY, case, purpose)
    scope = reach_of(store, engine.catalog, actor)
    data = engine.export_subject(subject)
    if not scope.everything:
        images = [i for i in data.get("images", []) if scope.sees(i["collection"])]
        if not images:
            raise NotFoundError(f"no subject named {subject!r}")
        shown = {i["id"] for i in images}
        data = {
            **data,
            "images": images,
            "faces": [f for f in data.get("faces", []) if f["image_id"] in shown],
        }
    entry = log_read(
        store,
        actor,
        "subject_export",
        case=case,
        purpose=purpose,
        subject=subject,
        face_ids=[f["id"] for f in data.get("faces", [])],
        image_ids=[i["id"] for i in data.get("images", [])],
        embeddings=True,
    )
    return data, entry
