"""The two-person rule (AI Act Art. 14(5)): no action on a match unless two people verified it.

A candidate is one face returned by one search: (search audit seq, face id). Reviewers record a
verdict on it, ``possible_match`` or ``rejected``, and its status follows this table
(``TRANSITIONS``; the rows are all the pairs there are)::

    status          verdict          -> status
    unreviewed      possible_match   -> possible_match
    unreviewed      rejected         -> rejected
    possible_match  possible_match   -> confirmed       only from a second, different person
    possible_match  rejected         -> disputed
    rejected        possible_match   -> disputed
    rejected        rejected         -> rejected
    confirmed       possible_match   -> confirmed       a further person agrees
    confirmed       rejected         -> disputed
    disputed        possible_match   -> disputed
    disputed        rejected         -> disputed

and two rules over the whole history:

- a person records each verdict on a candidate at most once: the same investigator saying
  ``possible_match`` twice does not confirm (PermissionDeniedError: two-person rule);
- a rejection by anyone, the first reviewer included, at any point after a possible match
  makes it ``disputed``; nothing leads out of ``disputed``. Only ``confirmed`` is actionable.

Deciding takes the DECIDE permission (investigators and admins; auditors get
PermissionDeniedError). Every verdict is an audit entry (action ``decision``); the
``decisions`` table only indexes those entries, and the status is always replayed from the
entries themselves, so it cannot say more than the hash-chained trail does.

The pending list (what waits for a second person) is one query, ``awaiting_second_person``: by
the table above, a candidate is ``possible_match`` exactly when its only verdict is a possible
match, so the query looks for those among the decision entries since a given time.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from facesearch.accountability.audit import AuditTrail, entry_in_org
from facesearch.accountability.audit_entries import Action, FaceId
from facesearch.accountability.audit_report import BreakKind, ChainBreak
from facesearch.accountability.db import Database, format_time, parse_time
from facesearch.accountability.dialect import face_param, is_postgres
from facesearch.accountability.permissions import DEFAULT_ORG, Actor, Permission, require
from facesearch.accountability.text_checks import clean_text
from facesearch.accountability.users import current_actor
from facesearch.errors import CatalogError, InputError, NotFoundError, PermissionDeniedError

__all__ = [
    "TRANSITIONS",
    "CandidateState",
    "CandidateStatus",
    "DecisionRecord",
    "Decisions",
    "PendingCandidate",
    "Verdict",
    "next_status",
]

MAX_NOTE_CHARS = 2000

# the decision index against the trail: (a query for the seqs that break it, its finding)
_INDEX_CHECKS: tuple[tuple[str, str], ...] = (
    (
        "SELECT a.seq FROM audit_log a LEFT JOIN decisions d ON d.audit_seq = a.seq "
        "WHERE a.action = ? AND d.audit_seq IS NULL ORDER BY a.seq",
        "decision entry {seq} is missing from the index",
    ),
    (
        "SELECT d.audit_seq FROM decisions d LEFT JOIN audit_log a ON a.seq = d.audit_seq "
        "WHERE a.seq IS NULL OR a.action IS NOT ? "
        "OR json_extract(a.payload, '$.search_seq') IS NOT d.search_seq "
        "OR json_extract(a.payload, '$.face_id') IS NOT d.face_id "
        "ORDER BY d.audit_seq",
        "the decision index points at entry {seq}, which is not that decision",
    ),
)
_PG_INDEX_CHECKS = (
    _INDEX_CHECKS[0],
    (
        "SELECT d.audit_seq FROM decisions d LEFT JOIN audit_log a ON a.seq = d.audit_seq "
        "WHERE a.seq IS NULL OR a.action IS DISTINCT FROM ? "
        "OR (a.payload::jsonb -> 'search_seq') IS DISTINCT FROM to_jsonb(d.search_seq) "
        "OR (a.payload::jsonb -> 'face_id') IS DISTINCT FROM d.face_id "
        "ORDER BY d.audit_seq",
        _INDEX_CHECKS[1][1],
    ),
)


class Verdict(StrEnum):
    POSSIBLE_MATCH = "possible_match"  # "this may be the person" (a second one confirms)
    REJECTED = "rejected"  # "this is not the person"


class CandidateStatus(StrEnum):
    UNREVIEWED = "unreviewed"
    POSSIBLE_MATCH = "possible_match"  # one person says possible match; waits for a second
    REJECTED = "rejected"  # rejected, nobody said possible match
    CONFIRMED = "confirmed"  # two different people said possible match: actionable
    DISPUTED = "disputed"  # both verdicts were given: not actionable


_S, _V = CandidateStatus, Verdict
TRANSITIONS: MappingProxyType[tuple[CandidateStatus, Verdict], CandidateStatus] = MappingProxyType(
    {
        (_S.UNREVIEWED, _V.POSSIBLE_MATCH): _S.POSSIBLE_MATCH,
        (_S.UNREVIEWED, _V.REJECTED): _S.REJECTED,
        (_S.POSSIBLE_MATCH, _V.POSSIBLE_MATCH): _S.CONFIRMED,  # second person only
        (_S.POSSIBLE_MATCH, _V.REJECTED): _S.DISPUTED,
        (_S.REJECTED, _V.POSSIBLE_MATCH): _S.DISPUTED,
        (_S.REJECTED, _V.REJECTED): _S.REJECTED,
        (_S.CONFIRMED, _V.POSSIBLE_MATCH): _S.CONFIRMED,
        (_S.CONFIRMED, _V.REJECTED): _S.DISPUTED,
        (_S.DISPUTED, _V.POSSIBLE_MATCH): _S.DISPUTED,
        (_S.DISPUTED, _V.REJECTED): _S.DISPUTED,
    }
)


def next_status(status: CandidateStatus, verdict: Verdict) -> CandidateStatus:
    return TRANSITIONS[(CandidateStatus(status), Verdict(verdict))]


@dataclass(frozen=True)
class DecisionRecord:
    audit_seq: int
    time: datetime
    actor: str
    verdict: Verdict
    note: str
    status: CandidateStatus  # the candidate's status after this verdict


@dataclass(frozen=True)
class CandidateState:
    search_seq: int
    face_id: FaceId
    status: CandidateStatus
    history: tuple[DecisionRecord, ...]

    @property
    def verified_by(self) -> tuple[str, ...]:
        """The people who said possible_match, in order."""
        return tuple(r.actor for r in self.history if r.verdict is Verdict.POSSIBLE_MATCH)

    def awaits_second_person(self, name: str) -> bool:
        """Whether ``name`` could confirm now (for a UI's "confirm" button)."""
        return self.status is CandidateStatus.POSSIBLE_MATCH and name not in self.verified_by


@dataclass(frozen=True)
class PendingCandidate:
    """A candidate one person has marked possible match, waiting for a second person."""

    search_seq: int
    face_id: FaceId
    case: str | None  # the case number of the verdict's entry
    marked_by: tuple[str, ...]  # who said possible match (one person: it is not confirmed yet)
    time: datetime  # when they said it


# A candidate is POSSIBLE_MATCH exactly when its one and only verdict is a possible match
# (TRANSITIONS: a second verdict of either kind leads to confirmed, disputed or rejected).
_AWAITING = """
    SELECT d.search_seq, d.face_id, a.case_number, a.actor, a.time, a.org
      FROM audit_log a JOIN decisions d ON d.audit_seq = a.seq
     WHERE a.action = ? AND a.time >= ? AND a.actor != ?
       AND {verdict} = ?
       AND NOT EXISTS (SELECT 1 FROM decisions o
                        WHERE o.search_seq = d.search_seq AND o.face_id = d.face_id
                          AND o.audit_seq != d.audit_seq)
     ORDER BY a.seq DESC"""
AWAITING_QUERY = _AWAITING.format(verdict="json_extract(a.payload, '$.verdict')")
_PG_AWAITING_QUERY = _AWAITING.format(verdict="(a.payload::jsonb ->> 'verdict')")


def replay(
    search_seq: int, face_id: FaceId, steps: Iterable[tuple[int, datetime, str, Verdict, str]]
) -> CandidateState:
    """The state after (audit seq, time, actor, verdict, note) steps, in order."""
    status = CandidateStatus.UNREVIEWED
    history: list[DecisionRecord] = []
    for seq, when, actor, verdict, note in steps:
        status = next_status(status, verdict)
        history.append(DecisionRecord(seq, when, actor, verdict, note, status))
    return CandidateState(search_seq, face_id, status, tuple(history))


def check_allowed(
    state: CandidateState, actor: str, verdict: Verdict, *, two_person: bool = True
) -> None:
    """Refuse a verdict the rules forbid: the same person giving the same verdict twice (with
    ``two_person`` off, a possible match may be confirmed by the person who marked it)."""
    if any(r.actor == actor and r.verdict is verdict for r in state.history):
        if verdict is Verdict.POSSIBLE_MATCH and state.status is CandidateStatus.POSSIBLE_MATCH:
            if not two_person:
                return
            raise PermissionDeniedError(
                "two-person rule: a second, different person must confirm this possible match"
            )
        raise InputError(f"{actor} has already marked this candidate {verdict.value}")


def _same_id(a: Any, b: FaceId) -> bool:
    return type(a) is type(b) and a == b


class Decisions:
    def __init__(self, db: Database, audit: AuditTrail) -> None:
        self._db = db
        self._audit = audit

    def decide(
        self,
        by: Actor,
        search_seq: int,
        face_id: FaceId,
        verdict: Verdict | str,
        note: str = "",
        *,
        case: str | None = None,
        purpose: str | None = None,
        two_person: bool = True,
    ) -> CandidateState:
        """Record one person's verdict on a candidate of a search; return the new state.

        Case number and purpose default to the search's. ``two_person`` False (an
        organisation's policy turned the rule off) lets the person who marked a possible match
        confirm it alone; the entry says so (``two_person: false``).
        """
        try:
            verdict = Verdict(verdict)
        except ValueError as exc:
            raise InputError(f"a verdict is one of {', '.join(v.value for v in Verdict)}") from exc
        if not isinstance(face_id, int | str) or isinstance(face_id, bool):
            raise InputError("a face id is an integer or a string")
        note = clean_text(note or "", "the note", MAX_NOTE_CHARS, one_line=False) or ""
        with self._db.write() as conn:
            actor = current_actor(conn, by)
            require(actor, Permission.DECIDE)
            search = self._search(conn, search_seq, actor.org)
            candidates = search["payload"].get("candidates", [])
            if not any(_same_id(c.get("face_id"), face_id) for c in candidates):
                raise InputError(f"face {face_id!r} is not a candidate of search {search_seq}")
            before = self._state(conn, search_seq, face_id)
            check_allowed(before, actor.name, verdict, two_person=two_person)
            after = next_status(before.status, verdict)
            entry = self._audit.append(
                org=search["org"],
                actor=actor.name,
                action=Action.DECISION,
                case=case if case is not None else search["case"],
                purpose=purpose if purpose is not None else search["purpose"],
                payload={
                    "search_seq": search_seq,
                    "face_id": face_id,
                    "verdict": verdict.value,
                    "note": note,
                    **({} if two_person else {"two_person": False}),
                    "status_before": before.status.value,
                    "status_after": after.value,
                },
            )
            conn.execute(
                "INSERT INTO decisions (audit_seq, search_seq, face_id) VALUES (?, ?, ?)",
                (entry.seq, search_seq, face_param(conn, face_id)),
            )
            return self._state(conn, search_seq, face_id)

    def state(self, search_seq: int, face_id: FaceId) -> CandidateState:
        with self._db.read() as conn:
            return self._state(conn, search_seq, face_id)

    def states(self, search_seq: int) -> list[CandidateState]:
        """Every candidate of a search that has at least one verdict, by face id order."""
        with self._db.read() as conn:
            ids = [
                r[0]
                for r in conn.execute(
                    "SELECT DISTINCT face_id FROM decisions WHERE search_seq = ?", (search_seq,)
                )
            ]
            ids.sort(key=lambda f: (isinstance(f, str), f))  # SQLite's order: numbers first
            return [self._state(conn, search_seq, face_id) for face_id in ids]

    def awaiting_second_person(
        self, actor_name: str, since: datetime, org: str | None = DEFAULT_ORG
    ) -> list[PendingCandidate]:
        """The candidates ``actor_name`` could confirm: marked possible match since ``since``
        by someone else in organisation ``org``, with no other verdict yet; newest first. One
        query (the audit log's action index, then the decision index per candidate)."""
        if org is None:
            return []
        with self._db.read() as conn:
            rows = conn.execute(
                _PG_AWAITING_QUERY if is_postgres(conn) else AWAITING_QUERY,
                (
                    Action.DECISION.value,
                    format_time(since),
                    actor_name,
                    Verdict.POSSIBLE_MATCH.value,
                ),
            ).fetchall()
        return [
            PendingCandidate(
                int(r["search_seq"]),
                r["face_id"],
                r["case_number"],
                (str(r["actor"]),),
                parse_time(r["time"]),
            )
            for r in rows
            if entry_in_org(r["org"], org)
        ]

    def check_against_trail(self, conn: sqlite3.Connection) -> list[ChainBreak]:
        """Decision entries missing from the index, and index rows no entry backs."""
        return [
            ChainBreak(BreakKind.INDEX, seq, seq, finding.format(seq=seq))
            for query, finding in (_PG_INDEX_CHECKS if is_postgres(conn) else _INDEX_CHECKS)
            for seq in (int(row[0]) for row in conn.execute(query, (Action.DECISION.value,)))
        ]

    # --- helpers --------------------------------------------------------------------------

    def _search(self, conn: sqlite3.Connection, search_seq: int, org: str | None) -> dict[str, Any]:
        """Search ``search_seq`` of organisation ``org``; NotFoundError for another's."""
        row = conn.execute(
            "SELECT action, case_number, purpose, payload, org FROM audit_log WHERE seq = ?",
            (search_seq,),
        ).fetchone()
        if row is None or row["action"] != Action.SEARCH.value:
            raise NotFoundError(f"audit entry {search_seq} is not a search")
        if org is None or not entry_in_org(row["org"], org):
            raise NotFoundError(f"audit entry {search_seq} is not a search")
        try:
            payload = json.loads(row["payload"])
        except ValueError as exc:
            raise CatalogError(f"audit entry {search_seq} is unreadable; run verify") from exc
        if not isinstance(payload, Mapping):
            raise CatalogError(f"audit entry {search_seq} is unreadable; run verify")
        return {
            "case": row["case_number"],
            "purpose": row["purpose"],
            "payload": payload,
            "org": row["org"] or DEFAULT_ORG,
        }

    def _state(self, conn: sqlite3.Connection, search_seq: int, face_id: FaceId) -> CandidateState:
        steps: list[tuple[int, datetime, str, Verdict, str]] = []
        for row in conn.execute(
            "SELECT a.seq, a.time, a.actor, a.action, a.payload FROM decisions d "
            "JOIN audit_log a ON a.seq = d.audit_seq "
            "WHERE d.search_seq = ? AND d.face_id = ? ORDER BY a.seq",
            (search_seq, face_param(conn, face_id)),
        ):
            seq = int(row["seq"])
            try:
                payload = json.loads(row["payload"])
                if (
                    row["action"] != Action.DECISION.value
                    or payload["search_seq"] != search_seq
                    or not _same_id(payload["face_id"], face_id)
                ):
                    raise ValueError("entry does not match the index")
                step = (seq, parse_time(row["time"]), str(row["actor"]))
                steps.append((*step, Verdict(payload["verdict"]), str(payload.get("note", ""))))
            except (KeyError, TypeError, ValueError) as exc:
                raise CatalogError(
                    f"decision entry {seq} does not match the decision index; run verify"
                ) from exc
        return replay(search_seq, face_id, steps)
