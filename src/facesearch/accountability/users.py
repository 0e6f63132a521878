"""User accounts as stored: the ``User`` record, name rules, and reading an account's row.

An account has a name (1-64 ASCII letters, digits and . _ - @; names ignore case), a role,
an argon2id password hash and an enabled flag. ``Accounts`` (``accounts.py``) changes them;
this module only reads them, for every part of the accounts (logins, tokens, sessions).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime

from facesearch.accountability.db import parse_time
from facesearch.accountability.dialect import name_is
from facesearch.accountability.permissions import Actor, Role
from facesearch.core.text import PLAIN_NAME_RULE, is_plain_name
from facesearch.errors import AuthenticationError, InputError, NotFoundError

__all__ = [
    "USER_COLUMNS",
    "U_COLUMNS",
    "User",
    "check_visible",
    "current_actor",
    "existing_user",
    "is_valid_name",
    "live_user_row",
    "maybe_time",
    "sees_every_account",
    "user_of",
    "user_row",
    "validate_name",
]

_PLAIN = "id, name, role, password_hash, disabled, created_at, org_id, password_temporary"
_ORG_NAME = "(SELECT o.name FROM organisations o WHERE o.id = {t}.org_id) AS org_name"
USER_COLUMNS = _PLAIN + ", " + _ORG_NAME.format(t="users")
# the same columns of a join with ``users u``
U_COLUMNS = ", ".join("u." + c for c in _PLAIN.split(", ")) + ", " + _ORG_NAME.format(t="u")


@dataclass(frozen=True, kw_only=True)
class User(Actor):
    disabled: bool
    created_at: datetime
    # a password someone else set (a new account, a reset in the application): it only lets
    # its user choose their own (``Accounts.login_with_new_password``)
    password_temporary: bool = False


def is_valid_name(name: object) -> bool:
    return is_plain_name(name)


def validate_name(name: str) -> str:
    if not is_valid_name(name):
        raise InputError(f"a user name is {PLAIN_NAME_RULE}")
    return name


def maybe_time(text: str | None) -> datetime | None:
    return None if text is None else parse_time(text)


def user_of(row: sqlite3.Row) -> User:
    """The ``User`` of a row holding ``USER_COLUMNS``."""
    return User(
        name=row["name"],
        role=Role(row["role"]),
        org=row["org_name"],
        disabled=bool(row["disabled"]),
        created_at=parse_time(row["created_at"]),
        password_temporary=bool(row["password_temporary"]),
    )


def user_row(conn: sqlite3.Connection, name: str) -> sqlite3.Row | None:
    row: sqlite3.Row | None = conn.execute(
        f"SELECT {USER_COLUMNS} FROM users WHERE {name_is(conn, 'name')}", (name,)
    ).fetchone()
    return row


# a browser session's row by its digest, with its user (``live_user_row``)
SESSION_USER = (
    "SELECT s.id AS sid, s.csrf_token, s.created_at AS started, s.last_seen, "
    f"{U_COLUMNS} FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.digest = ?"
)


def live_user_row(conn: sqlite3.Connection, query: str, digest: str, refusal: str) -> sqlite3.Row:
    """The row ``query`` finds by a secret's ``digest`` (a join with ``users u`` selecting
    ``U_COLUMNS``); AuthenticationError(``refusal``) if there is none or the user is
    disabled."""
    row: sqlite3.Row | None = conn.execute(query, (digest,)).fetchone()
    if row is None or row["disabled"]:
        raise AuthenticationError(refusal)
    return row


def existing_user(conn: sqlite3.Connection, name: str) -> sqlite3.Row:
    """The row of user ``name``; NotFoundError if there is none."""
    row = user_row(conn, name)
    if row is None:
        raise NotFoundError(f"no user {name}")
    return row


def sees_every_account(actor: Actor) -> bool:
    """The platform operator and the local CLI user see the accounts of every organisation."""
    return actor.is_local or actor.role == Role.OPERATOR


def check_visible(row: sqlite3.Row, actor: Actor) -> sqlite3.Row:
    """``row`` (of ``USER_COLUMNS``) if ``actor`` may see that account; NotFoundError, as for
    an unknown name, if it belongs to another organisation."""
    if sees_every_account(actor) or row["name"].lower() == actor.name.lower():
        return row
    if actor.org is None or row["org_name"] is None or row["org_name"].lower() != actor.org.lower():
        raise NotFoundError(f"no user {row['name']}")
    return row


def current_actor(conn: sqlite3.Connection, by: Actor) -> Actor:
    """The actor as the database knows it now: an account must still exist and be enabled."""
    if by.is_local:
        return by
    row = user_row(conn, by.name)
    if row is None or row["disabled"]:
        raise AuthenticationError(f"account {by.name} is unknown or disabled")
    return user_of(row)
