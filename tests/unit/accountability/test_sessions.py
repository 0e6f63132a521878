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


def test_a_short_idle_time_counts_from_the_last_use(tmp_path, clock):
    """last_seen was refreshed once a minute at most: with a 1-minute idle time a session
    used 30 s before (at 40 s) ended at 70 s."""
    from datetime import timedelta

    from accountability_helpers import CHEAP, PW, ROOT

    from facesearch.accountability import AccountPolicy, Role

    policy = AccountPolicy(session_idle=timedelta(minutes=1))
    with AccountabilityStore.open(tmp_path, clock=clock, hasher=CHEAP, policy=policy) as s:
        s.accounts.add_user("alice", Role.INVESTIGATOR, PW, by=ROOT)
        sid, _ = s.accounts.create_session("alice")
        clock.advance(seconds=40)
        s.accounts.session_user(sid)
        clock.advance(seconds=30)
        assert s.accounts.session_user(sid)[0].name == "alice"
        clock.advance(seconds=61)
        with pytest.raises(AuthenticationError):
            s.accounts.session_user(sid)


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


# --- a new password while a login or a token request is under way -------------------------------


def test_a_login_checked_while_the_password_changed_opens_no_session(
    store: AccountabilityStore, people: dict[str, User], monkeypatch: pytest.MonkeyPatch
):
    """The hash was read in one transaction, checked outside it, and the session opened in a
    third: an admin's new password committed meanwhile (cutting off a stolen account), and
    the login with the old password still got a session that outlived it (11 of 14 tries
    against the server)."""
    from accountability_helpers import PW, ROOT

    passwords = store.accounts._passwords
    checked = passwords.verify

    def reset_while_checking(stored: str, password: str) -> bool:
        store.accounts.set_password("alice", PW + " renewed", by=ROOT)
        return checked(stored, password)

    monkeypatch.setattr(passwords, "verify", reset_while_checking)
    from facesearch.app.sessions import login

    with pytest.raises(AuthenticationError):
        login(store, "alice", PW, client="203.0.113.9")
    assert raw(store, "SELECT count(*) FROM sessions") == [(0,)]
    failed = store.audit.entries(action=Action.LOGIN_FAILED)[-1]
    assert failed.payload["reason"] == "changed_meanwhile"


def test_a_token_asked_for_by_a_session_ended_meanwhile_is_not_issued(
    store: AccountabilityStore, people: dict[str, User]
):
    """The middleware let the request in, a new password ended the session, then the token
    was written: a token that outlived the reset meant to revoke everything."""
    from accountability_helpers import PW, ROOT

    sid, _ = store.accounts.create_session("alice")
    token = store.accounts.issue_token("alice", by=people["alice"], presented=sid)
    store.accounts.set_password("alice", PW + " renewed", by=ROOT)  # ends sid, revokes token
    for stale in (sid, token):
        with pytest.raises(AuthenticationError, match="has ended"):
            store.accounts.issue_token("alice", by=people["alice"], presented=stale)
    assert all(t.state == "revoked" for t in store.accounts.tokens("alice"))


def test_failed_logins_are_logged_under_the_account_s_own_name(
    store: AccountabilityStore, people: dict[str, User]
):
    """A failure was logged under the name as typed ("ALICE"), so the account's failures
    were split by letter case in the trail."""
    for typed in ("ALICE", "Alice"):
        with pytest.raises(AuthenticationError):
            store.accounts.check_password(typed, "wrong password", client="203.0.113.9")
    failed = store.audit.entries(action=Action.LOGIN_FAILED)
    assert [e.actor for e in failed[-2:]] == ["alice", "alice"]
