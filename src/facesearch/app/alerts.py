"""Alert rules of an organisation's oversight: what a search or a decision just logged may fire.

An alert is an audit entry (action ``alert``, actor ``system:alerts``, the organisation of the
entry that fired it), an item of the supervisor's dashboard (``app.oversight``) and a metric
(``facesearch_alerts_total{rule}`` at ``/metrics``, counted from the trail: ``alert_rules``).
The rules, with their thresholds from the organisation's ``OrgPolicy``:

    searches_per_day            more than ``max_searches_per_day`` searches by one user in a day
    outside_hours               a search outside ``working_hours`` (in ``time_zone``)
    probe_several_cases         one probe (its sha256) searched under two or more different
                                cases within PROBE_DAYS, in the organisation
    confirmation_without_note   a verdict that confirms a candidate (its status after is
                                ``confirmed``: a second person's possible match) with no note

A day is a calendar day in the organisation's time zone. At most one alert is raised per rule
per user per day: ``raise_alerts`` reads that day's alert entries first.
"""

from __future__ import annotations

from collections.abc import Callable, Set
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo

from facesearch.accountability import AccountabilityStore, Action, AuditEntry
from facesearch.accountability.audit import PLATFORM_ORG
from facesearch.accountability.decisions import CandidateStatus
from facesearch.accountability.orgs import OrgPolicy
from facesearch.accountability.permissions import DEFAULT_ORG
from facesearch.core.text import is_blank

__all__ = [
    "ALERT_ACTOR",
    "PROBE_DAYS",
    "Alert",
    "AlertFinding",
    "AlertRule",
    "alert_rules",
    "alerts_for",
    "day_start",
    "entry_org",
    "local_time",
    "outside_hours",
    "raise_alerts",
]

ALERT_ACTOR = "system:alerts"
PROBE_DAYS = 30  # a probe's earlier searches are looked for this far back (a scan)


class AlertRule(StrEnum):
    SEARCHES_PER_DAY = "searches_per_day"
    OUTSIDE_HOURS = "outside_hours"
    PROBE_SEVERAL_CASES = "probe_several_cases"
    CONFIRMATION_WITHOUT_NOTE = "confirmation_without_note"


@dataclass(frozen=True)
class AlertFinding:
    """A rule that an entry fired: about whom, in words, and the entries behind it."""

    rule: AlertRule
    subject: str  # the user the alert is about
    detail: str
    seqs: tuple[int, ...]  # the audit entries that fired it

    def payload(self) -> dict[str, Any]:
        """The payload of its ``alert`` audit entry."""
        return {
            "rule": self.rule.value,
            "subject": self.subject,
            "detail": self.detail,
            "seqs": list(self.seqs),
        }


@dataclass(frozen=True)
class Alert:
    """An ``alert`` audit entry read back."""

    seq: int
    time: datetime
    rule: str
    subject: str
    detail: str
    seqs: tuple[int, ...]

    @classmethod
    def of(cls, entry: AuditEntry) -> Alert:
        p = entry.payload
        seqs = p.get("seqs", [])
        return cls(
            entry.seq,
            entry.time,
            str(p.get("rule", "")),
            str(p.get("subject", "")),
            str(p.get("detail", "")),
            tuple(int(s) for s in seqs if isinstance(s, int)) if isinstance(seqs, list) else (),
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "time": self.time.isoformat(timespec="seconds"),
            "rule": self.rule,
            "subject": self.subject,
            "detail": self.detail,
            "seqs": list(self.seqs),
        }


# --- time in the organisation's zone (pure) ------------------------------------------------------


def local_time(moment: datetime, policy: OrgPolicy) -> datetime:
    """``moment`` in the organisation's time zone."""
    return moment.astimezone(ZoneInfo(policy.time_zone))


def outside_hours(moment: datetime, policy: OrgPolicy) -> bool:
    """Whether ``moment`` falls outside the working hours (start inclusive, end exclusive;
    a night shift runs on past midnight)."""
    here = local_time(moment, policy)
    return not policy.working_at(here.hour * 60 + here.minute)


def day_start(moment: datetime, policy: OrgPolicy, days_back: int = 0) -> datetime:
    """Midnight (in UTC) of the organisation's calendar day of ``moment``, ``days_back``
    days earlier."""
    here = local_time(moment, policy)
    day = here.date() - timedelta(days=days_back)
    return datetime.combine(day, time(), tzinfo=here.tzinfo).astimezone(UTC)


# --- the rules -----------------------------------------------------------------------------------


def entry_org(entry: AuditEntry) -> str | None:
    """The organisation of an entry (None: the platform's, which has no alerts)."""
    org = entry.org if entry.org is not None else DEFAULT_ORG
    return None if org == PLATFORM_ORG else org


def _until(entry: AuditEntry) -> datetime:
    return entry.time + timedelta(microseconds=1)


def _too_many(
    store: AccountabilityStore, org: str, entry: AuditEntry, policy: OrgPolicy
) -> list[AlertFinding]:
    since, until = day_start(entry.time, policy), _until(entry)
    counted = store.audit.count(
        org=org, actor=entry.actor, action=Action.SEARCH, since=since, until=until
    )
    if counted <= policy.max_searches_per_day:  # the usual case: no entry is read
        return []
    day = store.audit.entries(
        org=org, actor=entry.actor, action=Action.SEARCH, since=since, until=until, limit=None
    )
    seqs = tuple(e.seq for e in day if e.seq <= entry.seq)
    if len(seqs) <= policy.max_searches_per_day:
        return []
    detail = f"{len(seqs)} searches today, over the limit of {policy.max_searches_per_day}"
    return [AlertFinding(AlertRule.SEARCHES_PER_DAY, entry.actor, detail, seqs)]


def _late(
    store: AccountabilityStore, org: str, entry: AuditEntry, policy: OrgPolicy
) -> list[AlertFinding]:
    if not outside_hours(entry.time, policy):
        return []
    at = local_time(entry.time, policy).strftime("%H:%M")
    detail = f"a search at {at} {policy.time_zone}, outside working hours {policy.working_hours}"
    return [AlertFinding(AlertRule.OUTSIDE_HOURS, entry.actor, detail, (entry.seq,))]


def _probe_cases(
    store: AccountabilityStore, org: str, entry: AuditEntry, policy: OrgPolicy
) -> list[AlertFinding]:
    probe = entry.payload.get("probe_sha256")
    if not isinstance(probe, str) or not probe or entry.case is None:
        return []
    since, until = entry.time - timedelta(days=PROBE_DAYS), _until(entry)
    if len(store.audit.cases_of_probe(probe, org=org, since=since, until=until)) < 2:
        return []  # the usual case: one case (a probe searched again under it): no entry read
    earlier = store.audit.entries(
        org=org,
        action=Action.SEARCH,
        since=since,
        until=until,
        limit=None,
        probe=probe,  # filtered in SQL: the org's other searches are not read
    )
    same = [e for e in earlier if e.seq <= entry.seq and e.payload.get("probe_sha256") == probe]
    cases = sorted({e.case for e in same if e.case is not None})
    if len(cases) < 2:
        return []
    detail = f"probe {probe[:12]} searched under {len(cases)} cases: {', '.join(cases)}"
    seqs = tuple(e.seq for e in same)
    return [AlertFinding(AlertRule.PROBE_SEVERAL_CASES, entry.actor, detail, seqs)]


def _bare_confirmation(
    store: AccountabilityStore, org: str, entry: AuditEntry, policy: OrgPolicy
) -> list[AlertFinding]:
    p = entry.payload
    if p.get("status_after") != CandidateStatus.CONFIRMED.value or not is_blank(
        str(p.get("note", ""))
    ):
        return []
    detail = f"confirmed face {p.get('face_id')} of search {p.get('search_seq')} without a note"
    return [AlertFinding(AlertRule.CONFIRMATION_WITHOUT_NOTE, entry.actor, detail, (entry.seq,))]


_Rule = Callable[[AccountabilityStore, str, AuditEntry, OrgPolicy], list[AlertFinding]]
RULES: dict[str, tuple[_Rule, ...]] = {
    Action.SEARCH.value: (_too_many, _late, _probe_cases),
    Action.DECISION.value: (_bare_confirmation,),
}


RULE_OF: dict[_Rule, AlertRule] = {
    _too_many: AlertRule.SEARCHES_PER_DAY,
    _late: AlertRule.OUTSIDE_HOURS,
    _probe_cases: AlertRule.PROBE_SEVERAL_CASES,
    _bare_confirmation: AlertRule.CONFIRMATION_WITHOUT_NOTE,
}


def alerts_for(
    store: AccountabilityStore,
    entry: AuditEntry,
    done: Set[tuple[str, str]] = frozenset(),
    policy: OrgPolicy | None = None,
) -> list[AlertFinding]:
    """What the rules find about ``entry`` (a search or a decision just logged); nothing for
    other actions and for entries of no organisation. A rule whose (rule, user) is in ``done``
    (alerted today already) is not run: its finding would be dropped anyway. ``policy``: the
    organisation's, when the caller has read it already."""
    rules = RULES.get(entry.action, ())
    org = entry_org(entry)
    if not rules or org is None:
        return []
    policy = policy or store.orgs.get(org).policy
    return [
        finding
        for rule in rules
        if (RULE_OF[rule].value, entry.actor) not in done
        for finding in rule(store, org, entry, policy)
    ]


def raise_alerts(store: AccountabilityStore, entry: AuditEntry) -> list[AuditEntry]:
    """Append one ``alert`` entry per finding of ``alerts_for``, except where the same rule
    has already alerted about the same user that day; returns the entries written."""
    org = entry_org(entry)
    if entry.action not in RULES or org is None:
        return []
    policy = store.orgs.get(org).policy
    done = store.audit.alerted(org=org, actor=ALERT_ACTOR, since=day_start(entry.time, policy))
    written = []
    for finding in alerts_for(store, entry, done, policy):
        if (finding.rule.value, finding.subject) in done:
            continue
        done.add((finding.rule.value, finding.subject))
        written.append(
            store.audit.append(
                actor=ALERT_ACTOR, action=Action.ALERT, payload=finding.payload(), org=org
            )
        )
    return written


# --- reading them --------------------------------------------------------------------------------


def alert_rules(store: AccountabilityStore, *, after: int = 0) -> list[str]:
    """The rule of each alert ever raised, every organisation's, in order, but for the first
    ``after`` ones (``/metrics`` counts them from where its last reading stopped)."""
    found = store.audit.entries(action=Action.ALERT, offset=after, limit=None)
    return [Alert.of(e).rule for e in found]
