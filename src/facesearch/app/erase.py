"""Erasure, checked and logged (``erase``): faces leave the catalog, the vector store and the
server's uploaded copies, and one ``erase`` entry says what went, by whom and why.

The entry holds the reason, what selected the faces (face ids, an image, a subject, or the
sha256 of a "like" photo), and what was removed: counts, face ids, image ids and subjects; for
a "like" photo also ``probes_deleted``: the kept probe photos showing a matching face, deleted
in the entry's transaction (count and sha256; an organisation's own: one that another
organisation searched too keeps its bytes for that one's record, and is gone for this one,
``_kept_for``); and ``vector_store``: what the vector store did
and what its server finishes later (``app.vector_erasure``). A reason is required whenever a
case is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, suppress
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from facesearch.accountability import AccountabilityStore, Action, Actor, AuditEntry, Permission
from facesearch.accountability.text_checks import MAX_PURPOSE_CHARS, clean_text
from facesearch.app.checks import (
    allow,
    bytes_of,
    case_marks,
    case_required,
    check_case,
    entry_missing,
    log,
    registered_now,
    sha256,
)
from facesearch.app.reads import erased_probes, kept_for_its_org
from facesearch.app.records import OUTCOME_OK
from facesearch.app.scope import Scope, reach_of
from facesearch.app.vector_erasure import VectorStoreErasure, vector_part
from facesearch.engine import Engine, ImageInput
from facesearch.errors import FaceSearchError, InputError, NotFoundError
from facesearch.forgetting import ErasureHold, blocklisted_for_the_scan, check_ids
from facesearch.gallery.ray_scan import RayScan
from facesearch.gallery.uploads import UPLOADS, current_upload
from facesearch.like_odds import like_odds
from facesearch.pipeline import Decodable
from facesearch.results import ForgetResult, PersonLike
from facesearch.types import ImageFaces

__all__ = ["EraseRequest", "ErasureRecord", "erase"]

NO_REASON = "no reason given (home without user accounts)"


@dataclass(frozen=True)
class EraseRequest:
    """Exactly one of face ids, an image id, a subject, or a photo of the person (``like``,
    which also blocklists the person for future ingests)."""

    reason: str | None
    face_ids: tuple[int, ...] | None = None
    image_id: int | None = None
    subject: str | None = None
    like: ImageInput | None = None
    max_fmr: float | None = None  # with ``like``: the match threshold as an FMR
    case: str | None = None
    purpose: str | None = None
    ray: RayScan | None = None  # with ``like``: scan on a Ray cluster (gallery.ray_scan)

    def check(self) -> None:
        chosen = [x is not None for x in (self.face_ids or None, self.image_id, self.subject)]
        chosen.append(self.like is not None)
        if sum(chosen) != 1:
            raise InputError("give exactly one of: face ids, an image id, a subject, a photo")
        check_ids(self.face_ids, self.image_id)  # before any lookup: the engine's check


@dataclass(frozen=True)
class ErasureRecord:
    """What an erasure removed (``id``: its audit entry)."""

    id: int
    reason: str
    face_ids: tuple[int, ...]
    image_ids: tuple[int, ...]
    images: tuple[str, ...]  # the sources of the images that lost faces
    subjects: tuple[str, ...]
    index_vectors_removed: int
    blocklisted: bool
    uploaded_files_deleted: int
    probes_deleted: int | None  # with ``like``: kept probe photos of the person deleted
    vectors: VectorStoreErasure  # the vector store's part, and what its server finishes later
    catalog_store: dict[str, Any] | None = None  # the catalog database's part (catalog_part)
    like: dict[str, Any] | None = None  # with ``like``: threshold, FMR, strangers expected
    persons_unnamed: tuple[int, ...] = ()  # an erasure of someone: persons it took names of

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "reason": self.reason,
            "faces_removed": len(self.face_ids),
            "face_ids": list(self.face_ids),
            "image_ids": list(self.image_ids),
            "images": list(self.images),
            "subjects": list(self.subjects),
            "index_vectors_removed": self.index_vectors_removed,
            "blocklisted": self.blocklisted,
            "uploaded_files_deleted": self.uploaded_files_deleted,
            "persons_unnamed": list(self.persons_unnamed),
        }
        if self.probes_deleted is not None:
            out["probes_deleted"] = self.probes_deleted
        out["vector_store"] = self.vectors.as_json()
        if self.catalog_store is not None:
            out["catalog_store"] = self.catalog_store
        if self.like is not None:
            out["like"] = self.like
        return out


def _owned_faces(
    engine: Engine, scope: Scope, request: EraseRequest, person: PersonLike | None
) -> list[int] | None:
    """The face ids to erase when ``scope`` does not own every collection: those the request
    names (NotFoundError, as for unknown ids, for any in a collection it does not own), of the
    subject or like the photo within its own collections (like a photo, ``erase`` then adds
    the organisation's own blocklist entry: a deployment-wide one is for the host and an
    organisation owning every collection). None: erase as requested."""
    catalog = engine.catalog
    if scope.everything:
        if person is not None:  # every collection's faces like the photo
            return [f.id for f in catalog.faces(engine.faces_like(person, None, request.ray))]
        if not request.face_ids:
            return None
        held = {f.id for f in catalog.faces(list(request.face_ids))}
        missing = [i for i in request.face_ids if i not in held]
        if missing:  # as an organisation's admin is told (and an image id, a subject)
            raise NotFoundError(f"no face with id {missing[0]}")
        return list(request.face_ids)
    if request.face_ids:
        held = {f.id for f in catalog.faces(list(request.face_ids)) if scope.owns(f.collection)}
        missing = [i for i in request.face_ids if i not in held]
        if missing:
            raise NotFoundError(f"no face with id {missing[0]}")
        return list(request.face_ids)
    if request.image_id is not None:
        if not scope.owns(catalog.image(request.image_id).collection):
            raise NotFoundError(f"no image with id {request.image_id}")
        return None
    if request.subject is not None:
        faces = [f for f in catalog.faces_of_subject(request.subject) if scope.owns(f.collection)]
    else:
        assert person is not None
        faces = catalog.faces(engine.faces_like(person, scope.erasable, request.ray))
    if not faces and request.subject is not None:  # as for a subject that does not exist
        raise NotFoundError(f"no subject named {request.subject!r}")
    return [f.id for f in faces]  # like a photo, none: it blocklists and takes kept probes


def erase(
    engine: Engine, store: AccountabilityStore, actor: Actor, request: EraseRequest
) -> ErasureRecord:
    """Erase faces (catalog, vector store, uploaded copies) and log what went, by whom, why."""
    allow(actor, Permission.ERASE)
    request.check()
    case, purpose = check_case(request.case, request.purpose, required=False)
    # read before the erasure runs: a case of this number opened meanwhile is not its case
    # for the case's members (``reads.work_of_case``), as for a search in flight
    marks = case_marks(case, case is not None and registered_now(store, actor, case))
    why = clean_text(request.reason, "the reason", MAX_PURPOSE_CHARS, one_line=False)
    if why is None:
        if case_required(store, actor):
            raise InputError("a reason is required for an erasure")
        why = NO_REASON
    selector: dict[str, Any]
    like_data: bytes | None = None
    like_name: str | None = None
    if request.face_ids:
        selector = {"faces": sorted({int(i) for i in request.face_ids})}
    elif request.image_id is not None:
        selector = {"image": int(request.image_id)}
    elif request.subject is not None:
        selector = {"subject": request.subject}
    else:
        assert request.like is not None
        like_data, like_name = bytes_of(engine, request.like, None)
        selector = {"like_sha256": sha256(like_data), "max_fmr": request.max_fmr}
    # Everything that can fail or take long comes before the erasure (the kept probes' scan
    # runs the pipeline over each of them), and the trail is checked writable (key, anchor):
    # the entry can only be written after the erasure, so that window stays short.
    person = None
    if like_data is not None:  # an empty file too: "the photo is empty", not "give one of"
        person = engine.person_like(like_data, request.max_fmr, like_name)
    scope = reach_of(store, engine.catalog, actor)  # the host's CLI: the whole deployment
    like = None
    if person is not None:  # before the faces are searched, and before anything is erased
        odds = like_odds(engine, person, scope.erasable)
        if odds.refusal is not None:
            raise InputError(odds.refusal)
        like = odds.as_json()
    probes: list[str] = []  # the kept probes like the person: gone for the eraser's org
    org: str | None = None  # None: the host's CLI, whose erasure deletes every one's bytes
    if person is not None and (scope.everything or actor.org is not None):
        org = None if scope.everything else scope.org
        probes = _kept_probes_like(engine, store, person, org)
    store.audit.check_writable()
    # An erasure like a photo blocklists the person: an organisation's for its own ingests
    # (another organisation's are not changed, nor told), even when its gallery holds no face
    # of them yet; the host's (every collection) for every ingest. Before the scan, so that no
    # face escapes both (``forgetting.erase_faces`` says why); taken back if the scan fails,
    # so that a failed erasure leaves nothing; held (renewed) until its audit entry records
    # it, and left to settle at once if the erasure fails after its scan.
    with ExitStack() as held:
        hold: ErasureHold | None = None
        if person is not None:
            entry_org = None if scope.everything else scope.org
            hold = held.enter_context(blocklisted_for_the_scan(engine, person, entry_org))
            # read again: a collection the organisation's ingest claimed since is scanned too
            scope = reach_of(store, engine.catalog, actor)
        face_ids = _owned_faces(engine, scope, request, person)
        store.audit.check_writable()
        engine.indexes.ensure_loaded()
        if hold is not None:
            hold.scanned()  # what follows erases: a failure no longer takes the entry back
        result = engine.forget(
            face_ids=face_ids,
            image_id=request.image_id,
            subject=None if face_ids is not None else request.subject,
            max_fmr=request.max_fmr,
            ray=request.ray,
            audited=True,
            # an erasure of someone: the persons it takes a face from lose their names
            unname_persons=person is not None or request.subject is not None,
        )
        if hold is not None:
            result = replace(result, blocklisted=True, blocklist_entry=hold.id)
        image_ids = {f.image_id for f in result.faces}
        if request.image_id:
            image_ids.add(request.image_id)
        deleted = _delete_uploaded_copies(engine, result)
        vectors = vector_part(engine, result)
        face_ids = [f.id for f in result.faces]
        subjects = sorted({f.subject for f in result.faces if f.subject})
        payload: dict[str, Any] = {
            "reason": why,
            "selector": selector,
            "counts": {"faces": len(face_ids), "images": len(image_ids), "subjects": len(subjects)},
            "removed": {"faces": face_ids, "images": sorted(image_ids), "subjects": subjects},
            "index_vectors_removed": result.index_vectors_removed,
            "blocklisted": result.blocklisted,
            "uploaded_files_deleted": deleted,
            "vector_store": vectors.as_json(),
            "catalog_store": catalog_part(result),
            "persons_unnamed": list(result.persons_unnamed),
        }
        if like_data is not None:
            payload["probes_deleted"] = {"count": len(probes), "sha256": probes}
            payload["like"] = like

        payload.update(marks)

        def write_entry() -> AuditEntry:
            return log(store, actor, Action.ERASE, case, purpose, payload)

        try:
            # the kept probes' bytes go in the same transaction as the entry that records
            # them, but not those another organisation keeps, asked in that transaction too
            entry = (
                store.probes.erase(probes, then=write_entry, unless=_others_keep(store, org))
                if probes
                else write_entry()
            )
        except FaceSearchError as exc:
            ids = ", ".join(str(i) for i in face_ids[:20])
            more = " ..." if len(face_ids) > 20 else ""
            kept = ""
            if probes:
                kept = f"; the {len(probes)} kept probe images like it were NOT deleted"
            blocked = result.blocklist_entry
            if blocked is not None:  # to settle at once (``app.blocklist_pending``)
                with suppress(FaceSearchError):
                    engine.catalog.blocklist_unrecorded(
                        blocked, f"its audit entry could not be written: {exc}"
                    )
                kept += (
                    f"; its blocklist entry {blocked} is pending: 'facesearch erasure settle "
                    f"{blocked}' keeps or takes it back"
                )
            erased = f"erased {len(face_ids)} faces (ids {ids}{more}) and {len(image_ids)} images"
            raise entry_missing(exc, erased + kept) from exc
        if hold is not None:  # pending until now (``app.blocklist_pending``)
            hold.recorded()
        return ErasureRecord(
            id=entry.seq,
            reason=why,
            face_ids=tuple(face_ids),
            image_ids=tuple(sorted(image_ids)),
            images=tuple(sorted({f.source for f in result.faces})),
            subjects=tuple(subjects),
            index_vectors_removed=result.index_vectors_removed,
            blocklisted=result.blocklisted,
            uploaded_files_deleted=deleted,
            probes_deleted=len(probes) if like_data is not None else None,
            vectors=vectors,
            catalog_store=catalog_part(result),
            like=like,
            persons_unnamed=result.persons_unnamed,
        )


def catalog_part(result: ForgetResult) -> dict[str, Any] | None:
    """What the catalog's database did to make the erased rows unrecoverable (SQLite:
    secure_delete and a WAL checkpoint; PostgreSQL: VACUUM) and what it leaves to the server
    or its operator; None when nothing was erased."""
    c = result.catalog
    if c is None:
        return None
    return {"database": c.database, "done": c.done, "complete": c.complete, "left": c.left}


def _kept_probes_like(
    engine: Engine, store: AccountabilityStore, person: PersonLike, org: str | None
) -> list[str]:
    """The sha256 of every kept probe image with a face of ``person``, at the threshold
    ``forget --like`` erases gallery faces with; with ``org``, of the probes kept for that
    organisation (``_kept_for``)."""
    digests = store.probes.kept() if org is None else _kept_for(store, org)

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


def _kept_for(store: AccountabilityStore, org: str) -> list[str]:
    """The kept probes ``org``'s entries name and that are kept for ``org``: a search of it,
    a verification naming it or a search request of it (pending, approved or run) since the
    last erasure of ``org`` that took it, whose retention is not over for ``org``
    (``reads.kept_for_its_org``). One another organisation
    used as well (probes are stored once per sha256, as long as the longest retention) counts
    and goes for ``org`` as any other: its bytes stay while another organisation keeps it
    (``_kept_by_others``), but ``org``'s erasure lists it (``probes_deleted``), and ``org``'s
    searches no longer show it (``reads.withdrawn``): what ``org`` sees is the same whether
    or not someone else searched or verified that photo."""
    taken, moment = _taken(store, org), store.db.now()
    verified = store.probes.verifications(org)
    requested = _requested(store, org)
    return [
        d
        for d in store.probes.kept(org)
        if _kept(store, org, d, taken, _keeps(store, d, verified, requested), moment)
    ]


def _taken(store: AccountabilityStore, org: str) -> dict[str, int]:
    """``{probe sha256: seq}`` of the last erasure of ``org`` that took each probe."""
    taken: dict[str, int] = {}
    for e in store.audit.entries(org=org, action=Action.ERASE, limit=None):
        taken.update(dict.fromkeys(erased_probes(e), e.seq))
    return taken


def _requested(store: AccountabilityStore, org: str) -> dict[str, list[AuditEntry]]:
    """``{probe sha256: [entry, ...]}``: ``org``'s search requests (``app.approvals``), which
    keep their probe from the request on, as a search keeps its own."""
    out: dict[str, list[AuditEntry]] = {}
    for e in store.audit.entries(org=org, action=Action.SEARCH_REQUEST, limit=None):
        digest = e.payload.get("probe_sha256")
        if isinstance(digest, str) and digest:
            out.setdefault(digest.lower(), []).append(e)
    return out


def _keeps(
    store: AccountabilityStore,
    digest: str,
    verified: dict[str, list[int]],
    requested: dict[str, list[AuditEntry]],
) -> list[AuditEntry]:
    """An organisation's verifications (their seqs in ``verified``) and search requests that
    name probe ``digest``: what keeps it besides its searches."""
    return [store.audit.get(seq) for seq in verified.get(digest, [])] + requested.get(digest, [])


def _kept(
    store: AccountabilityStore,
    org: str,
    digest: str,
    taken: dict[str, int],
    keeps: list[AuditEntry],
    moment: datetime,
) -> bool:
    """Whether probe ``digest``, which ``org``'s entries name, is kept for ``org``: by its
    searches of it, and ``keeps``, its verifications naming it and its search requests of
    it, each for the retention it was kept for (``probe_kept_until``; a request from before
    it was written: until an erasure takes it), since its last erasure that took it. A
    search or verification that failed names its photo by sha256 but kept no bytes: it
    keeps nothing (the bytes under that sha256 are another's, perhaps another
    organisation's); a request beside it still keeps its probe."""
    uses = store.audit.entries(org=org, probe=digest, limit=None) + keeps
    since = taken.get(digest, 0)
    ran = [e for e in uses if e.payload.get("outcome", OUTCOME_OK) == OUTCOME_OK]
    return any(e.seq > since and kept_for_its_org(e, moment) for e in ran)


def _kept_by_others(store: AccountabilityStore, org: str, digest: str) -> bool:
    """Whether an organisation other than ``org`` still keeps probe ``digest`` (``_kept``):
    then its bytes stay for that one's record. Once every other organisation that searched,
    verified or asked to search it has erased it too, or its retention for them is over, the
    bytes go. Asked inside the erasure's write transaction (``ProbeStore.erase``), so that a
    keep by another organisation cannot slip in between the answer and the delete."""
    moment = store.db.now()
    others = store.probes.named_by(digest) - {org.lower()}
    return any(
        _kept(
            store,
            o,
            digest,
            _taken(store, o),
            _keeps(
                store,
                digest,
                store.probes.verifications(o, digest),
                {digest: _requested(store, o).get(digest, [])},
            ),
            moment,
        )
        for o in others
    )


def _others_keep(store: AccountabilityStore, org: str | None) -> Callable[[str], bool] | None:
    """What ``ProbeStore.erase`` asks of each probe ``org``'s erasure takes: whether its bytes
    stay for another organisation (``_kept_by_others``); None for the host's CLI."""
    if org is None:
        return None
    eraser = org
    return lambda digest: _kept_by_others(store, eraser, digest)


def _delete_uploaded_copies(engine: Engine, result: ForgetResult) -> int:
    """Delete the server's uploaded copy of each image that has no face left in the catalog.
    Only files under ``HOME/uploads/`` are touched: other sources belong to the operator."""
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
