"""Accounts: users added, disabled, enabled, given a password; every change audited and checked
against the trail."""

from __future__ import annotations

import pytest
from accountability_helpers import PW, ROOT, T0, FakeClock, tamper

from facesearch.accountability import (
    AccountabilityStore,
    Actor,
    BreakKind,
    Role,
    User,
)
from facesearch.errors import (
    AuthenticationError,
    InputError,
    NotFoundError,
    PermissionDeniedError,
)

# --- users ------------------------------------------------------------------------------------


def test_add_list_get_disable_enable(store: AccountabilityStore, clock: FakeClock):
    assert not store.accounts.has_users()
    alice = store.accounts.add_user("alice", "investigator", PW, by=ROOT)
    assert alice == User("alice", Role.INVESTIGATOR, disabled=False, created_at=T0)
    admin = store.accounts.add_user("admin", Role.ADMIN, PW, by=ROOT)
    assert store.accounts.has_users()
    assert [u.name for u in store.accounts.users()] == ["admin", "alice"]
    assert store.accounts.get_user("ALICE") == alice  # names ignore case
    assert store.accounts.disable_user("alice", by=admin).disabled
    assert store.accounts.get_user("alice").disabled
    assert not store.accounts.enable_user("alice", by=admin).disabled
    with pytest.raises(NotFoundError):
        store.accounts.get_user("nobody")
    logged = [(e.actor, e.action, e.payload) for e in store.audit.entries()]
    assert logged == [
        (
            "os:root",
            "user_add",
            {"name": "alice", "org": "default", "role": "investigator", "one_time_password": False},
        ),
        (
            "os:root",
            "user_add",
            {"name": "admin", "org": "default", "role": "admin", "one_time_password": False},
        ),
        ("admin", "user_disable", {"name": "alice", "tokens_revoked": 0}),
        ("admin", "user_enable", {"name": "alice"}),
    ]
    assert store.verify().ok


def test_duplicates_roles_and_passwords_are_checked(store: AccountabilityStore):
    store.accounts.add_user("alice", Role.ADMIN, PW, by=ROOT)
    with pytest.raises(InputError, match="exists"):
        store.accounts.add_user("Alice", Role.ADMIN, PW, by=ROOT)
    with pytest.raises(InputError, match="role"):
        store.accounts.add_user("bob", "boss", PW, by=ROOT)
    with pytest.raises(InputError, match="at least 12"):
        store.accounts.add_user("bob", Role.ADMIN, "short1234567"[:11], by=ROOT)
    with pytest.raises(InputError, match="user name"):
        store.accounts.add_user("bob.smith.jones", Role.ADMIN, "Bob.Smith.Jones", by=ROOT)
    with pytest.raises(InputError, match="at most"):
        store.accounts.add_user("bob", Role.ADMIN, "x" * 1025, by=ROOT)
    assert [u.name for u in store.accounts.users()] == ["alice"]


def test_only_admins_manage_users(store: AccountabilityStore, people: dict[str, User]):
    for who in ("alice", "audrey"):
        with pytest.raises(PermissionDeniedError):
            store.accounts.add_user("eve", Role.ADMIN, PW, by=people[who])
        with pytest.raises(PermissionDeniedError):
            store.accounts.disable_user("bob", by=people[who])
    # A User object outlives its account's state: it is re-read when it acts.
    store.accounts.add_user("admin2", Role.ADMIN, PW, by=ROOT)
    store.accounts.disable_user("admin", by=people["admin"])
    with pytest.raises(AuthenticationError):
        store.accounts.add_user("eve", Role.ADMIN, PW, by=people["admin"])
    with pytest.raises(AuthenticationError):
        store.accounts.add_user("eve", Role.ADMIN, PW, by=Actor("ghost", Role.ADMIN))


def test_the_last_admin_cannot_be_disabled(store: AccountabilityStore, people: dict[str, User]):
    with pytest.raises(InputError, match="last enabled admin"):
        store.accounts.disable_user("admin", by=people["admin"])


def test_set_password(store: AccountabilityStore, people: dict[str, User]):
    store.accounts.set_password("alice", "a new password", by=people["alice"])
    assert store.accounts.check_password("alice", "a new password").name == "alice"
    with pytest.raises(PermissionDeniedError):
        store.accounts.set_password("bob", "bobs new password", by=people["alice"])
    store.accounts.set_password("bob", "reset by admin", by=people["admin"])
    with pytest.raises(AuthenticationError):
        store.accounts.check_password("bob", PW)


# --- accounts against the trail ---------------------------------------------------------------


def test_verify_finds_accounts_edited_in_the_file(store, people):
    assert store.verify().ok
    tamper(
        store,
        "INSERT INTO users (name, role, password_hash, disabled, created_at, org_id) "
        "SELECT 'eve', 'admin', 'x', 0, '2025-01-01T00:00:00.000000+00:00', id "
        "FROM organisations WHERE name = 'default'",
        "UPDATE users SET role = 'admin' WHERE name = 'alice'",
    )
    found = [(b.kind, b.detail) for b in store.verify().breaks]
    assert (BreakKind.ACCOUNT, "account eve has no user_add entry") in found
    assert (BreakKind.ACCOUNT, "account alice is admin but was added as investigator") in found
    assert len(found) == 2


def test_verify_finds_an_account_moved_to_another_org_in_the_file(store, people):
    store.orgs.add("other", by=ROOT)
    store.accounts.add_user("olga", Role.ADMIN, PW, by=ROOT, org="other")
    store.accounts.add_user("opal", Role.OPERATOR, PW, by=ROOT, org=None)  # of no organisation
    assert store.verify().ok
    tamper(
        store,
        "UPDATE users SET org_id = (SELECT id FROM organisations WHERE name = 'other') "
        "WHERE name = 'alice'",
        "UPDATE users SET org_id = (SELECT id FROM organisations WHERE name = 'default') "
        "WHERE name = 'olga'",
    )
    found = [(b.kind, b.detail) for b in store.verify().breaks]
    assert found == [
        (
            BreakKind.ACCOUNT,
            "account alice is of organisation other but was added to organisation default",
        ),
        (
            BreakKind.ACCOUNT,
            "account olga is of organisation default but was added to organisation other",
        ),
    ]


def test_verify_reads_a_user_add_entry_without_org_as_default(store, people):
    """Entries from before organisations name no org: their accounts are ``default``'s."""
    tamper(
        store,
        'UPDATE audit_log SET payload = \'{"name":"bob","role":"investigator"}\' '
        "WHERE action = 'user_add' AND payload LIKE '%bob%'",
    )
    assert [b.kind for b in store.verify().breaks] == [BreakKind.EDITED]  # the hash, not the org


def test_verify_finds_an_account_reenabled_in_the_file(store, people):
    store.accounts.disable_user("bob", by=people["admin"])
    assert store.verify().ok
    tamper(store, "UPDATE users SET disabled = 0 WHERE name = 'bob'")
    (finding,) = store.verify().breaks
    assert finding.kind is BreakKind.ACCOUNT and "bob is enabled" in finding.detail


def test_an_account_change_and_its_audit_entry_commit_together(store, people, monkeypatch):
    def broken_append(**kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(store.audit, "append", broken_append)
    with pytest.raises(OSError):
        store.accounts.add_user("eve", Role.ADMIN, PW, by=ROOT)
    with pytest.raises(OSError):
        store.accounts.disable_user("bob", by=people["admin"])
    monkeypatch.undo()
    assert [u.name for u in store.accounts.users()] == ["admin", "alice", "audrey", "bob"]
    assert not store.accounts.get_user("bob").disabled
    assert store.verify().ok
