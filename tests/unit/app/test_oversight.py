"""The supervisor's dashboard (app/oversight.py) over a hand-written trail on a real store:
searches per user per day, today and this week in the organisation's time zone, outside
working hours, repeated probes, unreviewed searches, refusals, erasures, exports and alerts;
what changed the gallery (ingest runs, persons named and merged) and the shares of
collections; another organisation's entries never counted (a share with the supervisor's
organisation: without who or whose); only supervisors (and the local CLI user) of an
organisation may read it."""

from __future__ import annotations

import json
from datetime import date

import pytest
from accountability_helpers import ROOT
from tests.unit.app.oversight_trail import ORG, OTHER, OTHER_PROBE, PROBE, Trail, at

from facesearch.accountability import Action, Actor, AuditEntry, Role, local_actor
from facesearch.app.alerts import raise_alerts
from facesearch.app.oversight import EntryRef, dashboard
from facesearch.errors import InputError, PermissionDeniedError

SUPERVISOR = Actor("sue", Role.SUPERVISOR, ORG)
THIRD = "east"
NOW = at(3, 12)  # Thursday 6 March 2025, noon in Berlin
TODAYS = "ef" * 32


@pytest.fixture
def seqs(trail: Trail) -> dict[str, AuditEntry]:
    """A week of north's work, and some of south's."""
    t = trail
    out = {
        "before": t.search(at(-4, 10), "alice", probe="00" * 32),  # before the period
        "s1": t.search(at(-2, 10), "alice", case="K-1"),  # Saturday
        "s2": t.search(at(0, 9), "bob", case="K-2"),  # Monday; PROBE again, another case
        "empty": t.search(at(1, 11), "alice", probe="12" * 32, candidates=0),
        "s3": t.search(at(1, 19), "bob", case="K-2", probe=OTHER_PROBE),  # outside hours
        "erase": t.write(
            at(2, 11),
            "admin",
            Action.ERASE,
            payload={"reason": "court order", "counts": {"faces": 2, "images": 1}},
        ),
        "export": t.write(at(2, 12), "sue", Action.EXPORT, payload={"format": "csv", "count": 12}),
        "s4": t.search(at(3, 9), "alice", probe=TODAYS),  # today: too new to be overdue
        "s5": t.search(at(3, 10), "alice", probe=TODAYS, outcome="no_face", candidates=0),
        "refused": t.write(
            at(3, 10, 30),
            "bob",
            Action.CASE_REFUSED,
            case="K-9",
            payload={"attempt": "search", "reason": "not_a_member"},
        ),
    }
    out["decision"] = t.decide(at(0, 10), "carol", out["s2"], note="same ears")
    out["alert"] = raise_alerts(t.store, out["s3"])[0]
    # south's: never on north's dashboard
    south = t.search(at(3, 2), "zed", case="K-1", org=OTHER)
    t.search(at(3, 3), "zed", case="K-5", org=OTHER)
    t.write(at(3, 4), "zadmin", Action.ERASE, payload={"reason": "x"}, org=OTHER)
    t.write(at(3, 4), "zadmin", Action.EXPORT, payload={"format": "csv"}, org=OTHER)
    t.write(at(3, 4), "zed", Action.CASE_REFUSED, payload={"attempt": "search"}, org=OTHER)
    assert raise_alerts(t.store, south)
    return out


def test_searches_per_user_per_day_today_and_this_week(
    trail: Trail, seqs: dict[str, AuditEntry]
) -> None:
    board = dashboard(trail.store, SUPERVISOR, days=7, now=NOW)
    assert board.org == ORG and board.days[0] == date(2025, 2, 28)
    assert board.days[-1] == date(2025, 3, 6) and len(board.days) == 7
    assert [(u.user, u.today, u.this_week, u.per_day, u.outside_hours) for u in board.users] == [
        ("alice", 2, 3, (0, 1, 0, 0, 1, 0, 2), 0),
        ("bob", 0, 2, (0, 0, 0, 1, 1, 0, 0), 1),
    ]
    assert board.searches == 6
    hours = dict(enumerate(board.by_hour))
    assert {h: n for h, n in hours.items() if n} == {9: 2, 10: 2, 11: 1, 19: 1}
    # a one-day dashboard still counts the week from Monday
    (alice,) = [u for u in dashboard(trail.store, SUPERVISOR, days=1, now=NOW).users if u.today]
    assert (alice.per_day, alice.this_week) == ((2,), 3)


def test_the_lists_of_the_period(trail: Trail, seqs: dict[str, AuditEntry]) -> None:
    board = dashboard(trail.store, SUPERVISOR, days=7, now=NOW)
    assert [r.seq for r in board.outside_hours] == [seqs["s3"].seq]
    assert [r.seq for r in board.unreviewed] == [seqs["s3"].seq, seqs["s1"].seq]
    assert [r.seq for r in board.refused] == [seqs["refused"].seq, seqs["s5"].seq]
    assert [r.summary for r in board.refused] == [
        "search refused: not a member",
        "failed: no_face",
    ]
    assert [(r.seq, r.summary) for r in board.erasures] == [
        (seqs["erase"].seq, "2 faces, 1 image; reason: court order")
    ]
    assert [(r.seq, r.summary) for r in board.exports] == [
        (seqs["export"].seq, "audit entries (csv, 12 entries)")
    ]
    assert [(a.seq, a.subject, a.rule) for a in board.alerts] == [
        (seqs["alert"].seq, "bob", "outside_hours")
    ]
    repeated = [(p.probe_sha256, p.searches, p.users, p.cases) for p in board.repeated_probes]
    assert repeated == [
        (PROBE, (seqs["s1"].seq, seqs["s2"].seq), ("alice", "bob"), ("K-1", "K-2")),
        (TODAYS, (seqs["s4"].seq, seqs["s5"].seq), ("alice",), ("K-1",)),
    ]


def test_a_search_is_overdue_a_day_after_it_ran(trail: Trail, seqs: dict[str, AuditEntry]) -> None:
    later = dashboard(trail.store, SUPERVISOR, days=7, now=at(4, 9, 1))
    assert seqs["s4"].seq in [r.seq for r in later.unreviewed]
    assert seqs["s5"].seq not in [r.seq for r in later.unreviewed]  # failed: nothing to review


def test_json(trail: Trail, seqs: dict[str, AuditEntry]) -> None:
    data = dashboard(trail.store, SUPERVISOR, now=NOW).as_json()
    assert data["org"] == ORG and len(data["days"]) == 28 and data["searches"] == 7
    assert data["time_zone"] == "Europe/Berlin" and data["working_hours"] == "08:00-18:00"
    assert data["max_searches_per_day"] == 3
    assert data["users"][0] == {
        "user": "alice",
        "today": 2,
        "this_week": 3,
        "total": 5,
        "per_day": [0] * 20 + [1, 0, 1, 0, 0, 1, 0, 2],  # 7 Feb .. 6 March
        "outside_hours": 0,
    }
    assert data["alert_counts"]["outside_hours"] == 1
    assert data["alert_counts"]["searches_per_day"] == 0
    assert data["repeated_probes"][0]["count"] == 2
    assert data["outside_hours"][0]["seq"] == seqs["s3"].seq
    assert set(data) >= {"unreviewed", "refused", "erasures", "exports", "alerts", "by_hour"}


def test_only_a_supervisor_of_the_organisation(trail: Trail, seqs: dict[str, AuditEntry]) -> None:
    for nobody in (
        Actor("ivy", Role.INVESTIGATOR, ORG),
        Actor("adam", Role.ADMIN, ORG),
        Actor("aud", Role.AUDITOR, ORG),
        Actor("op", Role.OPERATOR, None),
    ):
        with pytest.raises(PermissionDeniedError):
            dashboard(trail.store, nobody, now=NOW)
    south = dashboard(trail.store, Actor("sam", Role.SUPERVISOR, OTHER), days=7, now=NOW)
    assert [u.user for u in south.users] == ["zed"]
    assert len(south.erasures) == len(south.exports) == len(south.refused) == 1
    assert [p.cases for p in south.repeated_probes] == [("K-1", "K-5")]
    local = dashboard(trail.store, local_actor("root", ORG), days=7, now=NOW)
    assert local.users == dashboard(trail.store, SUPERVISOR, days=7, now=NOW).users
    with pytest.raises(InputError):
        dashboard(trail.store, SUPERVISOR, days=0)


# --- what changed the gallery, and who its data went to ------------------------------------


@pytest.fixture
def changes(trail: Trail) -> dict[str, AuditEntry]:
    """A week of north's ingest runs, shares and persons named, and south's (never on north's
    dashboard, but for a share with north), in time order."""
    t = trail
    t.clock.now = at(-7, 10)
    t.store.orgs.add(THIRD, by=ROOT)
    out: dict[str, AuditEntry] = {}
    # before the period (which starts at midnight, Friday 28 February, Berlin)
    old = t.ingest_start(at(-5, 10), "alice", run_id=1)
    t.ingest_end(at(-5, 11), old)
    out["killed_start"] = t.ingest_start(at(-4, 10), "bob", collection="cctv", run_id=2)
    t.share(at(-4, 12), "adam", "old", OTHER)
    t.name_person(at(-4, 23, 59), "carol", 3, "Before")
    long = t.ingest_start(at(-4, 23), "alice", run_id=3)
    # the period
    out["at_start"] = t.name_person(at(-3, 0), "carol", 5, "Midnight", faces=1)
    out["long"] = t.ingest_end(at(-3, 0, 30), long, images=1, faces=1)
    first = t.ingest_start(at(0, 9), "adam", run_id=4, case="K-1")
    out["ok"] = t.ingest_end(at(0, 9, 5), first, images=120, faces=143, failed=3)
    out["harbour"] = t.share(at(0, 15), "zadmin", "harbour", ORG, org=OTHER)
    out["to_east"] = t.share(at(0, 16), "zadmin", "harbour", THIRD, org=OTHER)  # not north's
    out["grant"] = t.share(at(1, 9), "adam", "mugshots", OTHER)
    dead = t.ingest_start(at(1, 10), "adam", collection="cctv", run_id=5)
    gone = "no end logged, and its process (pid 4242 on host1) is gone"
    out["abandoned"] = t.ingest_end(
        at(1, 11), dead, images=4, faces=4, outcome="abandoned", error=gone
    )
    theirs = t.ingest_start(at(1, 12), "zadmin", collection="south-cams", run_id=8, org=OTHER)
    t.ingest_end(at(1, 13), theirs, images=9, faces=9)
    out["named"] = t.name_person(at(1, 14), "carol", 12, "Jan Kowalski")
    out["withdraw"] = t.share(at(2, 9), "adam", "mugshots", OTHER, grant=False)
    stopped = t.ingest_start(at(2, 10), "alice", run_id=6)
    out["interrupted"] = t.ingest_end(
        at(2, 10, 1),
        stopped,
        images=0,
        faces=0,
        outcome="interrupted",
        error="interrupted (Ctrl-C)",
    )
    t.name_person(at(2, 12), "zed", 40, "Somebody", org=OTHER)
    t.merge(at(2, 13), "zed", 40, 41, org=OTHER)
    out["renamed"] = t.name_person(at(2, 14), "carol", 12, "Jan K.", previous="Jan Kowalski")
    out["merged"] = t.merge(at(2, 15), "carol", 12, 7, other_name="J. Kowalski")
    t.write(
        at(2, 15, 30),
        "carol",
        Action.PERSON_SPLIT,
        payload={"person": 12, "new_person": 30, "face_ids": [5]},
    )  # not a naming
    out["unnamed"] = t.name_person(at(2, 16), "carol", 9, None, previous="X", faces=1)
    late = "no end logged, and its process (pid 77 on host1) is gone"
    out["killed"] = t.ingest_end(
        at(3, 8), out["killed_start"], images=2, faces=2, outcome="abandoned", error=late
    )
    out["harbour_withdraw"] = t.share(at(3, 9), "zadmin", "harbour", ORG, grant=False, org=OTHER)
    t.ingest_start(at(3, 10), "zadmin", collection="south-cams", run_id=9, org=OTHER)  # running
    out["running"] = t.ingest_start(at(3, 11), "adam", collection="cctv", run_id=7)
    # after the dashboard's now: the running run ends
    out["later"] = t.ingest_end(at(3, 13), out["running"], images=5, faces=6)
    return out


def _listed(refs: tuple[EntryRef, ...]) -> list[tuple[int, str, str]]:
    return [(r.seq, r.actor, r.summary) for r in refs]


def test_the_ingest_runs_of_the_period(trail: Trail, changes: dict[str, AuditEntry]) -> None:
    """The end of each run that ended in the period (newest first), an abandoned one with who
    started it, and a run with no end yet as running; no started entry of an ended run."""
    board = dashboard(trail.store, SUPERVISOR, days=7, now=NOW)
    c = changes
    assert _listed(board.ingests) == [
        (c["running"].seq, "adam", "collection cctv: running (no end logged yet)"),
        (
            c["killed"].seq,
            "system:ingest",
            "collection cctv: 2 images, 2 faces added; abandoned: no end logged, and its "
            "process (pid 77 on host1) is gone; started by bob",
        ),
        (
            c["interrupted"].seq,
            "alice",
            "collection mugshots: 0 images, 0 faces added; interrupted (Ctrl-C)",
        ),
        (
            c["abandoned"].seq,
            "system:ingest",
            "collection cctv: 4 images, 4 faces added; abandoned: no end logged, and its "
            "process (pid 4242 on host1) is gone; started by adam",
        ),
        (c["ok"].seq, "adam", "collection mugshots: 120 images, 143 faces added; 3 failed"),
        (c["long"].seq, "alice", "collection mugshots: 1 image, 1 face added"),
    ]
    assert board.ingests[-2].case == "K-1" and board.ingests[0].case is None
    # once it has ended, the run is listed by its end only
    later = dashboard(trail.store, SUPERVISOR, days=7, now=at(3, 14))
    assert _listed(later.ingests)[0] == (
        c["later"].seq,
        "adam",
        "collection cctv: 5 images, 6 faces added",
    )
    assert c["running"].seq not in [r.seq for r in later.ingests]
    # a one-day dashboard: today's entries only (the killed run's end, the running run)
    today = dashboard(trail.store, SUPERVISOR, days=1, now=NOW)
    assert [r.seq for r in today.ingests] == [c["running"].seq, c["killed"].seq]


def test_shares_each_side_sees(trail: Trail, changes: dict[str, AuditEntry]) -> None:
    """The owner's supervisor sees its collections shared and withdrawn, with whom and by
    whom; the receiving organisation's sees that a collection was shared with it, or
    withdrawn, and not who shared it nor whose it is; a third organisation sees nothing."""
    c = changes
    north = dashboard(trail.store, SUPERVISOR, days=7, now=NOW)
    assert [(r.seq, r.actor, r.own, r.summary) for r in north.sharing] == [
        (
            c["harbour_withdraw"].seq,
            "",
            False,
            "collection harbour withdrawn from this organisation",
        ),
        (c["withdraw"].seq, "adam", True, "collection mugshots withdrawn from organisation south"),
        (
            c["grant"].seq,
            "adam",
            True,
            "collection mugshots shared with organisation south (read-only)",
        ),
        (
            c["harbour"].seq,
            "",
            False,
            "collection harbour shared with this organisation (read-only)",
        ),
    ]
    south = dashboard(trail.store, Actor("sam", Role.SUPERVISOR, OTHER), days=7, now=NOW)
    assert [(r.seq, r.actor, r.own) for r in south.sharing] == [
        (c["harbour_withdraw"].seq, "zadmin", True),
        (c["withdraw"].seq, "", False),
        (c["grant"].seq, "", False),
        (c["to_east"].seq, "zadmin", True),
        (c["harbour"].seq, "zadmin", True),
    ]
    assert (
        south.sharing[-2].summary == "collection harbour shared with organisation east (read-only)"
    )
    assert (
        south.sharing[2].summary == "collection mugshots shared with this organisation (read-only)"
    )
    for ref in south.sharing[1:3]:  # north's entries: nothing of north's but the collection
        shown = json.dumps(ref.as_json())
        assert ORG not in shown and "adam" not in shown and ref.case is None
    east = dashboard(trail.store, Actor("eve", Role.SUPERVISOR, THIRD), days=7, now=NOW)
    assert [r.summary for r in east.sharing] == [
        "collection harbour shared with this organisation (read-only)"
    ]


def test_persons_named_and_merged(trail: Trail, changes: dict[str, AuditEntry]) -> None:
    """Who named whom, renamed, unnamed and merged; the period's first moment included, the
    moment before it not; a split is no naming; south's never."""
    c = changes
    board = dashboard(trail.store, SUPERVISOR, days=7, now=NOW)
    assert _listed(board.naming) == [
        (c["unnamed"].seq, "carol", "person 9 unnamed (was 'X'), 1 face"),
        (c["merged"].seq, "carol", "person 7 ('J. Kowalski') merged into person 12, 3 faces moved"),
        (c["renamed"].seq, "carol", "person 12 named 'Jan K.' (was 'Jan Kowalski'), 4 faces"),
        (c["named"].seq, "carol", "person 12 named 'Jan Kowalski', 4 faces"),
        (c["at_start"].seq, "carol", "person 5 named 'Midnight', 1 face"),
    ]
    south = dashboard(trail.store, Actor("sam", Role.SUPERVISOR, OTHER), days=7, now=NOW)
    assert [r.summary for r in south.naming] == [
        "person 41 merged into person 40, 3 faces moved",
        "person 40 named 'Somebody', 4 faces",
    ]
    assert [r.summary for r in south.ingests] == [
        "collection south-cams: running (no end logged yet)",
        "collection south-cams: 9 images, 9 faces added",
    ]


def test_the_gallery_changes_in_json(trail: Trail, changes: dict[str, AuditEntry]) -> None:
    data = dashboard(trail.store, SUPERVISOR, days=7, now=NOW).as_json()
    assert [len(data[k]) for k in ("ingests", "sharing", "naming")] == [6, 4, 5]
    assert data["ingests"][0] == {
        "seq": changes["running"].seq,
        "time": "2025-03-06T10:00:00+00:00",
        "actor": "adam",
        "action": "ingest",
        "case": None,
        "summary": "collection cctv: running (no end logged yet)",
        "own": True,
    }
    assert data["sharing"][0]["own"] is False and data["sharing"][0]["actor"] == ""


def test_an_ingest_of_thousands_reads_with_separators() -> None:
    """The demo's ingest of all of LFW read 'collection default: 13233 images, 15706 faces
    added' on the dashboard, where every other count of the pages has separators."""
    from datetime import UTC, datetime

    from facesearch.app.oversight_summaries import ingest_summary

    payload = {"collection": "default", "images_added": 13233, "faces_added": 15706}
    moment = datetime(2026, 12, 1, tzinfo=UTC)
    entry = AuditEntry(1, moment, "os:me", "ingest", None, None, payload, "0" * 64, "1" * 64)
    assert ingest_summary(entry) == "collection default: 13,233 images, 15,706 faces added"


def test_an_erasure_of_one_subject_reads_singular() -> None:
    """The dashboard read '2 faces, 2 images, 1 subjects; reason: ...'."""
    from datetime import UTC, datetime

    from facesearch.app.oversight_summaries import erasure_summary

    payload = {"counts": {"faces": 2, "images": 1, "subjects": 1}, "reason": "DSR-24"}
    moment = datetime(2026, 12, 1, tzinfo=UTC)
    entry = AuditEntry(1, moment, "admin", "erase", None, None, payload, "0" * 64, "1" * 64)
    assert erasure_summary(entry) == "2 faces, 1 image, 1 subject; reason: DSR-24"
