"""The trail's lookups for the alert rules, run after every search (schema version 7): the
searches of one probe and one user's searches of a day come from indexes, not from reading
every search of the organisation."""

from __future__ import annotations

from datetime import timedelta

from tests.unit.accountability_helpers import T0

from facesearch.accountability import AccountabilityStore, Action
from facesearch.accountability.audit_query import select as _select
from facesearch.accountability.dialect import is_postgres

PROBE_A, PROBE_B = "a" * 64, "b" * 64


def _searches(store: AccountabilityStore) -> None:
    for n, probe in enumerate((PROBE_A, PROBE_B, PROBE_A)):
        store.audit.append(
            actor="ivy" if n < 2 else "dan",
            action=Action.SEARCH,
            case=f"K-{n}",
            payload={"probe_sha256": probe, "candidates": []},
        )
    store.audit.append(actor="ivy", action=Action.READ, payload={"probe_sha256": PROBE_A})


def test_searches_of_a_probe_and_of_a_user_are_found(store: AccountabilityStore) -> None:
    _searches(store)
    found = store.audit.entries(action=Action.SEARCH, probe=PROBE_A, limit=None)
    assert [(e.actor, e.case) for e in found] == [("ivy", "K-0"), ("dan", "K-2")]
    assert store.audit.entries(probe=PROBE_A, limit=None) == found  # searches only
    assert store.audit.entries(probe="c" * 64, limit=None) == []
    day = {"since": T0 - timedelta(days=1), "until": T0 + timedelta(days=1)}
    assert store.audit.count(actor="ivy", action=Action.SEARCH, **day) == 2
    assert store.audit.count(actor="ivy", **day) == 3


def test_the_cases_of_a_probe_are_read_without_its_entries(store: AccountabilityStore) -> None:
    """The repeated-probe alert asks for the distinct cases of an organisation's searches of
    one probe; it reads the entries only when there are two or more."""
    for org, probe, case in [
        ("police", PROBE_A, "K-2"),
        ("police", PROBE_A, "K-0"),
        ("police", PROBE_A, "K-0"),
        ("police", PROBE_B, "K-1"),
        ("customs", PROBE_A, "C-9"),
    ]:
        store.audit.append(
            actor="ivy", action=Action.SEARCH, case=case, payload={"probe_sha256": probe}, org=org
        )
    store.audit.append(
        actor="ivy", action=Action.READ, case="K-7", payload={"probe_sha256": PROBE_A}, org="police"
    )
    day = {"since": T0 - timedelta(days=1), "until": T0 + timedelta(days=1)}
    assert store.audit.cases_of_probe(PROBE_A, org="police", **day) == ["K-0", "K-2"]
    assert store.audit.cases_of_probe(PROBE_B, org="police", **day) == ["K-1"]
    assert store.audit.cases_of_probe(PROBE_A, org="customs", **day) == ["C-9"]
    assert store.audit.cases_of_probe("c" * 64, org="police", **day) == []
    before = {"since": T0 - timedelta(days=2), "until": T0 - timedelta(days=1)}
    assert store.audit.cases_of_probe(PROBE_A, org="police", **before) == []


def test_the_rules_and_subjects_alerted_are_read_from_the_payloads(
    store: AccountabilityStore,
) -> None:
    """What the alert rules dedupe against: (rule, subject) of an organisation's alerts of a
    day, read in SQL (the payloads' JSON), whatever else the payloads hold."""
    rules = "system:alerts"
    for org, actor, rule, subject in [
        ("police", rules, "searches_per_day", "ivy"),
        ("police", rules, "searches_per_day", "ivy"),
        ("police", rules, "probe_several_cases", "dan"),
        ("customs", rules, "outside_hours", "eve"),
        ("police", "mallory", "outside_hours", "ivy"),  # not written by the rules
    ]:
        payload = {"rule": rule, "subject": subject, "detail": "x", "seqs": list(range(50))}
        store.audit.append(actor=actor, action=Action.ALERT, payload=payload, org=org)
    since = T0 - timedelta(hours=1)
    assert store.audit.alerted(org="police", actor=rules, since=since) == {
        ("searches_per_day", "ivy"),
        ("probe_several_cases", "dan"),
    }
    assert store.audit.alerted(org="customs", actor=rules, since=since) == {
        ("outside_hours", "eve")
    }
    later = T0 + timedelta(days=1)
    assert store.audit.alerted(org="police", actor=rules, since=later) == set()


def test_the_lookups_use_their_indexes(store: AccountabilityStore) -> None:
    _searches(store)
    with store.db.read() as conn:
        if is_postgres(conn):  # it plans by its statistics: the indexes exist
            names = {r[0] for r in conn.execute("SELECT indexname FROM pg_indexes")}
            assert {"audit_log_probe", "audit_log_actor_action_time"} <= names
            return
        sql, args = _select(conn, "default", None, Action.SEARCH, None, T0, T0, None, 0, PROBE_A)
        plan = " ".join(str(r[3]) for r in conn.execute("EXPLAIN QUERY PLAN " + sql, args))
        assert "audit_log_probe" in plan, plan
        sql, args = _select(
            conn, "default", "ivy", Action.SEARCH, None, T0, T0, None, 0, what="count(*)"
        )
        plan = " ".join(str(r[3]) for r in conn.execute("EXPLAIN QUERY PLAN " + sql, args))
        assert "audit_log_actor_action_time" in plan, plan
