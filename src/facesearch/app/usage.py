"""Every use of the gallery, checked and audited in one place: the CLI and the server call this.

    with AccountabilityStore.from_settings(settings) as store, Engine(settings) as engine:
        result, entry = audited_search(engine, store, local_actor(), case="K-1",
                                       purpose="robbery, 3 May", image=Path("probe.jpg"))

Each ``audited_*`` function (1) checks that the actor may do it, (2) checks the case number and
the stated purpose, (3) runs it on the ``Engine``, (4) writes one audit entry, and returns the
result with that entry. Nothing is returned that was not logged: if the entry cannot be
written, the call raises. The CLI is no back door: it calls the same functions as the
``os:<login>`` actor (``local_actor()``).

Who may: a server user needs the permission in ``accountability.PERMISSIONS`` (search, verify,
erase, ingest). The local CLI actor is not checked: whoever can run the CLI on a home can read
its files anyway.

Case number and purpose are required whenever the home has user accounts, and always through
the server (``require_case=True``). Erasures also need a reason under the same rule.

What the entries hold (payloads carry ids, digests, counts and scores, never embeddings or
image bytes):

- ``search``: ``outcome`` (``ok``), start and end time, every collection searched with its
  size, the probe's sha256 (its bytes are kept by ``ProbeStore`` for
  ``settings.probe.retention_days``), the parameters (top, threshold, max_fmr, face,
  allow_poor, model), every candidate returned with its score, and per probe face its box and
  which candidates it returned (``probe_faces``). Every attempt is logged: one that failed (no
  face, a refused poor probe, an unreadable file ...) has ``outcome`` = the error's code, the
  message in ``error``, no candidates, and its probe is named but not kept;
- ``verify``: start and end time, both probes' sha256 (kept like a search probe), the boxes of
  the faces compared, similarity, threshold, the false match rate and the decision;
- ``erase``: the reason, what selected the faces (face ids, an image, a subject, or the sha256
  of a "like" photo), and what was removed: counts and the face ids, image ids and subjects;
  for a "like" photo also ``probes_deleted``: the kept probe photos showing a matching face,
  deleted in the entry's transaction (count and sha256);
- ``ingest``: collection, the paths given, the catalog's run id and the counts;
- ``read`` (``audited_read``): a read of personal data, ``what`` (one of ``READS``) and its ids,
  under the case of the search it went through, else the case the reader gave (or none).
  ``audited_export_subject`` (embeddings included) is a read that needs a case and a purpose
  like a search.

Who may see a search, its candidates and its probe: ``may_see_search``; ``visible_search``
answers the same NotFoundError for a search the actor may not see as for one that does not
exist. ``decide_on_candidate`` refuses a verdict on an erased face (ErasedError).

``detect_faces`` (the faces of a probe, before a search) is checked but not logged: it reads
no gallery data.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from facesearch.accountability import (
    AccountabilityStore,
    Action,
    Actor,
    AuditEntry,
    Candidate,
    CandidateState,
    Permission,
    Role,
    SearchRecord,
    Verdict,
    can,
    require,
)
from facesearch.accountability.audit_entries import FaceId
from facesearch.accountability.db import format_time
from facesearch.accountability.text_checks import MAX_CASE_CHARS, MAX_PURPOSE_CHARS, clean_text
from facesearch.engine import Engine, ImageInput
from facesearch.errors import (
    CaseRequiredError,
    CatalogError,
    ConfigError,
    ErasedError,
    FaceSearchError,
    InputError,
    NotFoundError,
)
from facesearch.gallery.catalog import Catalog
from facesearch.gallery.ingest import IngestSummary, ProgressFn
from facesearch.gallery.uploads import UPLOADS, current_upload
from facesearch.pipeline import Decodable, FacePipeline
from facesearch.results import ForgetResult, PersonLike, SearchResult, VerifyResult
from facesearch.types import ImageFaces

__all__ = [
    "READS",
    "audited_export_subject",
    "audited_forget",
    "audited_ingest",
    "audited_read",
    "audited_search",
    "audited_verify",
    "check_case",
    "decide_on_candidate",
    "detect_faces",
    "may_see_search",
    "record_failed_search",
    "record_failed_verify",
    "visible_search",
]

log = logging.getLogger(__name__)

OUTCOME_OK = "ok"  # a search's "outcome" when it ran; else the error's code (no_face ...)
MAX_ERROR_CHARS = 500
MAX_LOGGED_PATHS = 100
UPLOADED_PHOTO = "the uploaded photo"  # what messages call an upload with no usable file name
NO_REASON = "no reason given (home without user accounts)"


# --- checks --------------------------------------------------------------------------------


def check_case(
    case: str | None, purpose: str | None, *, required: bool
) -> tuple[str | None, str | None]:
    """The case number and purpose, trimmed; InputError if required and missing, or unusable."""
    case_text = clean_text(case, "the case number", MAX_CASE_CHARS, one_line=True)
    purpose_text = clean_text(purpose, "the purpose", MAX_PURPOSE_CHARS, one_line=False)
    if required and case_text is None:
        missing = ("case",) if purpose_text else ("case", "purpose")
        raise CaseRequiredError("a case number is required", missing)
    if required and purpose_text is None:
        raise CaseRequiredError("a stated purpose is required", ("purpose",))
    return case_text, purpose_text


def _required(store: AccountabilityStore, require_case: bool | None) -> bool:
    return bool(require_case) or store.accounts.has_users()


def _check(actor: Actor, permission: Permission) -> None:
    if not actor.is_local:
        require(actor, permission)


def _bytes_of(engine: Engine, image: ImageInput, name: str | None) -> tuple[bytes, str]:
    if isinstance(image, bytes):
        return image, name or UPLOADED_PHOTO
    item = engine.read_input(image)
    return item.data, name or item.source


def _now() -> datetime:
    return datetime.now(UTC)


# --- uses ----------------------------------------------------------------------------------


def detect_faces(
    pipeline: FacePipeline, actor: Actor, image: bytes, name: str | None = None
) -> ImageFaces:
    """Every face of a probe image (no embedding), to choose one before searching."""
    _check(actor, Permission.SEARCH)
    return pipeline.analyse_one(Decodable(name or UPLOADED_PHOTO, image), embed=False)


def audited_search(
    engine: Engine,
    store: AccountabilityStore,
    actor: Actor,
    *,
    case: str | None,
    purpose: str | None,
    image: ImageInput,
    name: str | None = None,
    collections: Sequence[str] | None = None,
    top: int | None = None,
    max_fmr: float | None = None,
    threshold: float | None = None,
    face: int | None = None,
    allow_poor: bool = False,
    require_case: bool | None = None,
    analysed: ImageFaces | None = None,
) -> tuple[SearchResult, AuditEntry]:
    """Search the probe in the gallery and log it (see the module docstring)."""
    _check(actor, Permission.SEARCH)
    case, purpose = check_case(case, purpose, required=_required(store, require_case))
    started = _now()
    data: bytes | None = None
    try:
        data, source = _bytes_of(engine, image, name)
        result = engine.search(
            data,
            name=source,
            collections=collections,
            top=top,
            max_fmr=max_fmr,
            threshold=threshold,
            face=face,
            allow_poor=allow_poor,
            analysed=analysed,
        )
    except FaceSearchError as exc:  # no face, a poor probe, an unreadable file ...: logged
        record_failed_search(
            store,
            actor,
            case=case,
            purpose=purpose,
            error=exc,
            data=data,
            started=started,
            parameters={
                "top": top,
                "threshold": threshold,
                "max_fmr": max_fmr,
                "face": face,
                "allow_poor": allow_poor,
                "collections": list(collections) if collections else None,
                "model_id": engine.pipeline.model_id,
            },
        )
        raise
    digest = store.probes.keep(data, retention_days=engine.settings.probe.retention_days)
    record = SearchRecord(
        started=datetime.fromisoformat(result.started),
        ended=_now(),
        collections={c: engine.indexes.size([c]) for c in result.collections},
        probe_sha256=digest,
        parameters={
            "top": result.top,
            "threshold": result.threshold,
            "max_fmr": max_fmr,
            "face": face,
            "allow_poor": allow_poor,
            "model_id": engine.pipeline.model_id,
        },
        candidates=[Candidate(h.face_id, h.similarity) for pf in result.faces for h in pf.hits],
    )
    payload = record.payload()
    payload["outcome"] = OUTCOME_OK
    payload["probe_faces"] = [
        {
            "face": pf.face,
            "bbox": pf.bbox.as_list(),
            "refused": pf.refused,
            "warnings": list(pf.warnings),
            "candidates": [h.face_id for h in pf.hits],
            "same_file": [h.face_id for h in pf.hits if h.same_file],
        }
        for pf in result.faces
    ]
    entry = store.audit.append(
        actor=actor.name, action=Action.SEARCH, case=case, purpose=purpose, payload=payload
    )
    return result, entry


def _record_failure(
    store: AccountabilityStore,
    actor: Actor,
    action: Action,
    *,
    case: str | None,
    purpose: str | None,
    error: FaceSearchError,
    started: datetime | None,
    parameters: Mapping[str, Any] | None,
    **fields: Any,
) -> AuditEntry:
    """One entry for an attempt that failed: ``outcome`` is the error's code (e.g.
    ``no_face``), ``error`` its message; ``fields`` add what the action's entries carry."""
    case, purpose = check_case(case, purpose, required=False)
    moment = _now()
    payload: dict[str, Any] = {
        "outcome": error.code,
        "error": str(error)[:MAX_ERROR_CHARS],
        "started": format_time(started or moment),
        "ended": format_time(moment),
        "parameters": dict(parameters or {}),
        **fields,
    }
    return store.audit.append(
        actor=actor.name, action=action, case=case, purpose=purpose, payload=payload
    )


def record_failed_search(
    store: AccountabilityStore,
    actor: Actor,
    *,
    case: str | None,
    purpose: str | None,
    error: FaceSearchError,
    data: bytes | None = None,
    started: datetime | None = None,
    parameters: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """Log a search attempt that failed (``outcome``: the error's code, e.g. ``no_face``).

    The entry has the shape of a search's, with no candidates; the probe is named by its
    sha256 when its bytes were read, but not kept (nothing was searched with it).
    ``audited_search`` calls this itself; the server calls it for an upload refused before
    the search could start (not an image, too many pixels, undecodable).
    """
    return _record_failure(
        store,
        actor,
        Action.SEARCH,
        case=case,
        purpose=purpose,
        error=error,
        started=started,
        parameters=parameters,
        collections=[],
        probe_sha256=hashlib.sha256(data).hexdigest() if data else None,
        candidates=[],
        probe_faces=[],
    )


def record_failed_verify(
    store: AccountabilityStore,
    actor: Actor,
    *,
    case: str | None,
    purpose: str | None,
    error: FaceSearchError,
    data: Sequence[bytes] = (),
    started: datetime | None = None,
    parameters: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """Log a 1:1 comparison that failed (``outcome``: the error's code); the photos read are
    named by their sha256 but not kept. ``audited_verify`` calls this itself; the server calls
    it for an upload refused before the comparison could start."""
    return _record_failure(
        store,
        actor,
        Action.VERIFY,
        case=case,
        purpose=purpose,
        error=error,
        started=started,
        parameters=parameters,
        probe_sha256=[hashlib.sha256(d).hexdigest() for d in data],
    )


def audited_verify(
    engine: Engine,
    store: AccountabilityStore,
    actor: Actor,
    *,
    case: str | None,
    purpose: str | None,
    a: ImageInput,
    b: ImageInput,
    threshold: float | None = None,
    max_fmr: float | None = None,
    require_case: bool | None = None,
    names: tuple[str | None, str | None] = (None, None),
) -> tuple[VerifyResult, AuditEntry]:
    """Compare the main faces of two photos 1:1 and log it. ``names``: what errors call the
    photos (a file's path by default)."""
    _check(actor, Permission.VERIFY)
    case, purpose = check_case(case, purpose, required=_required(store, require_case))
    started = _now()
    parameters = {"threshold": threshold, "max_fmr": max_fmr, "model_id": engine.pipeline.model_id}
    read: list[bytes] = []
    try:
        data_a, name_a = _bytes_of(engine, a, names[0])
        read.append(data_a)
        data_b, name_b = _bytes_of(engine, b, names[1])
        read.append(data_b)
        result = engine.verify(
            data_a, data_b, threshold=threshold, max_fmr=max_fmr, names=(name_a, name_b)
        )
    except FaceSearchError as exc:  # every attempt is logged with its outcome
        record_failed_verify(
            store,
            actor,
            case=case,
            purpose=purpose,
            error=exc,
            data=read,
            started=started,
            parameters=parameters,
        )
        raise
    keep = engine.settings.probe.retention_days
    digests = [store.probes.keep(d, retention_days=keep) for d in (data_a, data_b)]
    v = result.verification
    payload = {
        "outcome": OUTCOME_OK,
        "started": started.isoformat(timespec="microseconds"),
        "ended": _now().isoformat(timespec="microseconds"),
        "probe_sha256": digests,
        "faces": [result.face_a.bbox.as_list(), result.face_b.bbox.as_list()],
        "similarity": round(v.similarity, 6),
        "threshold": round(v.threshold, 6),
        "fmr": v.fmr,
        "same_person": v.same,
        "parameters": parameters,
    }
    entry = store.audit.append(
        actor=actor.name, action=Action.VERIFY, case=case, purpose=purpose, payload=payload
    )
    return result, entry


def audited_forget(
    engine: Engine,
    store: AccountabilityStore,
    actor: Actor,
    *,
    reason: str | None,
    face_ids: Sequence[int] | None = None,
    image_id: int | None = None,
    subject: str | None = None,
    like: ImageInput | None = None,
    max_fmr: float | None = None,
    case: str | None = None,
    purpose: str | None = None,
    require_case: bool | None = None,
) -> tuple[ForgetResult, AuditEntry]:
    """Erase faces (catalog, index files, uploaded copies) and log what went, by whom, why."""
    _check(actor, Permission.ERASE)
    required = _required(store, require_case)
    case, purpose = check_case(case, purpose, required=False)
    why = clean_text(reason, "the reason", MAX_PURPOSE_CHARS, one_line=False)
    if why is None:
        if required:
            raise InputError("a reason is required for an erasure")
        why = NO_REASON
    selector: dict[str, Any]
    like_data: bytes | None = None
    if face_ids is not None:
        selector = {"faces": sorted({int(i) for i in face_ids})}
    elif image_id is not None:
        selector = {"image": int(image_id)}
    elif subject is not None:
        selector = {"subject": subject}
    elif like is not None:
        like_data, _ = _bytes_of(engine, like, None)
        selector = {"like_sha256": hashlib.sha256(like_data).hexdigest(), "max_fmr": max_fmr}
    else:
        selector = {}
    # Everything that can fail or take long comes before the erasure (the kept probes' scan
    # runs the pipeline over each of them), and the trail is checked writable (key, anchor):
    # the entry can only be written after the erasure, so that window stays short.
    person = engine.person_like(like_data, max_fmr) if like_data else None
    probes = _kept_probes_like(engine, store, person) if person else []
    store.audit.check_writable()
    result = engine.forget(
        face_ids=face_ids,
        image_id=image_id,
        subject=subject,
        like=person,
        max_fmr=max_fmr,
    )
    images = sorted({f.image_id for f in result.faces} | ({image_id} if image_id else set()))
    deleted = _delete_uploaded_copies(engine, result)
    removed: dict[str, list[Any]] = {
        "faces": [f.id for f in result.faces],
        "images": images,
        "subjects": sorted({f.subject for f in result.faces if f.subject}),
    }
    payload: dict[str, Any] = {
        "reason": why,
        "selector": selector,
        "counts": {kind: len(ids) for kind, ids in removed.items()},
        "removed": removed,
        "index_vectors_removed": result.index_vectors_removed,
        "blocklisted": result.blocklisted,
        "uploaded_files_deleted": deleted,
    }
    if like_data is not None:
        payload["probes_deleted"] = {"count": len(probes), "sha256": probes}

    def log() -> AuditEntry:
        return store.audit.append(
            actor=actor.name, action=Action.ERASE, case=case, purpose=purpose, payload=payload
        )

    try:
        # the kept probes' bytes go in the same transaction as the entry that records them
        entry = store.probes.erase(probes, then=log) if probes else log()
    except FaceSearchError as exc:
        ids = ", ".join(str(i) for i in removed["faces"][:20])
        more = " ..." if len(removed["faces"]) > 20 else ""
        kept = f"; the {len(probes)} kept probe images like it were NOT deleted" if probes else ""
        raise _entry_missing(
            exc,
            f"erased {len(removed['faces'])} faces (ids {ids}{more}) and "
            f"{len(images)} images{kept}",
        ) from exc
    return result, entry


def _entry_missing(exc: FaceSearchError, done: str) -> FaceSearchError:
    """The error for a change made whose audit entry could not be written after it."""
    message = (
        f"{done}, but no audit entry records it: {exc}. Write down what was done and fix the "
        "cause ('facesearch audit verify' names the trail's key and anchor files)"
    )
    kind = type(exc) if type(exc) in (ConfigError, CatalogError, InputError) else CatalogError
    return kind(message)


def _kept_probes_like(engine: Engine, store: AccountabilityStore, person: PersonLike) -> list[str]:
    """The sha256 of every kept probe image with a face of ``person``, at the threshold
    ``forget --like`` erases gallery faces with."""
    digests = store.probes.kept()

    def probes() -> Iterator[Decodable]:  # read as the pipeline pulls them (bounded memory)
        for digest in digests:
            try:
                data = store.probes.get(digest)
            except NotFoundError:  # its time ran out meanwhile: an empty image, skipped
                data = b""
            yield Decodable(f"kept probe {digest[:12]}", data)

    found = []
    for digest, faces in zip(digests, engine.pipeline.run(probes()), strict=True):
        if isinstance(faces, ImageFaces) and any(
            f.embedding is not None and float(f.embedding @ person.embedding) >= person.threshold
            for f in faces.faces
        ):
            found.append(digest)
    return found


def _delete_uploaded_copies(engine: Engine, result: ForgetResult) -> int:
    """Delete the server's uploaded copy of each image that has no face left in the catalog.

    Only files under ``HOME/uploads/`` are touched: other sources belong to the operator.
    """
    root = (engine.settings.home / UPLOADS).resolve()
    deleted = 0
    seen: set[int] = set()
    for face in result.faces:
        if face.image_id in seen:
            continue
        seen.add(face.image_id)
        # at its stored path, or under the home as it is now if the home was moved since
        path = current_upload(face.source, engine.settings.home)
        if path is None:
            continue
        try:
            left = engine.catalog.faces_of_image(face.image_id)
        except NotFoundError:  # the image record is gone too
            left = []
        if not left:
            path.unlink(missing_ok=True)
            deleted += 1
            _remove_empty_folders(path.parent, root)
    return deleted


def _remove_empty_folders(folder: Path, root: Path) -> None:
    """Remove ``folder`` and its parents while they are empty, up to (not including) root."""
    try:
        current = folder.resolve()
    except OSError:
        return
    while current != root and current.is_relative_to(root):
        try:
            current.rmdir()  # only ever succeeds on an empty folder
        except OSError:
            return
        current = current.parent


def audited_ingest(
    engine: Engine,
    store: AccountabilityStore,
    actor: Actor,
    paths: Sequence[str | Path],
    *,
    collection: str = "default",
    label_from_dir: bool = False,
    progress: ProgressFn | None = None,
    case: str | None = None,
    purpose: str | None = None,
    extra: Mapping[str, Any] | None = None,
) -> tuple[IngestSummary, AuditEntry]:
    """Add the faces of the images under ``paths`` to ``collection`` and log the run."""
    _check(actor, Permission.INGEST)
    case, purpose = check_case(case, purpose, required=False)
    store.audit.check_writable()  # an ingest must not happen unlogged: key and anchor first
    summary = engine.ingest(
        paths, collection=collection, label_from_dir=label_from_dir, progress=progress
    )
    payload: dict[str, Any] = {
        "collection": collection,
        "paths": [str(p) for p in paths[:MAX_LOGGED_PATHS]],
        "paths_total": len(paths),
        "label_from_dir": label_from_dir,
        "run_id": summary.run_id,
        "images_seen": summary.images_seen,
        "images_added": summary.images_added,
        "duplicates": summary.duplicates,
        "faces_added": summary.faces_added,
        "faces_blocked": summary.faces_blocked,
        "failed": len(summary.failed),
    }
    if extra:
        payload.update(extra)
    try:
        entry = store.audit.append(
            actor=actor.name, action=Action.INGEST, case=case, purpose=purpose, payload=payload
        )
    except FaceSearchError as exc:
        raise _entry_missing(
            exc,
            f"added {summary.faces_added} faces from {summary.images_added} images to the "
            f"collection {collection!r} (ingest run {summary.run_id})",
        ) from exc
    return summary, entry


# --- reads of personal data ----------------------------------------------------------------

# What a ``read`` entry's payload names as "what": the search routes' reads, then the gallery's.
SEARCH_READS = frozenset(
    {"search", "search_page", "candidate", "candidate_page", "probe", "probe_crop"}
)
GALLERY_READS = frozenset({"face", "face_crop", "image", "image_file", "subject", "subject_export"})
READS = SEARCH_READS | GALLERY_READS


def may_see_search(store: AccountabilityStore, actor: Actor, entry: AuditEntry) -> bool:
    """Whether ``actor`` may see this search, its candidates and its probe.

    Its author may; admins and auditors may (and the local CLI actor); and so may the
    reviewers of its candidates: whoever recorded a verdict on one, and, while a candidate
    waits for a second person's verdict (two-person rule), every other person who may decide.
    """
    if actor.is_local or actor.role in (Role.ADMIN, Role.AUDITOR) or entry.actor == actor.name:
        return True
    may_decide = can(actor.role, Permission.DECIDE)
    for state in store.decisions.states(entry.seq):
        if any(r.actor == actor.name for r in state.history):
            return True
        if may_decide and state.awaits_second_person(actor.name):
            return True
    return False


def visible_search(store: AccountabilityStore, actor: Actor, seq: int) -> AuditEntry:
    """The audit entry of search ``seq``; NotFoundError, the same as for a search that does
    not exist, when ``actor`` may not see it (no existence oracle)."""
    try:
        entry: AuditEntry | None = store.audit.get(seq)
    except NotFoundError:
        entry = None
    if entry is None or entry.action != Action.SEARCH.value:
        raise NotFoundError(f"no search {seq}")
    if not may_see_search(store, actor, entry):
        raise NotFoundError(f"no search {seq}")
    return entry


def audited_read(
    store: AccountabilityStore,
    actor: Actor,
    what: str,
    *,
    search: AuditEntry | None = None,
    case: str | None = None,
    purpose: str | None = None,
    **ids: Any,
) -> AuditEntry:
    """Log one read of personal data: ``what`` (one of READS) and the ids read.

    A read through a search (a view of its record or page, a candidate) is logged under the
    search's case, with ``search``: its seq; a view of the search names the candidate face ids
    it shows (``face_ids``) and covers the images it shows (probe, probe crops, candidates'
    crops and files reached with ``?search=``), which the server neither charges nor logs
    again. Any other read is logged under the case the reader gave, or none. Call it after
    the read succeeded and before its data is handed out.
    """
    if what not in READS:
        raise InputError(f"unknown kind of read {what!r}")
    if what in GALLERY_READS:
        _check(actor, Permission.READ_GALLERY)
    payload: dict[str, Any] = {"what": what}
    if search is not None:
        case = search.case
        payload["search"] = search.seq
    case, purpose = check_case(case, purpose, required=False)
    payload.update(ids)
    return store.audit.append(
        actor=actor.name, action=Action.READ, case=case, purpose=purpose, payload=payload
    )


def audited_export_subject(
    engine: Engine,
    store: AccountabilityStore,
    actor: Actor,
    subject: str,
    *,
    case: str | None,
    purpose: str | None,
    require_case: bool | None = None,
) -> tuple[dict[str, Any], AuditEntry]:
    """Everything held about a subject, embeddings included (a subject-access export), logged
    as a read. Case number and purpose follow the rule of ``audited_search``."""
    _check(actor, Permission.READ_GALLERY)
    case, purpose = check_case(case, purpose, required=_required(store, require_case))
    data = engine.export_subject(subject)
    entry = audited_read(
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


def decide_on_candidate(
    catalog: Catalog,
    store: AccountabilityStore,
    actor: Actor,
    search_seq: int,
    face_id: FaceId,
    verdict: Verdict | str,
    note: str = "",
) -> CandidateState:
    """Record ``actor``'s verdict on a candidate of a search they may see (``Decisions``
    logs it). ErasedError for a candidate face that has been erased since: nothing can be
    confirmed about a face the gallery no longer holds."""
    entry = visible_search(store, actor, search_seq)
    listed = any(
        type(c.get("face_id")) is type(face_id) and c.get("face_id") == face_id
        for c in entry.payload.get("candidates", [])
    )
    if listed and isinstance(face_id, int) and not catalog.faces([face_id]):
        raise ErasedError(f"face {face_id} has been erased; no verdict can be recorded on it")
    return store.decisions.decide(actor, search_seq, face_id, verdict, note)
