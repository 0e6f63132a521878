"""Every use of the gallery, checked and audited in one place: the CLI and the server call this.

    with AccountabilityStore.open(settings.home) as store, Engine(settings) as engine:
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

- ``search``: start and end time, every collection searched with its size, the probe's sha256
  (its bytes are kept by ``ProbeStore`` for ``settings.probe_retention_days``), the parameters
  (top, threshold, max_fmr, face, allow_poor, model), every candidate returned with its score,
  and per probe face its box and which candidates it returned (``probe_faces``);
- ``verify``: start and end time, both probes' sha256 (kept like a search probe), the boxes of
  the faces compared, similarity, threshold, the false match rate and the decision;
- ``erase``: the reason, what selected the faces (face ids, an image, a subject, or the sha256
  of a "like" photo), and what was removed: counts and the face ids, image ids and subjects;
- ``ingest``: collection, the paths given, the catalog's run id and the counts.

``detect_faces`` (the faces of a probe, before a search) is checked but not logged: it reads
no gallery data.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from facesearch.accountability import (
    AccountabilityStore,
    Action,
    Actor,
    AuditEntry,
    Candidate,
    Permission,
    SearchRecord,
    require,
)
from facesearch.accountability.audit import MAX_CASE_CHARS, MAX_PURPOSE_CHARS
from facesearch.engine import Engine, ForgetResult, ImageInput, VerifyResult
from facesearch.errors import InputError, NotFoundError
from facesearch.ingest import IngestSummary, ProgressFn
from facesearch.pipeline import Decodable, FacePipeline
from facesearch.search import SearchResult
from facesearch.types import ImageFaces

__all__ = [
    "UPLOADS",
    "audited_forget",
    "audited_ingest",
    "audited_search",
    "audited_verify",
    "check_case",
    "detect_faces",
]

log = logging.getLogger(__name__)

UPLOADS = "uploads"  # HOME/uploads/: files uploaded to the server for ingest
MAX_LOGGED_PATHS = 100
UPLOADED_PHOTO = "the uploaded photo"  # what messages call an upload with no usable file name
NO_REASON = "no reason given (home without user accounts)"


# --- checks --------------------------------------------------------------------------------


def _clean(value: str | None, what: str, limit: int, *, one_line: bool) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InputError(f"{what} must be text")
    text = value.strip()
    if not text:
        return None
    if len(text) > limit:
        raise InputError(f"{what} is longer than {limit} characters")
    allowed = "\t" if one_line else "\t\n\r"
    if any(ord(ch) < 32 and ch not in allowed for ch in text):
        raise InputError(f"{what} contains control characters")
    return text


def check_case(
    case: str | None, purpose: str | None, *, required: bool
) -> tuple[str | None, str | None]:
    """The case number and purpose, trimmed; InputError if required and missing, or unusable."""
    case_text = _clean(case, "the case number", MAX_CASE_CHARS, one_line=True)
    purpose_text = _clean(purpose, "the purpose", MAX_PURPOSE_CHARS, one_line=False)
    if required and case_text is None:
        raise InputError("a case number is required")
    if required and purpose_text is None:
        raise InputError("a stated purpose is required")
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
    digest = store.probes.keep(data, retention_days=engine.settings.probe_retention_days)
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
    data_a, name_a = _bytes_of(engine, a, names[0])
    data_b, name_b = _bytes_of(engine, b, names[1])
    result = engine.verify(
        data_a, data_b, threshold=threshold, max_fmr=max_fmr, names=(name_a, name_b)
    )
    keep = engine.settings.probe_retention_days
    digests = [store.probes.keep(d, retention_days=keep) for d in (data_a, data_b)]
    v = result.verification
    payload = {
        "started": started.isoformat(timespec="microseconds"),
        "ended": _now().isoformat(timespec="microseconds"),
        "probe_sha256": digests,
        "faces": [result.face_a.bbox.as_list(), result.face_b.bbox.as_list()],
        "similarity": round(v.similarity, 6),
        "threshold": round(v.threshold, 6),
        "fmr": v.fmr,
        "same_person": v.same,
        "parameters": {
            "threshold": threshold,
            "max_fmr": max_fmr,
            "model_id": engine.pipeline.model_id,
        },
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
    why = _clean(reason, "the reason", MAX_PURPOSE_CHARS, one_line=False)
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
    result = engine.forget(
        face_ids=face_ids,
        image_id=image_id,
        subject=subject,
        like=like_data,
        max_fmr=max_fmr,
    )
    images = sorted({f.image_id for f in result.faces} | ({image_id} if image_id else set()))
    deleted = _delete_uploaded_copies(engine, result)
    removed: dict[str, list[Any]] = {
        "faces": [f.id for f in result.faces],
        "images": images,
        "subjects": sorted({f.subject for f in result.faces if f.subject}),
    }
    payload = {
        "reason": why,
        "selector": selector,
        "counts": {kind: len(ids) for kind, ids in removed.items()},
        "removed": removed,
        "index_vectors_removed": result.index_vectors_removed,
        "blocklisted": result.blocklisted,
        "uploaded_files_deleted": deleted,
    }
    entry = store.audit.append(
        actor=actor.name, action=Action.ERASE, case=case, purpose=purpose, payload=payload
    )
    return result, entry


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
        path = Path(face.source)
        try:
            inside = path.resolve().is_relative_to(root)
        except OSError:
            continue
        if not inside or not path.is_file():
            continue
        try:
            left = engine.catalog.faces_of_image(face.image_id)
        except NotFoundError:  # the image record is gone too
            left = []
        if not left:
            path.unlink(missing_ok=True)
            deleted += 1
    return deleted


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
    entry = store.audit.append(
        actor=actor.name, action=Action.INGEST, case=case, purpose=purpose, payload=payload
    )
    return summary, entry
