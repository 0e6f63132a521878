"""Writing an organisation's audit trail by hand for the oversight and alert tests: searches,
decisions, ingest runs, shares, persons named and the rest at chosen times (the store's fake
clock is set before each entry), with the payloads their writers write."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from accountability_helpers import ROOT, FakeClock

from facesearch.accountability import AccountabilityStore, Action, AuditEntry
from facesearch.app.abandoned_runs import ABANDONED, RUN_ACTOR

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

    # --- what changes the gallery: payloads as app.ingest, app.abandoned_runs,
    # accountability.orgs and app.people write them ------------------------------------------

    def ingest_start(
        self,
        when: datetime,
        actor: str,
        *,
        collection: str = "mugshots",
        run_id: int = 1,
        case: str | None = None,
        org: str = ORG,
    ) -> AuditEntry:
        """The ``started`` entry of an ingest run (app.ingest)."""
        payload = {**_ingest_base(collection), "run_id": run_id, "outcome": "started"}
        return self.write(when, actor, Action.INGEST, case=case, payload=payload, org=org)

    def ingest_end(
        self,
        when: datetime,
        start: AuditEntry,
        *,
        images: int = 3,
        faces: int = 4,
        failed: int = 0,
        outcome: str = "ok",
        error: str | None = None,
    ) -> AuditEntry:
        """The end entry of the run ``start`` began: ``ok`` (app.ingest), stopped
        (``interrupted``, an error's code; before any photo was counted when ``images`` is 0:
        no ``failed`` count then), or ``abandoned``, written by ``system:ingest`` with the
        started entry's payload (app.abandoned_runs)."""
        p = dict(start.payload)
        run = {"run_id": p["run_id"], "images_added": images, "faces_added": faces}
        summary = {
            **run,
            "images_seen": images + failed,
            "duplicates": 0,
            "faces_blocked": 0,
            "failed": failed,
        }
        ends = {"started_entry": start.seq, "outcome": outcome}
        actor = start.actor
        if outcome == "ok":
            payload = {**p, **ends, **summary, "people": None}
        elif outcome == ABANDONED:
            actor = RUN_ACTOR
            payload = {**p, **ends, "error": error, **run, "failed": failed}
        else:
            payload = {**p, **ends, "error": error, **(summary if images else run)}
        org = start.org or ORG
        return self.write(when, actor, Action.INGEST, case=start.case, payload=payload, org=org)

    def share(
        self,
        when: datetime,
        actor: str,
        collection: str,
        to: str,
        *,
        grant: bool = True,
        org: str = ORG,
    ) -> AuditEntry:
        """A ``collection_grant`` (or ``collection_withdraw``) of ``org``'s collection, logged
        under the owner, ``org`` (accountability.orgs)."""
        action = Action.COLLECTION_GRANT if grant else Action.COLLECTION_WITHDRAW
        payload = {"collection": collection, ("to" if grant else "from"): to}
        return self.write(when, actor, action, payload=payload, org=org)

    def name_person(
        self,
        when: datetime,
        actor: str,
        person: int,
        name: str | None,
        *,
        previous: str | None = None,
        faces: int = 4,
        org: str = ORG,
    ) -> AuditEntry:
        """A ``person_name`` entry (app.people): the person's faces after it, now pinned."""
        payload = {
            "person": person,
            "name": name,
            "previous_name": previous,
            "face_ids": list(range(1, faces + 1)),
        }
        return self.write(when, actor, Action.PERSON_NAME, payload=payload, org=org)

    def merge(
        self,
        when: datetime,
        actor: str,
        person: int,
        other: int,
        *,
        other_name: str | None = None,
        faces: int = 3,
        org: str = ORG,
    ) -> AuditEntry:
        """A ``person_merge`` entry (app.people): ``other`` merged into ``person``, with the
        faces it moved."""
        payload = {
            "person": person,
            "other": other,
            "other_name": other_name,
            "face_ids": list(range(100, 100 + faces)),
        }
        return self.write(when, actor, Action.PERSON_MERGE, payload=payload, org=org)


def _ingest_base(collection: str) -> dict[str, Any]:
    return {
        "collection": collection,
        "paths": ["photos"],
        "paths_total": 1,
        "label_from_dir": False,
    }


def make_trail(store: AccountabilityStore, clock: FakeClock) -> Trail:
    """Organisations north (POLICY) and south (the default policy) on ``store``."""
    clock.now = at(-7, 9)
    store.orgs.add(ORG, policy=POLICY, by=ROOT)
    store.orgs.add(OTHER, by=ROOT)
    return Trail(store, clock)
