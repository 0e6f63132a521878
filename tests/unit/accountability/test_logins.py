"""Logging in: one answer for every failure, hashes upgraded, and the lockouts after failed logins
(per name and address with back-off, a ceiling per name, admins told)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from accountability_helpers import CHEAP, PW, ROOT, T0, FakeClock, raw
from argon2 import PasswordHasher

from facesearch.accountability import (
    AccountabilityStore,
    AccountPolicy,
    Action,
    Role,
)
from facesearch.errors import AuthenticationError, InputError

WRONG = "not the password at all"


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
    with store.db.write() as conn:
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
        AccountabilityStore.open(
            store.path.parent, clock=clock, hasher=CHEAP, database_url=store.db.url
        ) as other,
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
