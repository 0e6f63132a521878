"""``Accounts``: the user accounts of a home, and every change to them.

One object with the methods the CLI and the server call (``store.accounts``), written in parts
by concern:

- users (here): add, disable, enable, set a password, list;
- roles and permissions: ``permissions.py``; the ``User`` record and name rules: ``users.py``;
- password hashing and strength rules: ``passwords.py``; the limits: ``policy.py``;
- logging in and the lockouts after failed logins: ``logins.py``;
- API tokens: ``tokens.py``; browser sessions: ``sessions.py``.

Every change to an account is written to the audit trail in the same transaction, and
``check_accounts_against_trail`` finds accounts the trail does not explain.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import replace
from typing import Any

from argon2 import PasswordHasher

from facesearch.accountability.audit import PLATFORM_ORG, AuditTrail
from facesearch.accountability.audit_entries import Action
from facesearch.accountability.audit_report import BreakKind, ChainBreak
from facesearch.accountability.db import Database, format_time
from facesearch.accountability.dialect import by_name, json_text, name_is
from facesearch.accountability.logins import LoginMixin
from facesearch.accountability.passwords import Passwords
from facesearch.accountability.permissions import (
    DEFAULT_ORG,
    Actor,
    Permission,
    Role,
    require,
)
from facesearch.accountability.policy import AccountPolicy
from facesearch.accountability.sessions import SessionMixin, end_sessions_of
from facesearch.accountability.tokens import TokenMixin, revoke_all
from facesearch.accountability.users import (
    USER_COLUMNS,
    User,
    check_visible,
    current_actor,
    existing_user,
    sees_every_account,
    user_of,
    user_row,
    validate_name,
)
from facesearch.errors import InputError, NotFoundError, PermissionDeniedError

__all__ = ["Accounts", "check_accounts_against_trail"]


class Accounts(LoginMixin, TokenMixin, SessionMixin):
    """The accounts of one home: users, logins, API tokens and browser sessions."""

    def __init__(
        self, db: Database, audit: AuditTrail, policy: AccountPolicy, hasher: PasswordHasher
    ) -> None:
        self._db = db
        self._audit = audit
        self.policy = policy
        self._passwords = Passwords(policy, hasher)
        self._start_token_uses()

    def login(
        self, name: str, password: str, *, client: str | None = None
    ) -> tuple[User, str, str]:
        """``check_password``, and a new browser session: (user, session id, CSRF token).

        The session is opened in the transaction that records the login, once the password
        just checked is still the account's: a login whose check overlapped a new password
        (an admin cutting off a stolen account) fails instead of opening a session that
        outlives it.
        """
        user, opened = self._check_password(name, password, client, self._open_session)
        assert opened is not None
        session_id, csrf = self._after_open(opened)
        return user, session_id, csrf

    def has_users(self) -> bool:
        with self._db.read() as conn:
            return bool(conn.execute("SELECT EXISTS (SELECT 1 FROM users)").fetchone()[0])

    def get_user(self, name: str, *, seen_by: Actor | None = None) -> User:
        """Account ``name``; NotFoundError if there is none, or (``seen_by``) if it belongs
        to an organisation that actor does not see."""
        with self._db.read() as conn:
            row = existing_user(conn, name)
            if seen_by is not None:
                check_visible(row, seen_by)
            return user_of(row)

    def users(self, org: str | None = None) -> list[User]:
        """Every account (``org``: that organisation's), by name."""
        with self._db.read() as conn:
            order = by_name(conn, "name")
            rows = conn.execute(f"SELECT {USER_COLUMNS} FROM users ORDER BY {order}").fetchall()
        found = [user_of(row) for row in rows]
        if org is None:
            return found
        return [u for u in found if u.org is not None and u.org.lower() == org.lower()]

    def add_user(
        self,
        name: str,
        role: Role | str,
        password: str,
        *,
        by: Actor,
        org: str | None = DEFAULT_ORG,
    ) -> User:
        """A new account of organisation ``org`` (None: an operator, of none). An admin adds
        accounts to their own organisation; the operator and the local CLI user to any."""
        validate_name(name)
        try:
            role = Role(role)
        except ValueError as exc:
            raise InputError(f"role must be one of {', '.join(r.value for r in Role)}") from exc
        if (role == Role.OPERATOR) != (org is None):
            raise InputError("an operator belongs to no organisation; every other role to one")
        hashed = self._passwords.hash_new(name, password)
        with self._db.write() as conn:
            actor = current_actor(conn, by)
            require(actor, Permission.MANAGE_USERS)
            org_row = None if org is None else _org_row(conn, org)
            own = org_row is not None and actor.org == org_row["name"]
            if not sees_every_account(actor) and not own:
                raise NotFoundError(f"no organisation {org}")
            if role == Role.OPERATOR and not actor.is_local and actor.role != Role.OPERATOR:
                raise PermissionDeniedError("only an operator adds operators")
            if user_row(conn, name) is not None:
                raise InputError(f"user {name} exists already (names ignore case)")
            one_time = set_for_another(actor, name)
            conn.execute(
                "INSERT INTO users (name, role, password_hash, disabled, created_at, org_id, "
                "password_temporary) VALUES (?, ?, ?, 0, ?, ?, ?)",
                (
                    name,
                    role.value,
                    hashed,
                    format_time(self._db.now()),
                    None if org_row is None else org_row["id"],
                    int(one_time),
                ),
            )
            org_name = None if org_row is None else org_row["name"]
            self._audit.append(
                actor=actor.name,
                action=Action.USER_ADD,
                payload={
                    "name": name,
                    "role": role.value,
                    "org": org_name,
                    "one_time_password": one_time,
                },
                org=org_name or PLATFORM_ORG,
            )
        return self.get_user(name)

    def disable_user(self, name: str, *, by: Actor) -> User:
        """Disable an account: its sessions end and its tokens are revoked (for good: enabling
        it again revives none)."""
        with self._db.write() as conn:
            actor = current_actor(conn, by)
            require(actor, Permission.MANAGE_USERS)
            row = check_visible(existing_user(conn, name), actor)
            if not row["disabled"]:
                if row["role"] == Role.ADMIN.value and _enabled_admins(conn, row["org_id"]) == 1:
                    raise InputError(f"{row['name']} is the last enabled admin")
                conn.execute("UPDATE users SET disabled = 1 WHERE id = ?", (row["id"],))
                self._cut_off(conn, row, actor, Action.USER_DISABLE)
            user = user_of(existing_user(conn, name))
        self._db.vacuum("sessions")  # the sessions _cut_off ended
        return user

    def enable_user(self, name: str, *, by: Actor) -> User:
        with self._db.write() as conn:
            actor = current_actor(conn, by)
            require(actor, Permission.MANAGE_USERS)
            row = check_visible(existing_user(conn, name), actor)
            if row["disabled"]:
                conn.execute("UPDATE users SET disabled = 0 WHERE id = ?", (row["id"],))
                self._audit.append(
                    actor=actor.name,
                    action=Action.USER_ENABLE,
                    payload={"name": row["name"]},
                    org=row["org_name"] or PLATFORM_ORG,
                )
            return user_of(existing_user(conn, name))

    def set_password(self, name: str, password: str, *, by: Actor) -> bool:
        """Set a new password (yourself, or anyone's as an admin); ends the user's sessions
        and revokes their API tokens. One an admin or operator sets for someone else in the
        application is a one-time password (``set_for_another``); whether this one is."""
        hashed = self._passwords.hash_new(name, password)
        with self._db.write() as conn:
            actor = current_actor(conn, by)
            row = check_visible(existing_user(conn, name), actor)
            if actor.name != row["name"]:
                require(actor, Permission.MANAGE_USERS)
            one_time = set_for_another(actor, row["name"])
            conn.execute(
                "UPDATE users SET password_hash = ?, password_temporary = ? WHERE id = ?",
                (hashed, int(one_time), row["id"]),
            )
            self._cut_off(conn, row, actor, Action.PASSWORD_SET, one_time=one_time)
        self._db.vacuum("sessions")
        return one_time

    def login_with_new_password(
        self, name: str, password: str, new_password: str, *, client: str | None = None
    ) -> tuple[User, str, str]:
        """``login`` that replaces the password first: how a one-time password is used (the
        only way it opens a session), and open to any password. ``new_password`` must pass the
        password rules and differ from ``password``; it is the user's own (not one-time), and,
        as any new password does, it ends the user's other sessions and revokes their API
        tokens. Logged as the login, then a ``password_set`` by the user."""
        if new_password == password:
            raise InputError("choose a new password: not the one you were given")
        hashed = self._passwords.hash_new(name, new_password)

        def replace_then_open(conn: sqlite3.Connection, row: sqlite3.Row) -> tuple[str, str, int]:
            conn.execute(
                "UPDATE users SET password_hash = ?, password_temporary = 0 WHERE id = ?",
                (hashed, row["id"]),
            )
            self._cut_off(conn, row, user_of(row), Action.PASSWORD_SET, one_time=False)
            return self._open_session(conn, row)

        user, opened = self._check_password(
            name, password, client, replace_then_open, one_time_ok=True
        )
        assert opened is not None
        session_id, csrf = self._after_open(opened)
        return replace(user, password_temporary=False), session_id, csrf

    def _cut_off(
        self,
        conn: sqlite3.Connection,
        row: sqlite3.Row,
        actor: Actor,
        why: Action,
        *,
        one_time: bool | None = None,
    ) -> None:
        """End every session of the user of ``row``, revoke their tokens, and log ``why``
        (with ``one_time``: whether the new password is a one-time one)."""
        end_sessions_of(conn, row["id"])
        revoked = revoke_all(conn, row["id"], self._db.now())
        payload: dict[str, object] = {"name": row["name"], "tokens_revoked": revoked}
        if one_time is not None:
            payload["one_time_password"] = one_time
        self._audit.append(
            actor=actor.name,
            action=why,
            payload=payload,
            org=row["org_name"] or PLATFORM_ORG,
        )


def set_for_another(actor: Actor, name: str) -> bool:
    """Whether a password ``actor`` sets for user ``name`` is a one-time one: set by someone
    else in the application (an admin, an operator), who would otherwise know it and could
    act as that user. The host's CLI (a local actor, who can read the home anyway) sets
    ordinary passwords, as it may issue anyone's API token."""
    return actor.name.lower() != name.lower() and not actor.is_local


def _org_row(conn: sqlite3.Connection, org: str) -> sqlite3.Row:
    row: sqlite3.Row | None = conn.execute(
        f"SELECT id, name FROM organisations WHERE {name_is(conn, 'name')}", (org,)
    ).fetchone()
    if row is None:
        raise NotFoundError(f"no organisation {org}")
    return row


def _enabled_admins(conn: sqlite3.Connection, org_id: int) -> int:
    return int(
        conn.execute(
            "SELECT COUNT(*) FROM users WHERE role = ? AND disabled = 0 AND org_id = ?",
            (Role.ADMIN.value, org_id),
        ).fetchone()[0]
    )


def check_accounts_against_trail(conn: sqlite3.Connection) -> list[ChainBreak]:
    """Accounts whose existence, role or enabled state the audit trail does not explain.

    Catches an account added, promoted, moved to another organisation (its ``user_add`` entry
    names the organisation; one without ``org``, from before organisations, ``default``) or
    re-enabled by editing the file directly. (A password
    hash swapped in the file is not caught: the trail never holds hashes.)
    """
    found: list[ChainBreak] = []
    named = name_is(conn, "u.name", json_text(conn, "a.payload", "name"))
    rows = conn.execute(
        f"""SELECT u.name, u.role, u.disabled,
                  (SELECT o.name FROM organisations o WHERE o.id = u.org_id) AS org_name,
                  (SELECT a.seq FROM audit_log a
                    WHERE a.action = 'user_add' AND {named}
                    ORDER BY a.seq DESC LIMIT 1) AS add_seq,
                  (SELECT a.payload FROM audit_log a
                    WHERE a.action = 'user_add' AND {named}
                    ORDER BY a.seq DESC LIMIT 1) AS add_payload,
                  (SELECT a.action FROM audit_log a
                    WHERE a.action IN ('user_add', 'user_disable', 'user_enable')
                      AND {named}
                    ORDER BY a.seq DESC LIMIT 1) AS last_state
             FROM users u ORDER BY {by_name(conn, "u.name")}"""
    )
    for row in rows:
        name, seq = row["name"], row["add_seq"]
        if seq is None:
            found.append(
                ChainBreak(BreakKind.ACCOUNT, None, None, f"account {name} has no user_add entry")
            )
            continue
        logged = _add_payload(row["add_payload"])
        if logged.get("role") != row["role"]:
            found.append(
                ChainBreak(
                    BreakKind.ACCOUNT,
                    seq,
                    seq,
                    f"account {name} is {row['role']} but was added as {logged.get('role')}",
                )
            )
        added_to = logged.get("org", DEFAULT_ORG)  # entries before organisations: default
        if _org_key(added_to) != _org_key(row["org_name"]):
            found.append(
                ChainBreak(
                    BreakKind.ACCOUNT,
                    seq,
                    seq,
                    f"account {name} is of {_org_words(row['org_name'])} "
                    f"but was added to {_org_words(added_to)}",
                )
            )
        logged_disabled = row["last_state"] == Action.USER_DISABLE.value
        if logged_disabled != bool(row["disabled"]):
            state = "disabled" if row["disabled"] else "enabled"
            found.append(
                ChainBreak(
                    BreakKind.ACCOUNT,
                    seq,
                    seq,
                    f"account {name} is {state}, which the trail does not record",
                )
            )
    return found


def _add_payload(text: str | None) -> dict[str, Any]:
    try:
        payload = json.loads(text or "{}")
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}


def _org_key(org: object) -> str | None:
    return None if org is None else str(org).lower()


def _org_words(org: object) -> str:
    return "no organisation" if org is None else f"organisation {org}"
