"""A password that someone else set in the application (an admin's reset, a new account made
by an admin) is one-time: it opens no session, only the form where its user chooses their own.
Before, an admin could set an investigator's password and work as them, every search in the
trail under the investigator's name."""

from __future__ import annotations

import pytest
from accountability_helpers import PW, ROOT

from facesearch.accountability import AccountabilityStore, Action, Role, User
from facesearch.errors import AuthenticationError, InputError, PasswordChangeRequiredError

GIVEN = "handed over at the front desk"
MINE = "only alice knows this passphrase"


def test_a_password_an_admin_sets_only_lets_its_user_choose_their_own(
    store: AccountabilityStore, people: dict[str, User]
) -> None:
    store.accounts.set_password("alice", GIVEN, by=people["admin"])
    assert store.accounts.get_user("alice").password_temporary
    with pytest.raises(PasswordChangeRequiredError, match="set by an administrator"):
        store.accounts.login("alice", GIVEN, client="10.0.0.9")
    with pytest.raises(PasswordChangeRequiredError):
        store.accounts.check_password("alice", GIVEN)
    # right each time: trying it more often than the lockout allows locks nothing
    for _ in range(store.accounts.policy.max_failures + 2):
        with pytest.raises(PasswordChangeRequiredError):
            store.accounts.login("alice", GIVEN, client="10.0.0.9")
    refused = store.audit.entries(action=Action.LOGIN_FAILED)
    assert {e.payload["reason"] for e in refused} == {"password_change_required"}
    assert store.audit.entries(action=Action.LOGIN) == []  # no session was opened

    user, session_id, _ = store.accounts.login_with_new_password(
        "alice", GIVEN, MINE, client="10.0.0.9"
    )
    assert user.name == "alice" and not user.password_temporary
    assert store.accounts.session_user(session_id)[0].name == "alice"
    assert not store.accounts.get_user("alice").password_temporary
    with pytest.raises(AuthenticationError) as given_again:
        store.accounts.login("alice", GIVEN, client="10.0.0.9")
    assert not isinstance(given_again.value, PasswordChangeRequiredError)  # just wrong now
    assert store.accounts.login("alice", MINE, client="10.0.0.9")[0].name == "alice"
    sets = [(e.actor, e.payload) for e in store.audit.entries(action=Action.PASSWORD_SET)]
    assert sets == [
        ("admin", {"name": "alice", "tokens_revoked": 0, "one_time_password": True}),
        ("alice", {"name": "alice", "tokens_revoked": 0, "one_time_password": False}),
    ]


def test_the_new_password_must_be_new_and_follow_the_rules(
    store: AccountabilityStore, people: dict[str, User]
) -> None:
    store.accounts.set_password("alice", GIVEN, by=people["admin"])
    with pytest.raises(InputError, match="not the one you were given"):
        store.accounts.login_with_new_password("alice", GIVEN, GIVEN)
    with pytest.raises(InputError):
        store.accounts.login_with_new_password("alice", GIVEN, "short")
    with pytest.raises(AuthenticationError, match="wrong password"):
        store.accounts.login_with_new_password("alice", "not what was given", MINE)
    # none of that changed it: still the one-time password
    with pytest.raises(PasswordChangeRequiredError):
        store.accounts.check_password("alice", GIVEN)


def test_own_and_host_passwords_are_ordinary_and_admins_new_accounts_one_time(
    store: AccountabilityStore, people: dict[str, User]
) -> None:
    store.accounts.set_password("alice", MINE, by=people["alice"])
    assert store.accounts.check_password("alice", MINE).name == "alice"
    store.accounts.set_password("bob", GIVEN, by=ROOT)  # the host's CLI: reads the home anyway
    assert store.accounts.check_password("bob", GIVEN).name == "bob"
    made = store.accounts.add_user("carol", Role.INVESTIGATOR, PW, by=people["admin"])
    assert made.password_temporary
    with pytest.raises(PasswordChangeRequiredError):
        store.accounts.check_password("carol", PW)
    added = store.audit.entries(action=Action.USER_ADD)[-1]
    assert added.actor == "admin" and added.payload["one_time_password"] is True
    assert not store.accounts.add_user("dave", Role.AUDITOR, PW, by=ROOT).password_temporary


def test_a_one_time_password_set_while_a_login_was_checked_opens_nothing(
    store: AccountabilityStore, people: dict[str, User]
) -> None:
    """A reset by the admin ends the user's sessions, as any new password does, and the
    sessions opened before it stay ended."""
    _, before, _ = store.accounts.login("alice", PW, client="10.0.0.9")
    store.accounts.set_password("alice", GIVEN, by=people["admin"])
    with pytest.raises(AuthenticationError):
        store.accounts.session_user(before)
