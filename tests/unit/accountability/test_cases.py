"""The case registry, on SQLite and on PostgreSQL (the ``store`` fixture runs each test on both)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from accountability_helpers import CHEAP, PW, ROOT, kinds, old_home, tamper

from facesearch.accountability import (
    FILENAME,
    AccountabilityStore,
    Action,
    BreakKind,
    CaseRefusal,
    CaseStatus,
    Role,
    User,
)
from facesearch.accountability.cases import CaseCheck
from facesearch.accountability.schema import MIGRATIONS
from facesearch.errors import InputError, NotFoundError, PermissionDeniedError


def test_opening_a_case_records_it_and_its_members_in_one_audit_entry(
    store: AccountabilityStore, people: dict[str, User]
):
    case = store.cases.open(
        " K-1 ", "Burglary", legal_basis="s. 12 Act", members=("bob", "alice", "bob"), by=ROOT
    )
    assert (case.number, case.title, case.legal_basis) == ("K-1", "Burglary", "s. 12 Act")
    assert case.status is CaseStatus.OPEN and case.opened_by == ROOT.name
    assert case.members == ("alice", "bob") and case.closed_at is None
    assert store.cases.get("K-1") == case
    (entry,) = store.audit.entries(action=Action.CASE_OPEN)
    assert entry.case == "K-1" and entry.actor == ROOT.name
    assert entry.payload == {
        "title": "Burglary",
        "legal_basis": "s. 12 Act",
        "members": ["alice", "bob"],
    }


def test_a_case_number_is_unique_and_members_must_exist(
    store: AccountabilityStore, people: dict[str, User]
):
    store.cases.open("K-1", "one", by=ROOT)
    with pytest.raises(InputError, match="exists already"):
        store.cases.open("K-1", "two", by=ROOT)
    with pytest.raises(NotFoundError, match="no user nobody"):
        store.cases.open("K-2", "two", members=("nobody",), by=ROOT)
    with pytest.raises(InputError, match="title"):
        store.cases.open("K-3", "  ", by=ROOT)
    assert [c.number for c in store.cases.cases()] == ["K-1"]  # nothing half-written
    assert len(store.audit.entries(action=Action.CASE_OPEN)) == 1


def test_admins_manage_cases_and_investigators_open_their_own(
    store: AccountabilityStore, people: dict[str, User]
):
    with pytest.raises(PermissionDeniedError):  # an auditor does not search: no cases
        store.cases.open("K-1", "audit", by=people["audrey"])
    mine = store.cases.open("K-1", "mine", members=("bob",), by=people["alice"])
    assert (mine.opened_by, mine.members) == ("alice", ("alice", "bob"))  # a member at once
    store.cases.open("K-2", "theirs", by=people["admin"])
    with pytest.raises(PermissionDeniedError):
        store.cases.add_member("K-2", "alice", by=people["alice"])
    for number, who in (("K-1", "alice"), ("K-2", "audrey")):
        with pytest.raises(PermissionDeniedError):
            store.cases.close(number, by=people[who])
    assert store.cases.get("K-2").members == ()
    assert store.verify().ok


def test_closing_a_case_and_adding_members_are_logged(
    store: AccountabilityStore, people: dict[str, User]
):
    store.cases.open("K-1", "t", members=("alice",), by=people["admin"])
    case = store.cases.add_member("K-1", "bob", by=people["admin"])
    assert case.members == ("alice", "bob")
    assert store.cases.add_member("K-1", "BOB", by=people["admin"]).members == ("alice", "bob")
    closed = store.cases.close("K-1", by=people["admin"])
    assert closed.status is CaseStatus.CLOSED and closed.closed_by == "admin"
    assert closed.closed_at is not None
    with pytest.raises(InputError, match="closed"):
        store.cases.close("K-1", by=people["admin"])
    with pytest.raises(InputError, match="closed"):
        store.cases.add_member("K-1", "audrey", by=people["admin"])
    actions = [(e.action, e.case, dict(e.payload)) for e in store.audit.entries()][-3:]
    assert actions == [
        ("case_open", "K-1", {"title": "t", "legal_basis": None, "members": ["alice"]}),
        ("case_member_add", "K-1", {"name": "bob"}),
        ("case_close", "K-1", {}),
    ]


def test_a_users_cases_are_those_they_are_a_member_of(
    store: AccountabilityStore, people: dict[str, User]
):
    store.cases.open("K-1", "a", members=("alice",), by=ROOT)
    store.cases.open("K-2", "b", members=("alice", "bob"), by=ROOT)
    assert [c.number for c in store.cases.cases(member="alice")] == ["K-2", "K-1"]
    assert [c.number for c in store.cases.cases(member="bob")] == ["K-2"]
    assert store.cases.cases(member="audrey") == []
    assert [c.number for c in store.cases.cases()] == ["K-2", "K-1"]


def test_refusal_says_why_work_under_a_case_is_not_allowed(
    store: AccountabilityStore, people: dict[str, User]
):
    alice, bob = people["alice"], people["bob"]
    assert not store.cases.in_use()
    assert store.cases.refusal("anything", alice) is None  # an empty registry enforces nothing
    store.cases.open("K-1", "t", members=("alice",), by=ROOT)
    assert store.cases.in_use()
    assert store.cases.refusal("K-1", alice) is None
    assert store.cases.refusal("K-1", bob) is CaseRefusal.NOT_MEMBER
    assert store.cases.refusal("K-9", alice) is CaseRefusal.UNKNOWN
    assert store.cases.refusal("K-1", ROOT) is None  # the CLI's local actor has no account
    assert store.cases.refusal(None, bob) is None
    store.cases.close("K-1", by=ROOT)
    assert store.cases.refusal("K-1", alice) is CaseRefusal.CLOSED
    assert store.cases.refusal("K-1", ROOT) is CaseRefusal.CLOSED


def test_check_says_with_the_refusal_whether_the_registry_held_the_number(
    store: AccountabilityStore, people: dict[str, User]
):
    """Read at once: a use checked while the registry did not hold its number is not the
    work of a case of that number opened while it ran (``app.checks.case_marks``)."""
    alice, bob = people["alice"], people["bob"]
    assert store.cases.check("K-1", alice) == CaseCheck(None, registered=False)
    store.cases.open("K-1", "t", members=("alice",), by=ROOT)
    assert store.cases.check("K-1", alice) == CaseCheck(None, registered=True)
    assert store.cases.check("K-1", bob) == CaseCheck(CaseRefusal.NOT_MEMBER, registered=True)
    assert store.cases.check("K-9", alice) == CaseCheck(CaseRefusal.UNKNOWN, registered=False)
    assert store.cases.check(None, alice) == CaseCheck(None, registered=False)
    store.cases.close("K-1", by=ROOT)
    assert store.cases.check("K-1", ROOT) == CaseCheck(CaseRefusal.CLOSED, registered=True)


def test_the_audit_trail_still_verifies_after_case_changes(
    store: AccountabilityStore, people: dict[str, User]
):
    store.cases.open("K-1", "t", members=("alice",), by=ROOT)
    store.cases.close("K-1", by=ROOT)
    assert store.verify().ok


def test_verify_finds_a_member_or_a_case_the_trail_does_not_record(
    store: AccountabilityStore, people: dict[str, User]
):
    store.cases.open("K-1", "t", members=("alice",), by=ROOT)
    store.cases.open("K-2", "t", by=ROOT)
    store.cases.close("K-2", by=ROOT)
    assert store.verify().ok
    tamper(
        store,
        "INSERT INTO case_members (case_id, user_id, added_by, added_at) "
        "SELECT c.id, u.id, 'x', 'x' FROM cases c, users u WHERE c.number = 'K-1' "
        "AND u.name = 'bob'",
        "UPDATE cases SET status = 'open', closed_by = NULL, closed_at = NULL WHERE number = 'K-2'",
        "INSERT INTO cases (number, title, status, opened_by, opened_at) "
        "VALUES ('K-3', 't', 'open', 'x', 'x')",
    )
    report = store.verify()
    assert not report.ok
    assert [k for k, _, _ in kinds(report)] == [BreakKind.INDEX] * 3
    found = " | ".join(b.detail for b in report.breaks)
    assert "bob is a member of case K-1" in found
    assert "case K-2 is open" in found
    assert "case K-3 has no case_open entry" in found


def test_a_version_4_file_gets_an_empty_registry_that_enforces_nothing(tmp_path: Path):
    home = tmp_path / "home"
    conn = old_home(home, 4)
    conn.commit()
    conn.close()
    with AccountabilityStore.open(
        home, hasher=CHEAP, key_file=tmp_path / "k", anchor_file=tmp_path / "a"
    ) as store:
        alice = store.accounts.add_user("alice", Role.INVESTIGATOR, PW, by=ROOT)
        assert store.cases.cases() == [] and not store.cases.in_use()
        assert store.cases.refusal("K-free-text", alice) is None
        assert store.cases.open("K-1", "t", members=("alice",), by=ROOT).members == ("alice",)
    conn = sqlite3.connect(home / FILENAME)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS) == 9
    conn.close()
