"""The alert rules (app/alerts.py) on a real accountability store: each rule fires and does not
fire, in the organisation's time zone and with its policy's thresholds; one alert per rule per
user per day; another organisation's entries never count."""

from __future__ import annotations

import pytest
from accountability_helpers import ROOT
from tests.unit.app.oversight_trail import ORG, OTHER, OTHER_PROBE, Trail, at

from facesearch.accountability import Action, Actor, AuditEntry, Role, local_actor
from facesearch.app.alerts import ALERT_ACTOR, AlertRule, alert_rules, alerts_for, raise_alerts
from facesearch.app.oversight import recent_alerts
from facesearch.errors import PermissionDeniedError


def rules(trail: Trail, entry: AuditEntry) -> list[AlertRule]:
    return [f.rule for f in alerts_for(trail.store, entry)]


def test_more_searches_in_a_day_than_the_policy_allows(trail: Trail) -> None:
    day = [trail.search(at(0, 9 + i), "alice", case=f"K-{i}", probe=f"{i:064x}") for i in range(3)]
    assert AlertRule.SEARCHES_PER_DAY not in rules(trail, day[-1])  # 3: at the limit
    fourth = trail.search(at(0, 13), "alice", case="K-9", probe=OTHER_PROBE)
    (finding,) = alerts_for(trail.store, fourth)
    assert finding.rule is AlertRule.SEARCHES_PER_DAY and finding.subject == "alice"
    assert finding.seqs == (*(e.seq for e in day), fourth.seq)
    assert "4 searches today" in finding.detail


def test_the_day_is_the_organisations_and_others_do_not_count(trail: Trail) -> None:
    # 23:30 Berlin on Sunday is Sunday 22:30 UTC: not Monday's
    trail.search(at(-1, 23, 30), "alice", probe=OTHER_PROBE)
    trail.search(at(0, 9), "bob")  # another user
    trail.search(at(0, 9, 30), "alice", org=OTHER)  # another organisation
    trail.search(at(0, 10), "alice")
    trail.search(at(0, 11), "alice")
    third = trail.search(at(0, 12), "alice")
    assert AlertRule.SEARCHES_PER_DAY not in rules(trail, third)


def test_a_search_outside_working_hours_in_the_organisations_time_zone(trail: Trail) -> None:
    assert rules(trail, trail.search(at(0, 8), "alice")) == []  # start: inside
    late = trail.search(at(0, 18), "alice")  # end: outside (17:00 UTC)
    (finding,) = alerts_for(trail.store, late)
    assert finding.rule is AlertRule.OUTSIDE_HOURS and finding.seqs == (late.seq,)
    assert "18:00 Europe/Berlin" in finding.detail
    assert rules(trail, trail.search(at(1, 7, 59), "alice")) == [AlertRule.OUTSIDE_HOURS]
    # 07:30 UTC is 08:30 in Berlin: inside; the same time in the default organisation (UTC,
    # 07:00-19:00) too, but 06:30 UTC is outside there
    assert rules(trail, trail.search(at(2, 8, 30), "alice")) == []
    early = trail.search(at(2, 7, 30), "carol", org="default")
    assert rules(trail, early) == [AlertRule.OUTSIDE_HOURS]


def test_a_night_shift_alerts_by_day_not_by_night(trail: Trail) -> None:
    """Working hours 22:00-06:00 (Berlin): searches at 23:00 and 02:00 are inside, one at
    noon is outside."""
    trail.store.orgs.change(ORG, policy={"working_hours": "22:00-06:00"}, by=ROOT)
    assert rules(trail, trail.search(at(0, 23), "alice", probe=OTHER_PROBE)) == []
    assert rules(trail, trail.search(at(1, 2), "alice", probe=OTHER_PROBE)) == []
    noon = trail.search(at(1, 12), "alice", probe=OTHER_PROBE)
    assert rules(trail, noon) == [AlertRule.OUTSIDE_HOURS]


def test_one_probe_under_two_cases(trail: Trail) -> None:
    first = trail.search(at(0, 9), "alice", case="K-1")
    again = trail.search(at(0, 10), "alice", case="K-1")
    assert rules(trail, again) == []  # the same case twice
    trail.search(at(0, 10, 30), "bob", case="K-7", org=OTHER)  # south's, same photo
    trail.search(at(0, 10, 45), "bob", case="K-8", probe=OTHER_PROBE)  # another photo
    no_case = trail.search(at(0, 10, 50), "bob", case=None)
    assert rules(trail, no_case) == []
    other = trail.search(at(0, 11), "bob", case="K-2")
    (finding,) = alerts_for(trail.store, other)
    assert finding.rule is AlertRule.PROBE_SEVERAL_CASES and finding.subject == "bob"
    assert finding.seqs == (first.seq, again.seq, no_case.seq, other.seq)
    assert "2 cases: K-1, K-2" in finding.detail


def test_a_confirmation_without_a_note(trail: Trail) -> None:
    search = trail.search(at(0, 9), "alice")
    first = trail.decide(at(0, 9, 5), "alice", search, status_after="possible_match")
    assert rules(trail, first) == []  # a first possible match confirms nothing yet
    with_note = trail.decide(at(0, 9, 10), "bob", search, note="same scar on the chin")
    assert rules(trail, with_note) == []
    bare = trail.decide(at(0, 9, 15), "carol", search, note="   ")
    (finding,) = alerts_for(trail.store, bare)
    assert finding.rule is AlertRule.CONFIRMATION_WITHOUT_NOTE and finding.subject == "carol"
    assert finding.seqs == (bare.seq,)


def test_other_actions_and_platform_entries_fire_nothing(trail: Trail) -> None:
    erase = trail.write(at(0, 23), "admin", Action.ERASE, payload={"reason": "court order"})
    assert alerts_for(trail.store, erase) == []
    platform = trail.search(at(0, 23), "op", org="(platform)")
    assert alerts_for(trail.store, platform) == []


def test_raise_alerts_writes_one_alert_per_rule_per_user_per_day(trail: Trail) -> None:
    late = trail.search(at(0, 19), "alice")
    (alert,) = raise_alerts(trail.store, late)
    assert alert.actor == ALERT_ACTOR and alert.action == Action.ALERT.value
    assert alert.org == ORG
    assert dict(alert.payload) == {
        "rule": "outside_hours",
        "subject": "alice",
        "detail": "a search at 19:00 Europe/Berlin, outside working hours 08:00-18:00",
        "seqs": [late.seq],
    }
    assert raise_alerts(trail.store, trail.search(at(0, 20), "alice")) == []  # that day: done
    assert len(raise_alerts(trail.store, trail.search(at(0, 21), "bob"))) == 1  # another user
    assert len(raise_alerts(trail.store, trail.search(at(1, 6), "alice"))) == 1  # next day
    # south's alert of the same rule and user does not stand in for north's
    south = trail.search(at(2, 3), "alice", org=OTHER)
    (south_alert,) = raise_alerts(trail.store, south)
    assert south_alert.org == OTHER
    assert len(raise_alerts(trail.store, trail.search(at(2, 4), "alice"))) == 1
    assert alert_rules(trail.store) == ["outside_hours"] * 5
    assert alert_rules(trail.store, after=4) == ["outside_hours"]


def test_two_rules_fire_at_once(trail: Trail) -> None:
    trail.search(at(0, 5), "alice", case="K-1")
    written = raise_alerts(trail.store, trail.search(at(0, 6), "alice", case="K-2"))
    assert [e.payload["rule"] for e in written] == ["outside_hours", "probe_several_cases"]


def test_recent_alerts_are_the_supervisors_organisations(trail: Trail) -> None:
    raise_alerts(trail.store, trail.search(at(0, 19), "alice"))
    raise_alerts(trail.store, trail.search(at(0, 21), "dave", org=OTHER))  # 20:00 UTC
    raise_alerts(trail.store, trail.search(at(1, 19), "alice"))
    supervisor = Actor("sue", Role.SUPERVISOR, ORG)
    found = recent_alerts(trail.store, supervisor, now=at(1, 23))
    assert [(a.subject, a.rule) for a in found] == [("alice", "outside_hours")] * 2
    assert found[0].seq > found[1].seq  # newest first
    assert len(recent_alerts(trail.store, supervisor, days=1, now=at(1, 23))) == 1
    assert len(recent_alerts(trail.store, local_actor("root", OTHER), now=at(1, 23))) == 1
    for nobody in (Actor("ivy", Role.INVESTIGATOR, ORG), Actor("op", Role.OPERATOR, None)):
        with pytest.raises(PermissionDeniedError):
            recent_alerts(trail.store, nobody)
