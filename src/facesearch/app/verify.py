"""1:1 comparison of two photos, checked and logged (``verify``).

A ``verify`` entry holds the start and end time, both photos' sha256 (the photos are kept like
a search probe, in the entry's commit, and end for the organisation when its
``probe_kept_until`` says, whoever else kept the same photo longer), the boxes of the faces
compared, similarity, threshold, false match rate and the decision, and the models that scored
the pair with each one's score (two where a second model is fused with the first). A failed
attempt is logged with ``outcome`` = the error's code; its photos are named by sha256 but not
kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from facesearch.accountability import AccountabilityStore, Action, Actor, Permission
from facesearch.app.checks import (
    Failure,
    bytes_of,
    check_decision,
    checked_use,
    iso,
    log,
    log_failure,
    now,
    sha256,
)
from facesearch.app.records import OUTCOME_OK
from facesearch.app.scope import retention_days
from facesearch.core.matching import Verification
from facesearch.engine import Engine, ImageInput
from facesearch.errors import FaceSearchError
from facesearch.types import Quality

__all__ = [
    "VERDICT_BELOW",
    "VERDICT_SAME",
    "VerifyRecord",
    "VerifyRequest",
    "record_failed_verify",
    "verdict_words",
    "verify",
]

# What a decision says, in the web's words (templates/verify.html): a score at or above the
# threshold is a lead for a person to check, never an identification; one below it is not a
# match at that threshold, and does not prove two different people either.
VERDICT_SAME = "at or above the threshold, possibly the same person (a lead to check)"
VERDICT_BELOW = (
    "below the threshold, not a match at this threshold (this does not prove two different people)"
)


def verdict_words(same: bool) -> str:
    """The words of a verification's decision (``same``: at or above the threshold)."""
    return VERDICT_SAME if same else VERDICT_BELOW


@dataclass(frozen=True)
class VerifyRequest:
    """Are the main faces of two photos (paths, bytes or RGB arrays) the same person?"""

    a: ImageInput
    b: ImageInput
    case: str | None = None
    purpose: str | None = None
    names: tuple[str | None, str | None] = (None, None)  # what messages call the photos
    threshold: float | None = None
    max_fmr: float | None = None

    def parameters(self, model_id: str) -> dict[str, Any]:
        return {"threshold": self.threshold, "max_fmr": self.max_fmr, "model_id": model_id}


@dataclass(frozen=True)
class VerifyRecord:
    """A 1:1 comparison as run and logged (``id``: its audit entry)."""

    id: int
    case: str | None
    purpose: str | None
    names: tuple[str, str]
    verification: Verification
    boxes: tuple[list[float], list[float]]
    qualities: tuple[Quality, Quality]
    same_file: bool = False  # both photos are one file (same sha256), not two photos

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "a": self.names[0],
            "b": self.names[1],
            **self.verification.as_dict(),
            "faces": [
                {"bbox": box, "quality": q.as_dict()}
                for box, q in zip(self.boxes, self.qualities, strict=True)
            ],
            "same_file": self.same_file,
            "case": self.case,
            "purpose": self.purpose,
        }


def verify(
    engine: Engine, store: AccountabilityStore, actor: Actor, request: VerifyRequest
) -> VerifyRecord:
    """Compare the main faces of two photos and log it."""
    check_decision(request.threshold, request.max_fmr)
    use = checked_use(
        store, actor, Permission.VERIFY, request.case, request.purpose, settings=engine.settings
    )
    case, purpose = use.case, use.purpose
    started = now()
    read: list[bytes] = []
    try:
        data_a, name_a = bytes_of(engine, request.a, request.names[0])
        read.append(data_a)
        data_b, name_b = bytes_of(engine, request.b, request.names[1])
        read.append(data_b)
        result = engine.verify(
            data_a,
            data_b,
            threshold=request.threshold,
            max_fmr=request.max_fmr,
            names=(name_a, name_b),
        )
    except FaceSearchError as exc:  # every attempt is logged with its outcome
        failure = use.failure(exc, engine.pipeline.model_id, read, started)
        record_failed_verify(store, actor, request, failure)
        raise
    keep = retention_days(store, actor, engine.settings.probe.retention_days)
    digests = [sha256(d) for d in (data_a, data_b)]  # the names ``store.probes.keep`` gives
    v = result.verification
    boxes = (result.face_a.bbox.as_list(), result.face_b.bbox.as_list())
    payload = {
        "outcome": OUTCOME_OK,
        "started": iso(started),
        "ended": iso(now()),
        "probe_sha256": digests,
        "faces": list(boxes),
        "similarity": round(v.similarity, 6),
        "threshold": round(v.threshold, 6),
        "fmr": v.fmr,
        "same_person": v.same,
        "models": list(v.models),
        "scores": [round(x, 6) for x in v.scores],
        "parameters": request.parameters(engine.pipeline.model_id),
        # when its photos end for this organisation (their bytes may stay longer for another's)
        "probe_kept_until": iso(store.db.now() + timedelta(days=keep)),
        **use.marks(),  # a case opened while it ran is not the one it was checked in
    }
    with store.db.write():  # the photos and the entry naming them commit together
        for data in dict.fromkeys((data_a, data_b)):
            store.probes.keep(data, retention_days=keep)
        entry = log(store, actor, Action.VERIFY, case, purpose, payload)
    return VerifyRecord(
        id=entry.seq,
        case=case,
        purpose=purpose,
        names=(name_a, name_b),
        verification=v,
        boxes=boxes,
        qualities=(result.face_a.quality, result.face_b.quality),
        same_file=digests[0] == digests[1],
    )


def record_failed_verify(
    store: AccountabilityStore, actor: Actor, request: VerifyRequest, failure: Failure
) -> int:
    """Log a 1:1 comparison that failed; the photos read (``failure.photos``) are named by
    their sha256 but not kept. ``verify`` calls this itself; the server calls it for an upload
    refused before the comparison could start."""
    return log_failure(
        store,
        actor,
        Action.VERIFY,
        request.case,
        request.purpose,
        failure,
        parameters=request.parameters(failure.model_id),
        probe_sha256=[sha256(d) for d in failure.photos],
    )
