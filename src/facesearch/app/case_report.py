"""The case page and the case report: everything done under one case, read from the trail.

Who may see a case: its members, admins, auditors and supervisors (and the local CLI actor);
anyone else gets the NotFoundError of a case that does not exist (no existence oracle). The
timeline is every search, verification, candidate decision, erasure, export, refusal and case
event (open, close, member added) logged under the case, in seq (time) order, each with links
to what it concerns; a member's holds the case's work only (``case_timeline``). Reading the
timeline is not logged; producing a report is (an ``export`` entry under the case), and the
report carries that entry and the chain head it made.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from facesearch.accountability import (
    AccountabilityStore,
    Action,
    Actor,
    AuditEntry,
    AuditHead,
    Case,
)
from facesearch.app.cases import sees_every_case
from facesearch.app.checks import log
from facesearch.app.reads import probe_kept, search_record, work_of_case
from facesearch.app.records import SearchRecord
from facesearch.app.scope import reach_of
from facesearch.app.verify import verdict_words
from facesearch.core.calibration import CalibrationTable
from facesearch.errors import NotFoundError
from facesearch.gallery.catalog import Catalog

__all__ = [
    "TIMELINE_ACTIONS",
    "CaseEvent",
    "CaseReport",
    "CaseSearch",
    "CaseTimeline",
    "Link",
    "ReportFormat",
    "case_report",
    "case_timeline",
    "visible_case",
]

ReportFormat = Literal["html", "pdf"]

TIMELINE_ACTIONS = frozenset(
    a.value
    for a in (
        Action.SEARCH,
        Action.VERIFY,
        Action.DECISION,
        Action.ERASE,
        Action.EXPORT,
        Action.CASE_OPEN,
        Action.CASE_CLOSE,
        Action.CASE_MEMBER_ADD,
        Action.CASE_REFUSED,
    )
)


@dataclass(frozen=True)
class Link:
    label: str
    href: str


@dataclass(frozen=True)
class CaseEvent:
    """One audit entry of the case, in words, with links to what it concerns."""

    entry: AuditEntry
    summary: str
    links: tuple[Link, ...]

    def as_json(self) -> dict[str, Any]:
        e = self.entry
        return {
            "seq": e.seq,
            "time": e.time.isoformat(),
            "actor": e.actor,
            "action": e.action,
            "purpose": e.purpose,
            "summary": self.summary,
            "hash": e.hash,
            "links": [{"label": k.label, "href": k.href} for k in self.links],
        }


@dataclass(frozen=True)
class CaseTimeline:
    case: Case
    events: tuple[CaseEvent, ...]
    head: AuditHead  # the chain head when the timeline was read

    def as_json(self) -> dict[str, Any]:
        return {
            "case": self.case.as_json(),
            "events": [e.as_json() for e in self.events],
            "head": {"seq": self.head.seq, "hash": self.head.hash},
        }


@dataclass(frozen=True)
class CaseSearch:
    """A search of the case: its entry, its record, and its probe photo while kept."""

    entry: AuditEntry
    record: SearchRecord
    probe: bytes | None


@dataclass(frozen=True)
class CaseReport:
    """A case's timeline, its searches as records (the gallery as it is now), and the
    ``export`` entry that logged the report; ``head`` is the chain head that entry made."""

    timeline: CaseTimeline
    searches: tuple[CaseSearch, ...]
    entry: AuditEntry

    @property
    def head(self) -> AuditHead:
        return AuditHead(self.entry.seq, self.entry.hash)


def visible_case(store: AccountabilityStore, actor: Actor, number: str) -> Case:
    """Case ``number``; NotFoundError, the same as for an unknown case, when ``actor`` is
    neither a member nor one who sees every case."""
    if actor.org is None:
        raise NotFoundError(f"no case {number}")
    case = store.cases.get(number, actor.org)
    if not sees_every_case(actor) and actor.name not in case.members:
        raise NotFoundError(f"no case {number}")
    return case


def _summary(e: AuditEntry) -> tuple[str, tuple[Link, ...]]:
    p: Mapping[str, Any] = e.payload
    outcome = p.get("outcome")
    failed = f" (failed: {outcome})" if outcome not in (None, "ok") else ""
    if e.action == Action.SEARCH.value:
        n = len(SearchRecord.candidate_ids(p))
        text = f"search of {p.get('probe', 'a probe')}: {n} candidate(s){failed}"
        return text, (Link("search result", f"/searches/{e.seq}"),)
    if e.action == Action.VERIFY.value:
        # the verify page's words: a score at the threshold is a lead, never "same person"
        same = verdict_words(bool(p.get("same_person")))
        score = p.get("similarity")
        shown = f"{score:.3f}" if isinstance(score, float) else score
        text = f"1:1 verification: {same}, similarity {shown}" if score is not None else ""
        return (text or "1:1 verification") + failed, ()
    if e.action == Action.DECISION.value:
        search, face = p.get("search_seq"), p.get("face_id")
        note = f" — {p['note']}" if p.get("note") else ""
        verdict = str(p.get("verdict", "")).replace("_", " ")
        after = str(p.get("status_after", "")).replace("_", " ")
        status = f": now {after}" if after else ""  # the second person's verdict confirms
        text = f"{verdict} on candidate face {face} of search {search}{status}{note}"
        links = (
            Link("candidate", f"/searches/{search}/candidates/{face}"),
            Link("search result", f"/searches/{search}"),
        )
        return text, links
    if e.action == Action.CASE_OPEN.value:
        members = ", ".join(p.get("members") or ()) or "no members"
        return f"case opened: {p.get('title', '')} ({members})", ()
    if e.action == Action.CASE_CLOSE.value:
        return "case closed: no new work under it", ()
    if e.action == Action.CASE_MEMBER_ADD.value:
        return f"member added: {p.get('name', '')}", ()
    if e.action == Action.CASE_REFUSED.value:
        return f"refused {p.get('attempt', 'use')}: {p.get('reason', '')}", ()
    if e.action == Action.EXPORT.value:
        return f"export: {p.get('what') or p.get('format') or 'audit entries'}", ()
    return f"erasure: {p.get('reason', '')}{failed}", ()


def case_timeline(store: AccountabilityStore, actor: Actor, number: str) -> CaseTimeline:
    """The timeline of a case ``actor`` may see (NotFoundError otherwise). For a member
    (not one who sees every case) it holds the case's work (``reads.work_of_case``): it begins
    when the case was opened, since what was logged under its number before, while the
    registry did not hold it, was no work of this case, and it leaves out a use that was in
    flight when the case was opened, and the verdicts on a search it leaves out."""
    case = visible_case(store, actor, number)
    head = store.audit.head()
    member = not sees_every_case(actor)
    since = case.opened_at if member else None
    entries = store.audit.entries(org=actor.org, case=case.number, limit=None, since=since)
    events = []
    searches: set[int] = set()  # those shown: a verdict follows its search in the trail
    for e in entries:
        if e.action not in TIMELINE_ACTIONS or e.seq > head.seq:
            continue
        if member and not _members_see(e, case, searches):
            continue
        if e.action == Action.SEARCH.value:
            searches.add(e.seq)
        text, links = _summary(e)
        events.append(CaseEvent(e, text, (*links, Link(f"audit entry {e.seq}", _audit(e)))))
    return CaseTimeline(case, tuple(events), head)


def _members_see(e: AuditEntry, case: Case, searches: set[int]) -> bool:
    """Whether the case's members see entry ``e`` of its timeline: the case's work, and for a
    verdict, one on a search they see (``searches``: those shown before it)."""
    if not work_of_case(e, case):
        return False
    return e.action != Action.DECISION.value or e.payload.get("search_seq") in searches


def _kept_probe(store: AccountabilityStore, entry: AuditEntry) -> bytes | None:
    sha = str(entry.payload.get("probe_sha256") or "")
    if not probe_kept(store, entry):
        return None
    try:
        return store.probes.get(sha) or None
    except NotFoundError:  # its retention period ended just now
        return None


def _audit(e: AuditEntry) -> str:
    return f"/api/v1/audit/{e.seq}"


def case_report(
    store: AccountabilityStore,
    catalog: Catalog,
    table: CalibrationTable,
    actor: Actor,
    number: str,
    fmt: ReportFormat,
) -> CaseReport:
    """The report of a case ``actor`` may see, logged as an ``export`` entry under the case
    naming the entries it covers (NotFoundError for a case they may not see)."""
    timeline = case_timeline(store, actor, number)
    scope = reach_of(store, catalog, actor)  # a share withdrawn since: its faces as erased
    searches = tuple(
        CaseSearch(
            ev.entry, search_record(catalog, table, ev.entry, scope), _kept_probe(store, ev.entry)
        )
        for ev in timeline.events
        if ev.entry.action == Action.SEARCH.value
    )
    payload = {
        "what": "case_report",
        "format": fmt,
        "entries": [ev.entry.seq for ev in timeline.events],
        "head_before": str(timeline.head),
    }
    entry = log(store, actor, Action.EXPORT, timeline.case.number, "case report", payload)
    return CaseReport(timeline, searches, entry)
