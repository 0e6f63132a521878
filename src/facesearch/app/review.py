"""Review of candidates under the two-person rule: verdicts (``decide``), the candidates
waiting for a second person (``pending``), and a user's recent searches.

A candidate is confirmed only when two different people have marked it a possible match; the
decisions themselves are kept by ``accountability.decisions``, which logs each one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from facesearch.accountability import (
    AccountabilityStore,
    Action,
    Actor,
    CandidateState,
    Permission,
    Verdict,
)
from facesearch.accountability.audit_entries import FaceId
from facesearch.accountability.decisions import PendingCandidate
from facesearch.accountability.permissions import can
from facesearch.app.alerts import raise_alerts
from facesearch.app.checks import allow, check_case_use
from facesearch.app.reads import held_candidates, visible_search
from facesearch.app.records import SearchRecord
from facesearch.app.scope import policy_of, reach_of
from facesearch.errors import ErasedError, InputError
from facesearch.gallery.catalog import Catalog
from facesearch.types import MAX_ID

__all__ = [
    "PENDING_DAYS",
    "RECENT_DAYS",
    "DecideRequest",
    "PendingCandidate",
    "RecentSearch",
    "decide",
    "decide_refusal",
    "pending",
    "recent_searches",
]

PENDING_DAYS = 90  # candidates awaiting a second person are looked for this far back
RECENT_DAYS = 30  # "your recent searches" looks this far back


@dataclass(frozen=True)
class DecideRequest:
    search_id: int
    face_id: int
    verdict: str  # possible_match or rejected
    note: str = ""

    def chosen(self) -> Verdict:
        try:
            return Verdict(self.verdict)
        except ValueError as exc:
            raise InputError("verdict must be possible_match or rejected") from exc


def decide(
    catalog: Catalog, store: AccountabilityStore, actor: Actor, request: DecideRequest
) -> CandidateState:
    """Record ``actor``'s verdict on a candidate of a search they may see (logged).
    ErasedError for a candidate face erased since (or, for ``actor``, in a collection whose
    share was withdrawn since): nothing can be confirmed about a face the gallery no longer
    holds; InputError for a possible match on a candidate in the probe's
    own file (it matches itself)."""
    verdict = request.chosen()
    entry = visible_search(store, actor, request.search_id)
    check_case_use(store, actor, Permission.DECIDE, entry.case, entry.purpose)
    listed = request.face_id in SearchRecord.candidate_ids(entry.payload)
    scope = reach_of(store, catalog, actor)  # a share withdrawn since: as erased
    if listed and not held_candidates(catalog, [request.face_id], scope):
        raise ErasedError(
            f"face {request.face_id} has been erased; no verdict can be recorded on it"
        )
    if verdict == Verdict.POSSIBLE_MATCH and request.face_id in SearchRecord.same_file_ids(
        entry.payload
    ):
        raise InputError(
            f"candidate face {request.face_id} is in the probe photo itself (the same file): "
            "that it matches says nothing about who the probe shows, so it cannot be marked "
            "a possible match; reject it, or look at the other candidates"
        )
    state = store.decisions.decide(
        actor,
        request.search_id,
        request.face_id,
        verdict,
        request.note or "",
        two_person=policy_of(store, actor).two_person,
    )
    raise_alerts(store, store.audit.get(state.history[-1].audit_seq))
    return state


def decide_refusal(store: AccountabilityStore, actor: Actor, case: str | None) -> str | None:
    """Why ``actor`` may not give a verdict on the candidates of a search under ``case``
    (None: they may), unlogged: what a page shows instead of verdict buttons that would be
    refused (an admin who is not a member of the case saw them, then got the refusal)."""
    if not actor.is_local and not can(actor.role, Permission.DECIDE):
        return f"{actor.name} ({actor.role.value}) may not decide on candidates"
    refusal = store.cases.refusal(case, actor)
    if refusal is None or case is None:
        return None
    return refusal.message(case, actor.name)


def pending(catalog: Catalog, store: AccountabilityStore, actor: Actor) -> list[PendingCandidate]:
    """Candidates marked possible match by someone else in the last PENDING_DAYS, which
    ``actor`` may confirm as the second person; newest first. A candidate whose face has been
    erased since (or is out of ``actor``'s reach now) is left out: no verdict can be recorded
    on it (``decide``)."""
    allow(actor, Permission.DECIDE)
    since = datetime.now(UTC) - timedelta(days=PENDING_DAYS)
    found = store.decisions.awaiting_second_person(actor.name, since, actor.org)
    ids = {p.face_id: _catalog_id(p.face_id) for p in found}
    wanted = sorted({i for i in ids.values() if i is not None})
    held = {f.id for f in held_candidates(catalog, wanted, reach_of(store, catalog, actor))}
    return [p for p in found if ids[p.face_id] is None or ids[p.face_id] in held]


def _catalog_id(face_id: FaceId) -> int | None:
    """A candidate's face id as the catalog's integer id (None: not one, left as it is)."""
    if isinstance(face_id, int):
        return face_id
    digits = face_id.isascii() and face_id.isdigit() and int(face_id) <= MAX_ID
    return int(face_id) if digits else None


@dataclass(frozen=True)
class RecentSearch:
    id: int
    time: datetime
    case: str | None
    purpose: str | None
    candidates: int
    outcome: str

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "time": self.time.isoformat(timespec="seconds"),
            "case": self.case,
            "purpose": self.purpose,
            "candidates": self.candidates,
            "outcome": self.outcome,
        }


def recent_searches(
    store: AccountabilityStore, actor: Actor, limit: int = 10
) -> list[RecentSearch]:
    """``actor``'s own searches of the last RECENT_DAYS, newest first."""
    since = datetime.now(UTC) - timedelta(days=RECENT_DAYS)
    entries = store.audit.entries(actor=actor.name, action=Action.SEARCH, since=since, limit=None)
    return [
        RecentSearch(
            e.seq,
            e.time,
            e.case,
            e.purpose,
            len(e.payload.get("candidates", [])),
            str(e.payload.get("outcome", "ok")),
        )
        for e in entries[-limit:][::-1]
    ]
