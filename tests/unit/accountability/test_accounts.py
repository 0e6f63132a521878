"""Accounts: the permission table, users, passwords, throttling, API tokens, sessions."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest
from accountability_helpers import CHEAP, PW, ROOT, T0, FakeClock, raw
from argon2 import PasswordHasher

from facesearch.accountability import (
    PERMISSIONS,
    AccountabilityStore,
    AccountPolicy,
    Action,
    Actor,
    BreakKind,
    Permission,
    Role,
    User,
    can,
    local_actor,
    require,
)
from facesearch.errors import (
    AuthenticationError,
    InputError,
    NotFoundError,
    PermissionDeniedError,
)

# --- roles and permissions --------------------------------------------------------------------


def test_permission_table():
    assert {p for p in Permission if can(Role.AUDITOR, p)} == {Permission.READ_AUDIT}
    assert {p for p in Permission if can(Role.INVESTIGATOR, p)} == {
        Permission.SEARCH,
        Permission.VERIFY,
        Permission.DECIDE,
        Permission.READ_GALLERY,
    }
    admin = {p for p in Permission if can(Role.ADMIN, p)}
    assert {Permission.MANAGE_USERS, Permission.INGEST, Permission.ERASE} <= admin
    assert Permission.MANAGE_SETTINGS in admin and Permission.DECIDE in admin
    assert Permission.SEARCH not in admin and Permission.READ_AUDIT in admin
    assert set(PERMISSIONS) == set(Role)
    assert set().union(*PERMISSIONS.values()) == set(Permission)  # every permission is used
    require(Actor("x", Role.AUDITOR), Permission.READ_AUDIT)
    with pytest.raises(PermissionDeniedError, match="may not erase"):
        require(Actor("x", Role.INVESTIGATOR), Permission.ERASE)


def test_local_actor():
    me = local_actor("jo")
    assert me == Actor("os:jo", Role.ADMIN) and me.is_local
    assert local_actor().name.startswith("os:")


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
        ("os:root", "user_add", {"name": "alice", "role": "investigator"}),
        ("os:root", "user_add", {"name": "admin", "role": "admin"}),
        ("admin", "user_disable", {"name": "alice", "tokens_revoked": 0}),
        ("admin", "user_enable", {"name": "alice"}),
    ]
    assert store.verify().ok


@pytest.mark.parametrize(
    "name", ["", "a" * 65, "bad name", "ünï", "-dash", ".dot", "a:b", "a/b", "x\n", "os:root"]
)
def test_bad_names_are_refused(store: AccountabilityStore, name: str):
    with pytest.raises(InputError, match="user name"):
        store.accounts.add_user(name, Role.ADMIN, PW, by=ROOT)


@pytest.mark.parametrize("name", ["a", "a" * 64, "jane.doe@example.org", "J_1-2"])
def test_good_names_are_accepted(store: AccountabilityStore, name: str):
    assert store.accounts.add_user(name, Role.ADMIN, PW, by=ROOT).name == name


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


def test_policy_sets_minimum_length(tmp_path: Path):
    policy = AccountPolicy(min_password_length=16)
    with (
        AccountabilityStore.open(tmp_path, hasher=CHEAP, policy=policy) as s,
        pytest.raises(InputError, match="at least 16"),
    ):
        s.accounts.add_user("a", Role.ADMIN, "fifteen chars!!", by=ROOT)
    with pytest.raises(InputError):
        AccountPolicy(min_password_length=4)


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


def test_passwords_are_stored_as_argon2id_only(store: AccountabilityStore, people):
    (hashed,) = raw(store, "SELECT password_hash FROM users WHERE name = 'alice'")[0]
    assert str(hashed).startswith("$argon2id$")
    for f in store.path.parent.iterdir():
        assert PW.encode() not in f.read_bytes()


def test_production_hashing_is_memory_hard(tmp_path: Path):
    with AccountabilityStore.open(tmp_path) as s:  # default hasher
        s.accounts.add_user("alice", Role.ADMIN, PW, by=ROOT)
        (hashed,) = raw(s, "SELECT password_hash FROM users")[0]
        assert str(hashed).startswith("$argon2id$v=19$m=65536,")  # 64 MiB


def test_set_password(store: AccountabilityStore, people: dict[str, User]):
    store.accounts.set_password("alice", "a new password", by=people["alice"])
    assert store.accounts.check_password("alice", "a new password").name == "alice"
    with pytest.raises(PermissionDeniedError):
        store.accounts.set_password("bob", "bobs new password", by=people["alice"])
    store.accounts.set_password("bob", "reset by admin", by=people["admin"])
    with pytest.raises(AuthenticationError):
        store.accounts.check_password("bob", PW)


# --- logging in -------------------------------------------------------------------------------


def test_check_password_one_message_for_every_failure(store: AccountabilityStore, people):
    assert store.accounts.check_password("alice", PW, client="10.0.0.1").name == "alice"
    assert store.accounts.check_password("ALICE", PW).name == "alice"
    store.accounts.disable_user("bob", by=people["admin"])
    messages = set()
    for name, password in [("alice", "wrong password"), ("nobody", PW), ("bob", PW)]:
        with pytest.raises(AuthenticationError) as info:
            store.accounts.check_password(name, password)
        messages.add(str(info.value))
    assert len(messages) == 1
    failed = store.audit.entries(action=Action.LOGIN_FAILED)
    assert [(e.actor, e.payload["reason"]) for e in failed] == [
        ("alice", "bad_password"),
        ("nobody", "unknown_name"),
        ("bob", "disabled"),
    ]
    ok = store.audit.entries(action=Action.LOGIN)
    assert ok[0].actor == "alice" and ok[0].payload["client"] == "10.0.0.1"


def test_garbage_logins_are_refused_cleanly(store: AccountabilityStore, people):
    for name, password in [("", PW), ("a b\n", PW), ("x" * 5000, PW), ("alice", "y" * 5000)]:
        with pytest.raises(AuthenticationError):
            store.accounts.check_password(name, password)
    assert store.audit.entries(action=Action.LOGIN_FAILED)[0].actor == "anonymous"


def test_throttling_locks_a_name_even_with_the_right_password(store, people, clock):
    for _ in range(5):
        clock.advance(seconds=10)
        with pytest.raises(AuthenticationError, match="wrong password"):
            store.accounts.check_password("alice", "guess guess guess")
    clock.advance(seconds=10)
    with pytest.raises(AuthenticationError, match=r"too many .* try again in 1 min"):
        store.accounts.check_password("alice", PW)
    assert store.accounts.check_password("bob", PW).name == "bob"  # other names unaffected
    # The failures are in the file: another process sees the lock too.
    with (
        AccountabilityStore.open(store.path.parent, clock=clock, hasher=CHEAP) as other,
        pytest.raises(AuthenticationError, match="too many"),
    ):
        other.accounts.check_password("alice", PW)
    clock.advance(seconds=40)
    with pytest.raises(AuthenticationError, match="too many"):
        store.accounts.check_password("alice", PW)
    clock.advance(seconds=11)  # a minute after the fifth failure (the first lock's length)
    assert store.accounts.check_password("alice", PW).name == "alice"
    reasons = [e.payload["reason"] for e in store.audit.entries(action=Action.LOGIN_FAILED)]
    assert reasons == ["bad_password"] * 5 + ["locked_out"] * 3


def test_throttling_counts_only_recent_failures_and_success_clears(store, people, clock):
    for _ in range(4):
        with pytest.raises(AuthenticationError):
            store.accounts.check_password("alice", "guess guess guess")
    store.accounts.check_password("alice", PW)  # clears the count
    for _ in range(4):
        with pytest.raises(AuthenticationError):
            store.accounts.check_password("alice", "guess guess guess")
    clock.advance(minutes=16)  # these four age out of the window
    with pytest.raises(AuthenticationError, match="wrong password"):
        store.accounts.check_password("alice", "guess guess guess")
    assert store.accounts.check_password("alice", PW).name == "alice"


def test_unknown_names_lock_like_known_ones(store, people):
    for name in ("alice", "nobody"):
        for _ in range(5):
            with pytest.raises(AuthenticationError, match="wrong password"):
                store.accounts.check_password(name, "guess guess guess")
        with pytest.raises(AuthenticationError, match="too many"):
            store.accounts.check_password(name, PW)


def test_outdated_hashes_are_upgraded_on_login(tmp_path: Path):
    with AccountabilityStore.open(tmp_path, hasher=CHEAP) as s:
        s.accounts.add_user("alice", Role.ADMIN, PW, by=ROOT)
    stronger = PasswordHasher(time_cost=2, memory_cost=16, parallelism=1)
    with AccountabilityStore.open(tmp_path, hasher=stronger) as s:
        s.accounts.check_password("alice", PW)
        (hashed,) = raw(s, "SELECT password_hash FROM users")[0]
        assert "m=16,t=2" in str(hashed)


# --- API tokens -------------------------------------------------------------------------------


def test_tokens(store: AccountabilityStore, people: dict[str, User], clock: FakeClock):
    token = store.accounts.issue_token("alice", by=people["alice"])
    assert token.startswith("fs_") and len(token) >= 3 + 43
    assert store.accounts.user_for_token(token).name == "alice"
    stored = raw(store, "SELECT digest, prefix FROM api_tokens")
    assert stored == [(hashlib.sha256(token.encode()).hexdigest(), token[:10])]
    assert token.encode() not in store.path.read_bytes()
    assert [t.prefix for t in store.accounts.tokens("alice")] == [token[:10]]
    (issued,) = store.audit.entries(action=Action.TOKEN_ISSUE)
    assert issued.payload == {"name": "alice", "prefix": token[:10]}
    for bad in ["", "fs_", token + "x", token[:-1], "Bearer " + token, "x" * 500]:
        with pytest.raises(AuthenticationError):
            store.accounts.user_for_token(bad)


def test_tokens_stop_when_revoked_or_disabled(store, people):
    token = store.accounts.issue_token("alice", by=people["admin"])
    assert store.accounts.revoke_tokens("alice", by=people["alice"]) == 1
    with pytest.raises(AuthenticationError):
        store.accounts.user_for_token(token)
    assert store.accounts.tokens("alice")[0].revoked_at is not None
    with pytest.raises(PermissionDeniedError):
        store.accounts.issue_token("bob", by=people["alice"])
    with pytest.raises(PermissionDeniedError):
        store.accounts.revoke_tokens("bob", by=people["alice"])


# --- sessions ---------------------------------------------------------------------------------


def test_sessions(store: AccountabilityStore, people: dict[str, User], clock: FakeClock):
    sid, csrf = store.accounts.create_session("alice")
    user, csrf2 = store.accounts.session_user(sid)
    assert user.name == "alice" and csrf2 == csrf and sid != csrf
    assert raw(store, "SELECT digest FROM sessions") == [
        (hashlib.sha256(sid.encode()).hexdigest(),)
    ]
    assert sid.encode() not in store.path.read_bytes()
    store.accounts.end_session(sid)
    with pytest.raises(AuthenticationError):
        store.accounts.session_user(sid)
    assert store.audit.entries(action=Action.LOGOUT)[0].actor == "alice"
    store.accounts.end_session(sid)  # twice is fine
    with pytest.raises(AuthenticationError):
        store.accounts.session_user("made-up")
    with pytest.raises(AuthenticationError):
        store.accounts.create_session("nobody")


def test_sessions_end_when_idle(store, people, clock):
    sid, _ = store.accounts.create_session("alice")
    clock.advance(minutes=29)
    store.accounts.session_user(sid)
    clock.advance(minutes=29)  # 58 minutes in, used 29 minutes ago
    store.accounts.session_user(sid)
    clock.advance(minutes=31)
    with pytest.raises(AuthenticationError):
        store.accounts.session_user(sid)
    assert raw(store, "SELECT COUNT(*) FROM sessions") == [(0,)]  # the expired one is gone


def test_sessions_end_after_their_lifetime(store, people, clock):
    sid, _ = store.accounts.create_session("alice")
    for _ in range(12 * 3):
        clock.advance(minutes=20)
        store.accounts.session_user(sid)  # busy all day: 12 hours
    clock.advance(minutes=1)
    with pytest.raises(AuthenticationError):
        store.accounts.session_user(sid)


def test_disabling_or_new_password_ends_sessions(store, people):
    sid, _ = store.accounts.create_session("alice")
    store.accounts.disable_user("alice", by=people["admin"])
    store.accounts.enable_user("alice", by=people["admin"])
    with pytest.raises(AuthenticationError):
        store.accounts.session_user(sid)
    sid, _ = store.accounts.create_session("alice")
    store.accounts.set_password("alice", "another password", by=people["alice"])
    with pytest.raises(AuthenticationError):
        store.accounts.session_user(sid)


# --- accounts against the trail ---------------------------------------------------------------


def test_verify_finds_accounts_edited_in_the_file(store, people):
    assert store.verify().ok
    conn = sqlite3.connect(store.path)
    conn.execute(
        "INSERT INTO users (name, role, password_hash, disabled, created_at) "
        "VALUES ('eve', 'admin', 'x', 0, '2025-01-01T00:00:00.000000+00:00')"
    )
    conn.execute("UPDATE users SET role = 'admin' WHERE name = 'alice'")
    conn.commit()
    conn.close()
    found = [(b.kind, b.detail) for b in store.verify().breaks]
    assert (BreakKind.ACCOUNT, "account eve has no user_add entry") in found
    assert (BreakKind.ACCOUNT, "account alice is admin but was added as investigator") in found
    assert len(found) == 2


def test_verify_finds_an_account_reenabled_in_the_file(store, people):
    store.accounts.disable_user("bob", by=people["admin"])
    assert store.verify().ok
    conn = sqlite3.connect(store.path)
    conn.execute("UPDATE users SET disabled = 0 WHERE name = 'bob'")
    conn.commit()
    conn.close()
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
