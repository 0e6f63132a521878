"""Browser sessions: created at login, ended by logout, idleness, age, a new password or a disabled
account."""

from __future__ import annotations

import hashlib

import pytest
from accountability_helpers import FakeClock, raw, stored_bytes

from facesearch.accountability import (
    AccountabilityStore,
    Action,
    User,
)
from facesearch.errors import (
    AuthenticationError,
)

# --- sessions ---------------------------------------------------------------------------------


def test_sessions(store: AccountabilityStore, people: dict[str, User], clock: FakeClock):
    sid, csrf = store.accounts.create_session("alice")
    user, csrf2 = store.accounts.session_user(sid)
    assert user.name == "alice" and csrf2 == csrf and sid != csrf
    assert raw(store, "SELECT digest FROM sessions") == [
        (hashlib.sha256(sid.encode()).hexdigest(),)
    ]
    assert sid.encode() not in stored_bytes(store, "sessions")
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
