"""The supervisor's dashboard (app/oversight.py) over a hand-written trail on a real store:
searches per user per day, today and this week in the organisation's time zone, outside
working hours, repeated probes, unreviewed searches, refusals, erasures, exports and alerts;
another organisation's entries never counted; only supervisors (and the local CLI user) of an
organisation may read it."""

from __future__ import annotations

from datetime import date

import pytest
from tests.unit.app.oversight_trail import ORG, OTHER, OTHER_PROBE, PROBE, Trail, at

from facesearch.accountability import Action, Actor, AuditEntry, Role, local_actor
from facesearch.app.alerts import raise_alerts
from facesearch.app.oversight import dashboard
from facesearch.errors import InputError, PermissionDeniedError

SUPERVISOR = Actor("sue", Role.SUPERVISOR, ORG)
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
        (seqs["erase"].seq, "2 faces, 1 images; reason: court order")
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
