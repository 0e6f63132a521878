"""app.sessions: the server's way to log in, resolve a session or token, and log out."""

from __future__ import annotations

import pytest
from accountability_helpers import PW

from facesearch.accountability import AccountabilityStore, Action, Role, local_actor
from facesearch.app import sessions
from facesearch.errors import AuthenticationError

LOCAL = local_actor("ops")


def test_a_login_opens_a_session_that_resolves_until_it_is_ended(
    store: AccountabilityStore,
) -> None:
    store.accounts.add_user("ana", Role.INVESTIGATOR, PW, by=LOCAL)
    opened = sessions.login(store, "ana", PW, client="10.0.0.7")
    assert opened.user.name == "ana" and opened.id and opened.csrf
    assert sessions.session(store, opened.id) == opened

    sessions.end_session(store, opened.id)
    with pytest.raises(AuthenticationError):
        sessions.session(store, opened.id)
    logged = [e for e in store.audit.entries(limit=None) if e.actor == "ana"]
    assert [e.action for e in logged] == [Action.LOGIN.value, Action.LOGOUT.value]
    assert logged[0].payload["client"] == "10.0.0.7"


def test_failed_logins_are_throttled_per_client(store: AccountabilityStore) -> None:
    store.accounts.add_user("ana", Role.INVESTIGATOR, PW, by=LOCAL)
    for _ in range(store.accounts.policy.max_failures):
        with pytest.raises(AuthenticationError, match="user name or wrong password"):
            sessions.login(store, "ana", "wrong", client="10.0.0.7")
    with pytest.raises(AuthenticationError, match="try again in"):
        sessions.login(store, "ana", PW, client="10.0.0.7")  # locked, even with the password
    assert sessions.login(store, "ana", PW, client="10.0.0.8").user.name == "ana"


def test_a_token_resolves_to_its_user_until_revoked(store: AccountabilityStore) -> None:
    store.accounts.add_user("ivo", Role.AUDITOR, PW, by=LOCAL)
    token = store.accounts.issue_token("ivo", by=LOCAL)
    assert sessions.token_user(store, token).name == "ivo"
    store.accounts.revoke_tokens("ivo", by=LOCAL)
    with pytest.raises(AuthenticationError):
        sessions.token_user(store, token)
