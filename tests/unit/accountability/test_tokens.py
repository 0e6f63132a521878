"""API tokens: issued once, stored as digests, expiring, revoked, their last use noted."""

from __future__ import annotations

import hashlib
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from accountability_helpers import CHEAP, PW, ROOT, T0, FakeClock, raw, stored_bytes

from facesearch.accountability import (
    AccountabilityStore,
    AccountPolicy,
    Action,
    Role,
    User,
)
from facesearch.accountability.db import FILENAME
from facesearch.accountability.schema import MIGRATIONS
from facesearch.errors import (
    AuthenticationError,
    PermissionDeniedError,
)

# --- API tokens -------------------------------------------------------------------------------


def test_tokens(store: AccountabilityStore, people: dict[str, User], clock: FakeClock):
    token = store.accounts.issue_token("alice", by=people["alice"])
    assert token.startswith("fs_") and len(token) >= 3 + 43
    assert store.accounts.user_for_token(token).name == "alice"
    stored = raw(store, "SELECT digest, prefix FROM api_tokens")
    assert stored == [(hashlib.sha256(token.encode()).hexdigest(), token[:10])]
    assert token.encode() not in stored_bytes(store, "api_tokens")
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
    assert last.payload == {"name": "alice", "tokens_revoked": 1, "one_time_password": True}


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
    MIGRATIONS[0](conn)
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    with AccountabilityStore.open(tmp_path, clock=clock, hasher=CHEAP) as s:
        s.accounts.add_user("alice", Role.INVESTIGATOR, PW, by=ROOT)
        token = s.accounts.issue_token("alice", by=ROOT)
        with s.db.write() as c:
            c.execute("UPDATE api_tokens SET expires_at = NULL")  # as issued by version 1
        clock.advance(days=89)
        assert s.accounts.user_for_token(token).name == "alice"
        assert s.accounts.tokens("alice")[0].expires_at == T0 + timedelta(days=90)
        clock.advance(days=2)
        with pytest.raises(AuthenticationError):
            s.accounts.user_for_token(token)


def test_token_use_is_not_written_in_the_request_path(store, people, clock):
    """A use after the first is noted in memory and written later with the others: no request
    waits for it."""
    token = store.accounts.issue_token("alice", by=people["alice"])
    store.accounts.user_for_token(token)  # the first use: written at once
    first = T0.isoformat(timespec="microseconds")
    assert raw(store, "SELECT last_used_at FROM api_tokens") == [(first,)]
    clock.advance(seconds=65)
    store.accounts.user_for_token(token)
    assert raw(store, "SELECT last_used_at FROM api_tokens") == [(first,)]
    clock.advance(seconds=61)  # a minute later the next use writes both (the later one)
    store.accounts.user_for_token(token)
    (stored,) = raw(store, "SELECT last_used_at FROM api_tokens")[0]
    assert stored == (T0 + timedelta(seconds=126)).isoformat(timespec="microseconds")


def test_a_tokens_first_use_is_written_at_once_for_another_process_to_list(
    tmp_path: Path, clock: FakeClock
):
    """``users token alice``, 4 API searches, then ``users tokens alice`` within a minute said
    "last used never": the uses stayed in the server's memory for a minute."""
    with AccountabilityStore.open(tmp_path, clock=clock, hasher=CHEAP) as server:
        server.accounts.add_user("alice", Role.INVESTIGATOR, PW, by=ROOT)
        token = server.accounts.issue_token("alice", by=ROOT)
        for _ in range(4):
            clock.advance(seconds=2)
            server.accounts.user_for_token(token)
        with AccountabilityStore.open(tmp_path, clock=clock, hasher=CHEAP) as cli:
            (listed,) = cli.accounts.tokens("alice")
            assert listed.last_used_at == T0 + timedelta(seconds=2)  # the first, not never


def test_token_uses_are_written_when_the_store_closes(tmp_path: Path, clock: FakeClock):
    with AccountabilityStore.open(tmp_path, clock=clock, hasher=CHEAP) as s:
        s.accounts.add_user("alice", Role.INVESTIGATOR, PW, by=ROOT)
        token = s.accounts.issue_token("alice", by=ROOT)
        s.accounts.user_for_token(token)
    with AccountabilityStore.open(tmp_path, clock=clock, hasher=CHEAP) as s:
        assert s.accounts.tokens("alice")[0].last_used_at == T0
