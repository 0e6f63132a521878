"""1:N search, checked and logged: ``search`` and the faces of a probe before it (``detect``).

Every attempt is logged. A search that ran is one ``search`` entry whose payload is its
``SearchRecord`` (outcome ``ok``); one that failed (no face, a refused poor probe, an
unreadable file ...) is an entry of the same shape with ``outcome`` = the error's code, the
message in ``error`` and no candidates, and its probe is named by sha256 but not kept. The
probe of a search that ran is kept (``ProbeStore``) for ``probe_retention_days``. The record
names what its FMRs rest on (the calibration's ``basis``) and, for a probe face in a poorer
quality bucket, how much less reliable its results are (``results.with_reliability``).
Where the organisation's policy asks for approval, a search runs only under an approved
request (``approvals.py``), which it claims first (a ``search_run_claim`` entry: one run at a
time) and its entry names (``approval``, ``claim``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from facesearch.accountability import AccountabilityStore, Action, Actor, AuditEntry, Permission
from facesearch.app.approvals import claim_approval
from facesearch.app.checks import (
    UPLOADED_PHOTO,
    Failure,
    allow,
    bytes_of,
    check_decision,
    check_top,
    checked_use,
    iso,
    log,
    log_failure,
    now,
    sha256,
)
from facesearch.app.reads import ReviewedSearch
from facesearch.app.records import GalleryFace, SearchRecord
from facesearch.app.scope import capped_fmr, policy_of, retention_days, scope_of
from facesearch.core.quality import load_quality_table, probe_problems
from facesearch.core.text import shown_name
from facesearch.engine import Engine, ImageInput
from facesearch.errors import FaceSearchError
from facesearch.pipeline import Decodable, FacePipeline
from facesearch.results import SearchResult, with_reliability
from facesearch.settings import Settings
from facesearch.types import ImageFaces

__all__ = [
    "DetectedFace",
    "SearchRequest",
    "detect",
    "record_failed_search",
    "search",
    "search_answer",
]


@dataclass(frozen=True)
class SearchRequest:
    """A 1:N search: the probe photo (a path, bytes or an RGB array), why, and how."""

    probe: ImageInput
    case: str | None = None
    purpose: str | None = None
    name: str | None = None  # what messages call the probe (default: its path)
    collections: tuple[str, ...] | None = None  # default: every collection
    top: int | None = None  # default: the search_top setting
    max_fmr: float | None = None
    threshold: float | None = None
    face: int | None = None  # only this face of the probe
    allow_poor: bool = False
    approval: int | None = None  # the approved search request it runs (``approvals.py``)

    def options(self) -> dict[str, Any]:
        """How to search: ``Engine.search``'s keyword arguments."""
        return {name: getattr(self, name) for name in SEARCH_OPTIONS}

    def parameters(self, model_id: str) -> dict[str, Any]:
        """The parameters as logged (an attempt's, before the search filled in defaults)."""
        return {
            **self.options(),
            "collections": list(self.collections) if self.collections else None,
            "model_id": model_id,
        }


# the order of a search's logged parameters
SEARCH_OPTIONS = ("top", "threshold", "max_fmr", "face", "allow_poor", "collections")


def search(
    engine: Engine,
    store: AccountabilityStore,
    actor: Actor,
    request: SearchRequest,
    *,
    analysed: ImageFaces | None = None,
) -> SearchRecord:
    """Search the probe in the gallery and log it; the record returned carries its audit
    entry's id. ``analysed``: the probe's faces, already detected and embedded by a pipeline
    with the engine's models (the server analyses in parallel, off the engine's thread)."""
    return _searched(engine, store, actor, request, analysed=analysed)[0]


def search_answer(
    engine: Engine,
    store: AccountabilityStore,
    actor: Actor,
    request: SearchRequest,
    *,
    analysed: ImageFaces | None = None,
) -> ReviewedSearch:
    """``search``, answered as ``load_search`` would read it back from the trail (the same
    object a later read returns), without reading it back: from the entry just written and
    the candidates' faces the search found; no verdict yet, and its probe kept in the same
    commit. The server's answer to a search (it saved a read of the entry, the faces and
    the decisions on the catalog's threads)."""
    _, entry, result = _searched(engine, store, actor, request, analysed=analysed)
    found = {
        h.face_id: GalleryFace(
            h.image_id, h.image_path, h.bbox, h.subject, h.collection, h.image_sha256
        )
        for face in result.faces
        for h in face.hits
    }
    record = SearchRecord.from_entry(
        entry.seq, entry.actor, entry.case, entry.purpose, entry.payload, found, engine.calibration
    )
    return ReviewedSearch(record, {}, probe_kept=True)


def _searched(
    engine: Engine,
    store: AccountabilityStore,
    actor: Actor,
    request: SearchRequest,
    *,
    analysed: ImageFaces | None = None,
) -> tuple[SearchRecord, AuditEntry, SearchResult]:
    """``search``, with the entry it wrote and the engine's result."""
    check_decision(request.threshold, request.max_fmr)
    check_top(request.top)
    use = checked_use(
        store, actor, Permission.SEARCH, request.case, request.purpose, settings=engine.settings
    )
    case, purpose = use.case, use.purpose
    claim = claim_approval(store, actor, request, case, purpose)  # refused: nothing logged
    started = now()
    data: bytes | None = None
    try:
        request = scoped(engine, store, actor, request)
        data, source = bytes_of(engine, request.probe, request.name)
        result = engine.search(data, name=source, analysed=analysed, **request.options())
    except FaceSearchError as exc:
        read = [data] if data else []
        failure = use.failure(exc, engine.pipeline.model_id, read, started)
        record_failed_search(store, actor, request, failure, claim=claim)  # ends the claim
        raise
    days = retention_days(store, actor, engine.settings.probe.retention_days)
    digest = sha256(data)  # the name ``store.probes.keep`` gives it, in ``log`` below
    parameters = {
        **request.parameters(engine.pipeline.model_id),
        "top": result.top,
        "threshold": result.threshold,
    }
    parameters.pop("collections")
    record = SearchRecord.from_result(
        with_reliability(result, load_quality_table(engine.pipeline.model_id)),
        collections={c: engine.indexes.size([c]) for c in result.collections},
        parameters=parameters,
        probe_sha256=digest,
        table=engine.calibration,
    )
    payload = record.payload()
    payload["ended"] = iso(now())
    # when its probe ends for this organisation (the bytes may stay longer for another's)
    payload["probe_kept_until"] = iso(store.db.now() + timedelta(days=days))
    payload.update(approved(request, claim))
    payload.update(use.marks())  # a case opened while it ran is not the one it was checked in
    entry = log(store, actor, Action.SEARCH, case, purpose, payload, keep_probe=(data, days))
    logged = replace(
        record, id=entry.seq, actor=entry.actor, case=case, purpose=purpose, ended=payload["ended"]
    )
    return logged, entry, result


def scoped(
    engine: Engine, store: AccountabilityStore, actor: Actor, request: SearchRequest
) -> SearchRequest:
    """The request within what ``actor``'s organisation may search: its own and shared
    collections (``scope.py``), candidates no looser than its policy's false match rate."""
    collections = scope_of(store, engine.catalog, actor).search_collections(request.collections)
    max_fmr, threshold = capped_fmr(
        policy_of(store, actor),
        request.max_fmr,
        request.threshold,
        engine.calibration.threshold_for_fmr,
    )
    return replace(request, collections=collections, max_fmr=max_fmr, threshold=threshold)


def record_failed_search(
    store: AccountabilityStore,
    actor: Actor,
    request: SearchRequest,
    failure: Failure,
    *,
    claim: int | None = None,
) -> int:
    """Log a search attempt that failed; returns its entry's seq. The entry has the shape of
    a search's with no candidates; the probe is named by its sha256 when its bytes were read
    (``failure.photos``), but not kept. ``search`` calls this itself; the server calls it for
    an upload refused before the search could start (not an image, too many pixels,
    undecodable). ``claim``: the claim on its approved request the attempt ran under
    (``approvals.claim_approval``), which this entry ends."""
    return log_failure(
        store,
        actor,
        Action.SEARCH,
        request.case,
        request.purpose,
        failure,
        probe=shown_name(request.name or UPLOADED_PHOTO),
        probe_sha256=sha256(failure.photos[0]) if failure.photos else None,
        collections=[],
        parameters=request.parameters(failure.model_id),
        candidates=[],
        probe_faces=[],
        **approved(request, claim),
    )


def approved(request: SearchRequest, claim: int | None = None) -> dict[str, Any]:
    """What a search's entry says of its approval: the request it ran and the claim it ran
    under (none: nothing)."""
    if request.approval is None:
        return {}
    return {"approval": request.approval} | ({} if claim is None else {"claim": claim})


@dataclass(frozen=True)
class DetectedFace:
    """A face of a probe before searching: where, how good, and why it would be refused."""

    face: int
    bbox: list[float]
    quality: Mapping[str, float]
    problems: tuple[str, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "face": self.face,
            "bbox": self.bbox,
            "quality": dict(self.quality),
            "problems": list(self.problems),
        }


def detect(
    pipeline: FacePipeline,
    settings: Settings,
    actor: Actor,
    image: bytes,
    name: str | None = None,
) -> tuple[ImageFaces, tuple[DetectedFace, ...]]:
    """Every face of a probe image (no embedding), to choose one before searching. Checked
    but not logged: it reads no gallery data."""
    allow(actor, Permission.SEARCH)
    faces = pipeline.analyse_one(Decodable(name or UPLOADED_PHOTO, image), embed=False)
    return faces, tuple(
        DetectedFace(
            f.index,
            f.bbox.as_list(),
            f.quality.as_dict(),
            tuple(probe_problems(f.quality, settings)),
        )
        for f in faces.faces
    )
