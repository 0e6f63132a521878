"""Writing an organisation's audit trail by hand for the oversight and alert tests: searches,
decisions and the rest at chosen times (the store's fake clock is set before each entry)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from accountability_helpers import ROOT, FakeClock

from facesearch.accountability import AccountabilityStore, Action, AuditEntry

ORG = "north"
OTHER = "south"
# north works 08:00-18:00 in Berlin (UTC+1 in March 2025) and alerts past 3 searches a day
POLICY = {"time_zone": "Europe/Berlin", "working_hours": "08:00-18:00", "max_searches_per_day": 3}
MONDAY = datetime(2025, 3, 3, tzinfo=ZoneInfo("Europe/Berlin"))  # local midnight
PROBE = "ab" * 32
OTHER_PROBE = "cd" * 32


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """Berlin time ``hour:minute`` on ``day`` days after Monday 3 March 2025, in UTC."""
    return (MONDAY + timedelta(days=day, hours=hour, minutes=minute)).astimezone(UTC)


@dataclass
class Trail:
    store: AccountabilityStore
    clock: FakeClock

    def write(
        self,
        when: datetime,
        actor: str,
        action: Action,
        *,
        case: str | None = None,
        payload: dict[str, Any] | None = None,
        org: str = ORG,
    ) -> AuditEntry:
        self.clock.now = when
        return self.store.audit.append(
            actor=actor, action=action, case=case, payload=payload or {}, org=org
        )

    def search(
        self,
        when: datetime,
        actor: str,
        *,
        case: str | None = "K-1",
        probe: str = PROBE,
        outcome: str = "ok",
        candidates: int = 2,
        org: str = ORG,
    ) -> AuditEntry:
        payload = {
            "outcome": outcome,
            "probe_sha256": probe,
            "candidates": [{"face_id": i + 1, "rank": i + 1} for i in range(candidates)],
        }
        return self.write(when, actor, Action.SEARCH, case=case, payload=payload, org=org)

    def decide(
        self,
        when: datetime,
        actor: str,
        search: AuditEntry,
        *,
        note: str = "",
        status_after: str = "confirmed",
        org: str = ORG,
    ) -> AuditEntry:
        payload = {
            "search_seq": search.seq,
            "face_id": 1,
            "verdict": "possible_match",
            "note": note,
            "status_before": "possible_match" if status_after == "confirmed" else "unreviewed",
            "status_after": status_after,
        }
        return self.write(when, actor, Action.DECISION, case=search.case, payload=payload, org=org)


def make_trail(store: AccountabilityStore, clock: FakeClock) -> Trail:
    """Organisations north (POLICY) and south (the default policy) on ``store``."""
    clock.now = at(-7, 9)
    store.orgs.add(ORG, policy=POLICY, by=ROOT)
    store.orgs.add(OTHER, by=ROOT)
    return Trail(store, clock)
