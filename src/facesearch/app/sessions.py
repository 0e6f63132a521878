"""Who is behind a request: a password login, a browser session, an API token.

The server's authentication goes through these four functions and never reaches the
accounts store itself. They are thin: the accounts layer does the work and logs it.

- ``login``: checks a name and password (argon2id, throttled: failures count per name and
  client address, and lock the name for that client, or for every client, for a while; each
  attempt is an audit entry) and opens a browser session for the user. A password an admin
  set for someone (a new account, a reset) is one-time: ``login`` refuses it with
  ``PasswordChangeRequiredError`` and ``login_with_new_password`` replaces it with the user's
  own as it opens the session.
- ``session``: the user and CSRF token of a live session (AuthenticationError when it is
  unknown, expired or its user disabled); ``end_session``: log out (logged).
- ``token_user``: the user behind an API token (AuthenticationError when unknown, revoked or
  expired).
"""

from __future__ import annotations

from dataclasses import dataclass

from facesearch.accountability import AccountabilityStore, User

__all__ = ["Session", "end_session", "login", "login_with_new_password", "session", "token_user"]


@dataclass(frozen=True)
class Session:
    """A live browser session. ``id`` and ``csrf`` are shown once, at login."""

    user: User
    id: str
    csrf: str


def login(store: AccountabilityStore, name: str, password: str, *, client: str) -> Session:
    """A new session for ``name`` when ``password`` is theirs; AuthenticationError (one
    message for every failure, or the lockout's) otherwise. ``client``: the address the
    attempt came from, for the throttling and the audit entry."""
    user, session_id, csrf = store.accounts.login(name, password, client=client)
    return Session(user, session_id, csrf)


def login_with_new_password(
    store: AccountabilityStore, name: str, password: str, new_password: str, *, client: str
) -> Session:
    """``login`` that sets ``new_password`` (the user's own) first: the only way a one-time
    password (one an admin set: ``PasswordChangeRequiredError`` from ``login``) opens a
    session. InputError when the new password breaks the rules or is the old one."""
    user, session_id, csrf = store.accounts.login_with_new_password(
        name, password, new_password, client=client
    )
    return Session(user, session_id, csrf)


def session(store: AccountabilityStore, session_id: str) -> Session:
    """The live session ``session_id``; AuthenticationError if unknown or expired."""
    user, csrf = store.accounts.session_user(session_id)
    return Session(user, session_id, csrf)


def end_session(store: AccountabilityStore, session_id: str) -> None:
    """Log out of session ``session_id`` (unknown ids are ignored)."""
    store.accounts.end_session(session_id)


def token_user(store: AccountabilityStore, token: str) -> User:
    """The user behind API token ``token``; AuthenticationError if it is not a live one."""
    return store.accounts.user_for_token(token)
