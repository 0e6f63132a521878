"""The supervisor's dashboard of an organisation, read from its audit trail (SUPERVISE).

``dashboard(store, actor)`` covers the last ``days`` calendar days of the organisation's time
zone, today included: searches per user per day, today and this week (from Monday); searches
outside working hours and by hour of day; probes searched more than once (by whom, under which
cases); searches with candidates that nobody has given a verdict on, older than a day;
refusals (searches that failed, case refusals); erasures; exports; what changed the gallery
(the ends of ingest runs, and runs started with no end logged yet; persons named and merged)
and the shares of collections; and the alerts raised (``app.alerts``). Only the actor's
organisation's entries count, bar one kind: a share of another organisation's collection with
the actor's, and its withdrawal, are listed without the entry's author or owner
(``EntryRef.own`` False). The platform operator, who belongs to none, gets
PermissionDeniedError. The summaries of the entries: ``app.oversight_summaries``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from facesearch.accountability import AccountabilityStore, Action, Actor, AuditEntry, Permission
from facesearch.accountability.audit_query import entry_in_org
from facesearch.accountability.orgs import OrgPolicy
from facesearch.app.abandoned_runs import ABANDONED
from facesearch.app.alerts import Alert, AlertRule, day_start, local_time, outside_hours
from facesearch.app.checks import allow
from facesearch.app.oversight_summaries import (
    STARTED,
    candidates,
    erasure_summary,
    export_summary,
    failed,
    ingest_summary,
    naming_summary,
    refusal_summary,
    running_summary,
    search_summary,
    share_summary,
    shared_with,
)
from facesearch.errors import InputError, NotFoundError, PermissionDeniedError

__all__ = [
    "Dashboard",
    "EntryRef",
    "RepeatedProbe",
    "UserSearches",
    "dashboard",
    "recent_alerts",
    "supervised_org",
]

MAX_DAYS = 366
REVIEW_AFTER = timedelta(days=1)  # a search unreviewed this long is listed
SHARES = (Action.COLLECTION_GRANT, Action.COLLECTION_WITHDRAW)
NAMING = (Action.PERSON_NAME, Action.PERSON_MERGE)


def _time(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


@dataclass(frozen=True)
class EntryRef:
    """An audit entry as a dashboard lists it: who, when, under which case, what. ``own``
    False: another organisation's entry that concerns this one (a share of its collection
    with this one): its author is not told (``actor`` empty), nor is it this one's to read."""

    seq: int
    time: datetime
    actor: str
    action: str
    case: str | None
    summary: str
    own: bool = True

    def as_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "time": _time(self.time),
            "actor": self.actor,
            "action": self.action,
            "case": self.case,
            "summary": self.summary,
            "own": self.own,
        }


@dataclass(frozen=True)
class UserSearches:
    """One user's searches (failed ones too) in the period."""

    user: str
    today: int
    this_week: int  # since Monday 00:00 in the organisation's time zone
    per_day: tuple[int, ...]  # one count per day of ``Dashboard.days``
    outside_hours: int

    @property
    def total(self) -> int:
        return sum(self.per_day)

    def as_json(self) -> dict[str, Any]:
        return {
            "user": self.user,
            "today": self.today,
            "this_week": self.this_week,
            "total": self.total,
            "per_day": list(self.per_day),
            "outside_hours": self.outside_hours,
        }


@dataclass(frozen=True)
class RepeatedProbe:
    """A probe photo (by its sha256) searched two or more times in the period."""

    probe_sha256: str
    searches: tuple[int, ...]  # their audit seqs
    users: tuple[str, ...]
    cases: tuple[str, ...]  # the case numbers named (searches without one are not listed)

    def as_json(self) -> dict[str, Any]:
        return {
            "probe_sha256": self.probe_sha256,
            "count": len(self.searches),
            "searches": list(self.searches),
            "users": list(self.users),
            "cases": list(self.cases),
        }


@dataclass(frozen=True)
class Dashboard:
    org: str
    now: datetime
    since: datetime  # midnight of the first day, in UTC
    policy: OrgPolicy
    days: tuple[date, ...]  # the calendar days of the period, oldest first
    users: tuple[UserSearches, ...]  # by searches in the period, most first
    by_hour: tuple[int, ...]  # 24 counts of searches by local hour of day
    outside_hours: tuple[EntryRef, ...]  # newest first, as are the lists below
    repeated_probes: tuple[RepeatedProbe, ...]
    unreviewed: tuple[EntryRef, ...]
    refused: tuple[EntryRef, ...]
    erasures: tuple[EntryRef, ...]
    exports: tuple[EntryRef, ...]
    ingests: tuple[EntryRef, ...]  # the ends of runs; runs with no end yet: their start
    sharing: tuple[EntryRef, ...]  # its collections shared and withdrawn, and others' with it
    naming: tuple[EntryRef, ...]  # persons named (or unnamed) and merged
    alerts: tuple[Alert, ...]

    @property
    def searches(self) -> int:
        return sum(u.total for u in self.users)

    def alert_counts(self) -> dict[str, int]:
        """Alerts of the period by rule, every rule named."""
        counts = Counter(a.rule for a in self.alerts)
        return {r.value: counts.get(r.value, 0) for r in AlertRule} | dict(counts)

    def as_json(self) -> dict[str, Any]:
        refs = (
            "outside_hours",
            "unreviewed",
            "refused",
            "erasures",
            "exports",
            "ingests",
            "sharing",
            "naming",
        )
        return {
            "org": self.org,
            "now": _time(self.now),
            "since": _time(self.since),
            "time_zone": self.policy.time_zone,
            "working_hours": self.policy.working_hours,
            "max_searches_per_day": self.policy.max_searches_per_day,
            "days": [d.isoformat() for d in self.days],
            "searches": self.searches,
            "users": [u.as_json() for u in self.users],
            "by_hour": list(self.by_hour),
            **{name: [r.as_json() for r in getattr(self, name)] for name in refs},
            "repeated_probes": [p.as_json() for p in self.repeated_probes],
            "alerts": [a.as_json() for a in self.alerts],
            "alert_counts": self.alert_counts(),
        }


def supervised_org(actor: Actor) -> str:
    """The organisation ``actor`` may oversee: theirs, with the SUPERVISE permission;
    PermissionDeniedError otherwise (the platform operator belongs to none)."""
    allow(actor, Permission.SUPERVISE)
    if actor.org is None:
        raise PermissionDeniedError(f"{actor.name} belongs to no organisation to supervise")
    return actor.org


def _period(
    store: AccountabilityStore, actor: Actor, days: int, now: datetime | None
) -> tuple[str, OrgPolicy, datetime, datetime]:
    """(organisation, its policy, midnight of the first day, now) of ``actor``'s oversight of
    the last ``days`` days."""
    org = supervised_org(actor)
    if not 1 <= days <= MAX_DAYS:
        raise InputError(f"days is a whole number from 1 to {MAX_DAYS}")
    moment = now or datetime.now(UTC)
    policy = store.orgs.get(org).policy
    return org, policy, day_start(moment, policy, days - 1), moment


def recent_alerts(
    store: AccountabilityStore, actor: Actor, *, days: int = 28, now: datetime | None = None
) -> list[Alert]:
    """The alerts of ``actor``'s organisation in the last ``days`` days, newest first
    (SUPERVISE)."""
    org, _, since, moment = _period(store, actor, days, now)
    found = store.audit.entries(org=org, action=Action.ALERT, since=since, until=moment, limit=None)
    return [Alert.of(e) for e in reversed(found)]


def dashboard(
    store: AccountabilityStore, actor: Actor, *, days: int = 28, now: datetime | None = None
) -> Dashboard:
    """The dashboard of ``actor``'s organisation over the last ``days`` days (SUPERVISE)."""
    org, policy, since, moment = _period(store, actor, days, now)
    week = day_start(moment, policy, local_time(moment, policy).weekday())

    def read(action: Action, start: datetime = since) -> list[AuditEntry]:
        return store.audit.entries(org=org, action=action, since=start, until=moment, limit=None)

    searches = read(Action.SEARCH, min(since, week))
    in_period = [e for e in searches if e.time >= since]
    reviewed = {e.payload.get("search_seq") for e in read(Action.DECISION)}
    first = local_time(since, policy).date()
    return Dashboard(
        org=org,
        now=moment,
        since=since,
        policy=policy,
        days=tuple(first + timedelta(days=i) for i in range(days)),
        users=_per_user(searches, policy, since, week, days, moment),
        by_hour=_by_hour(in_period, policy),
        outside_hours=_newest(
            _ref(e, search_summary(e)) for e in in_period if outside_hours(e.time, policy)
        ),
        repeated_probes=_repeated(in_period),
        unreviewed=_newest(
            _ref(e, search_summary(e))
            for e in in_period
            if e.seq not in reviewed and candidates(e) and e.time <= moment - REVIEW_AFTER
        ),
        refused=_newest(
            [
                *(_ref(e, search_summary(e)) for e in in_period if failed(e)),
                *(_ref(e, refusal_summary(e)) for e in read(Action.CASE_REFUSED)),
            ]
        ),
        erasures=_newest(_ref(e, erasure_summary(e)) for e in read(Action.ERASE)),
        exports=_newest(_ref(e, export_summary(e)) for e in read(Action.EXPORT)),
        ingests=_ingests(store, org, read(Action.INGEST)),
        sharing=_newest(
            [
                *(_ref(e, share_summary(e)) for action in SHARES for e in read(action)),
                *_shared_with(store, org, since, moment),
            ]
        ),
        naming=_newest(_ref(e, naming_summary(e)) for action in NAMING for e in read(action)),
        alerts=tuple(recent_alerts(store, actor, days=days, now=moment)),
    )


def _ingests(
    store: AccountabilityStore, org: str, entries: list[AuditEntry]
) -> tuple[EntryRef, ...]:
    """The ingest runs of the period: the end entry of each run that ended in it (its start
    may be earlier), and the started entry of each run started in it that has no end entry
    before the dashboard's ``now`` (running, or killed and not yet found abandoned)."""
    starts = {e.seq: e for e in entries if e.payload.get("outcome") == STARTED}
    ends = [e for e in entries if e.payload.get("outcome") != STARTED]
    ended = {e.payload.get("started_entry") for e in ends}

    def started_by(end: AuditEntry) -> str | None:
        """Who started an abandoned run (its end is ``system:ingest``'s)."""
        seq = end.payload.get("started_entry")
        if end.payload.get("outcome") != ABANDONED or not isinstance(seq, int):
            return None
        if seq in starts:
            return starts[seq].actor
        try:  # started before the period
            return store.audit.get(seq, org=org).actor
        except NotFoundError:
            return None

    return _newest(
        [
            *(_ref(e, ingest_summary(e, started_by(e))) for e in ends),
            *(_ref(e, running_summary(e)) for seq, e in starts.items() if seq not in ended),
        ]
    )


def _shared_with(
    store: AccountabilityStore, org: str, since: datetime, until: datetime
) -> list[EntryRef]:
    """Other organisations' shares of their collections with ``org``, and their withdrawals:
    the collection and when, not who shared it, nor whose it is (``org`` is told neither
    elsewhere), and not the entry to open (it is the owner's)."""
    return [
        EntryRef(e.seq, e.time, "", e.action, None, share_summary(e, own=False), own=False)
        for action in SHARES
        for e in store.audit.entries(action=action, since=since, until=until, limit=None)
        if shared_with(e).lower() == org.lower() and not entry_in_org(e.org, org)
    ]


# --- pure computation over the entries -----------------------------------------------------------


def _per_user(
    searches: list[AuditEntry],
    policy: OrgPolicy,
    since: datetime,
    week: datetime,
    days: int,
    now: datetime,
) -> tuple[UserSearches, ...]:
    today = day_start(now, policy)
    first = local_time(since, policy).date()
    per_day: dict[str, list[int]] = defaultdict(lambda: [0] * days)
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for e in searches:
        c = counts[e.actor]
        c["week"] += e.time >= week
        c["today"] += e.time >= today
        if e.time >= since:
            per_day[e.actor][(local_time(e.time, policy).date() - first).days] += 1
            c["late"] += outside_hours(e.time, policy)
    users = [
        UserSearches(
            name,
            counts[name]["today"],
            counts[name]["week"],
            tuple(per_day[name]),
            counts[name]["late"],
        )
        for name in counts
    ]
    return tuple(sorted(users, key=lambda u: (-u.total, -u.this_week, u.user)))


def _by_hour(searches: Iterable[AuditEntry], policy: OrgPolicy) -> tuple[int, ...]:
    hours = [0] * 24
    for e in searches:
        hours[local_time(e.time, policy).hour] += 1
    return tuple(hours)


def _repeated(searches: Iterable[AuditEntry]) -> tuple[RepeatedProbe, ...]:
    by_probe: dict[str, list[AuditEntry]] = defaultdict(list)
    for e in searches:
        probe = e.payload.get("probe_sha256")
        if isinstance(probe, str) and probe:
            by_probe[probe].append(e)
    found = [
        RepeatedProbe(
            probe,
            tuple(e.seq for e in group),
            tuple(sorted({e.actor for e in group})),
            tuple(sorted({e.case for e in group if e.case is not None})),
        )
        for probe, group in by_probe.items()
        if len(group) >= 2
    ]
    return tuple(sorted(found, key=lambda p: (-len(p.cases), -len(p.searches), -p.searches[-1])))


def _ref(entry: AuditEntry, summary: str) -> EntryRef:
    return EntryRef(entry.seq, entry.time, entry.actor, entry.action, entry.case, summary)


def _newest(refs: Iterable[EntryRef]) -> tuple[EntryRef, ...]:
    return tuple(sorted(refs, key=lambda r: -r.seq))
