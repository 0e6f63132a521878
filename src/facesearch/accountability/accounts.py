"""User accounts: roles and permissions, passwords, login throttling, API tokens, sessions.

Roles and what they may do are written down once, in ``PERMISSIONS``; ``can(role,
permission)`` and ``require(actor, permission)`` read it and nothing else decides.

Passwords are hashed with argon2id (argon2-cffi's ``PasswordHasher``; its defaults are RFC 9106's
low-memory profile, 64 MiB). ``check_password`` answers every failure (unknown name, wrong
password, disabled account) with the same message and about the same delay. Each attempt is
recorded as a failure *before* the password is checked and cleared on success, so parallel
guesses count too; ``max_failures`` of them within ``failure_window`` lock the name (known or
not) for ``lockout``, even against the right password.

API tokens (``fs_`` + 43 urlsafe characters, 256 random bits) and browser session ids are shown
once and stored only as SHA-256 digests: they are random, so a fast hash is enough.

Every change to an account is written to the audit trail in the same transaction.

Actors: a function acting on someone's behalf takes ``by: Actor``. A ``User`` comes from
``check_password``, ``user_for_token`` or ``session_user``; its account is re-read (enabled?
which role now?) at the moment it acts. ``local_actor()`` is the person at the CLI of a home
(``os:<login>``): whoever can run the CLI can read the file anyway, so it acts as an admin.
"""

from __future__ import annotations

import getpass
import hashlib
import os
import re
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from facesearch.accountability.audit import Action, AuditTrail
from facesearch.accountability.chain import BreakKind, ChainBreak
from facesearch.accountability.db import Database, format_time, parse_time
from facesearch.errors import (
    AuthenticationError,
    InputError,
    NotFoundError,
    PermissionDeniedError,
)

__all__ = [
    "PERMISSIONS",
    "AccountPolicy",
    "Accounts",
    "Actor",
    "Permission",
    "Role",
    "TokenInfo",
    "User",
    "can",
    "local_actor",
    "require",
]

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024
LOCAL_PREFIX = "os:"
TOKEN_PREFIX = "fs_"
TOKEN_BYTES = 32
TOKEN_DISPLAY_CHARS = 10  # "fs_" and 7 more: enough to tell tokens apart in a list
SESSION_TOUCH_INTERVAL = timedelta(seconds=60)  # last_seen is refreshed at most this often

BAD_LOGIN = "unknown user name or wrong password"
LOCKED_OUT = "too many failed logins for this name; try again later"
BAD_TOKEN = "unknown or revoked API token"
BAD_SESSION = "session unknown or expired; log in again"

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")


class Role(StrEnum):
    ADMIN = "admin"  # users, ingest, erasure, settings; may confirm candidates
    INVESTIGATOR = "investigator"  # search, verify, decide on candidates
    AUDITOR = "auditor"  # read the audit trail, nothing else


class Permission(StrEnum):
    SEARCH = "search"  # run 1:N searches
    VERIFY = "verify"  # compare two faces 1:1
    DECIDE = "decide"  # record a verdict on a search candidate (two-person rule)
    READ_GALLERY = "read_gallery"  # see gallery images, faces and their metadata
    INGEST = "ingest"  # add images to the gallery
    ERASE = "erase"  # remove faces, images, subjects, collections
    MANAGE_USERS = "manage_users"  # add, disable, enable accounts; reset passwords, tokens
    MANAGE_SETTINGS = "manage_settings"  # change server settings
    READ_AUDIT = "read_audit"  # read, export and verify the audit trail


PERMISSIONS: MappingProxyType[Role, frozenset[Permission]] = MappingProxyType(
    {
        Role.ADMIN: frozenset(
            {
                Permission.MANAGE_USERS,
                Permission.MANAGE_SETTINGS,
                Permission.INGEST,
                Permission.ERASE,
                Permission.READ_GALLERY,
                Permission.DECIDE,
                Permission.READ_AUDIT,  # the issue: "the audit trail (auditor, admin)"
            }
        ),
        Role.INVESTIGATOR: frozenset(
            {Permission.SEARCH, Permission.VERIFY, Permission.DECIDE, Permission.READ_GALLERY}
        ),
        Role.AUDITOR: frozenset({Permission.READ_AUDIT}),
    }
)


def can(role: Role, permission: Permission) -> bool:
    """Whether a role holds a permission: the one place this is decided."""
    return permission in PERMISSIONS[Role(role)]


@dataclass(frozen=True)
class Actor:
    """Someone acting: a user account, or the local CLI user (``os:<login>``)."""

    name: str
    role: Role

    @property
    def is_local(self) -> bool:
        return self.name.startswith(LOCAL_PREFIX)


@dataclass(frozen=True)
class User(Actor):
    disabled: bool
    created_at: datetime


@dataclass(frozen=True)
class TokenInfo:
    prefix: str  # the first characters of the token, for display
    created_at: datetime
    revoked_at: datetime | None


@dataclass(frozen=True)
class AccountPolicy:
    min_password_length: int = MIN_PASSWORD_LENGTH
    max_failures: int = 5  # failed logins for one name ...
    failure_window: timedelta = timedelta(minutes=15)  # ... within this long ...
    lockout: timedelta = timedelta(minutes=15)  # ... lock it for this long after the last
    session_idle: timedelta = timedelta(minutes=30)  # a session unused this long ends
    session_lifetime: timedelta = timedelta(hours=12)  # a session ends this long after login

    def __post_init__(self) -> None:
        if self.min_password_length < 8 or self.max_failures < 1:
            raise InputError("min_password_length must be >= 8 and max_failures >= 1")
        for name in ("failure_window", "lockout", "session_idle", "session_lifetime"):
            if getattr(self, name) <= timedelta(0):
                raise InputError(f"{name} must be positive")


def require(actor: Actor, permission: Permission) -> None:
    if not can(actor.role, permission):
        what = Permission(permission).value.replace("_", " ")
        raise PermissionDeniedError(f"{actor.name} ({actor.role.value}) may not {what}")


def local_actor(login: str | None = None) -> Actor:
    """The person at the CLI, named after their operating-system login."""
    if login is None:
        try:
            login = getpass.getuser()
        except (OSError, KeyError):
            login = f"uid{os.getuid()}"
    return Actor(LOCAL_PREFIX + login, Role.ADMIN)


def validate_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InputError(
            "a user name is 1-64 characters: ASCII letters, digits and . _ - @, "
            "starting with a letter or digit"
        )
    return name


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _user(row: sqlite3.Row) -> User:
    return User(
        name=row["name"],
        role=Role(row["role"]),
        disabled=bool(row["disabled"]),
        created_at=parse_time(row["created_at"]),
    )


_USER_COLUMNS = "id, name, role, password_hash, disabled, created_at"


def _user_row(conn: sqlite3.Connection, name: str) -> sqlite3.Row | None:
    row: sqlite3.Row | None = conn.execute(
        f"SELECT {_USER_COLUMNS} FROM users WHERE name = ?", (name,)
    ).fetchone()
    return row


def current_actor(conn: sqlite3.Connection, by: Actor) -> Actor:
    """The actor as the database knows it now: an account must still exist and be enabled."""
    if by.is_local:
        return by
    row = _user_row(conn, by.name)
    if row is None or row["disabled"]:
        raise AuthenticationError(f"account {by.name} is unknown or disabled")
    return _user(row)


def check_accounts_against_trail(conn: sqlite3.Connection) -> list[ChainBreak]:
    """Accounts whose existence, role or enabled state the audit trail does not explain.

    Catches an account added, promoted or re-enabled by editing the file directly. (A password
    hash swapped in the file is not caught: the trail never holds hashes.)
    """
    found: list[ChainBreak] = []
    rows = conn.execute(
        """SELECT u.name, u.role, u.disabled,
                  (SELECT a.seq FROM audit_log a
                    WHERE a.action = 'user_add' AND json_extract(a.payload, '$.name') = u.name
                    ORDER BY a.seq DESC LIMIT 1) AS add_seq,
                  (SELECT json_extract(a.payload, '$.role') FROM audit_log a
                    WHERE a.action = 'user_add' AND json_extract(a.payload, '$.name') = u.name
                    ORDER BY a.seq DESC LIMIT 1) AS logged_role,
                  (SELECT a.action FROM audit_log a
                    WHERE a.action IN ('user_add', 'user_disable', 'user_enable')
                      AND json_extract(a.payload, '$.name') = u.name
                    ORDER BY a.seq DESC LIMIT 1) AS last_state
             FROM users u ORDER BY u.name"""
    )
    for row in rows:
        name, seq = row["name"], row["add_seq"]
        if seq is None:
            found.append(
                ChainBreak(BreakKind.ACCOUNT, None, None, f"account {name} has no user_add entry")
            )
            continue
        if row["logged_role"] != row["role"]:
            found.append(
                ChainBreak(
                    BreakKind.ACCOUNT,
                    seq,
                    seq,
                    f"account {name} is {row['role']} but was added as {row['logged_role']}",
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


class Accounts:
    def __init__(
        self, db: Database, audit: AuditTrail, policy: AccountPolicy, hasher: PasswordHasher
    ) -> None:
        self._db = db
        self._audit = audit
        self.policy = policy
        self._hasher = hasher
        self._dummy_hash: str | None = None

    # --- users ----------------------------------------------------------------------------

    def has_users(self) -> bool:
        with self._db.read() as conn:
            return bool(conn.execute("SELECT EXISTS (SELECT 1 FROM users)").fetchone()[0])

    def get_user(self, name: str) -> User:
        with self._db.read() as conn:
            row = _user_row(conn, name)
        if row is None:
            raise NotFoundError(f"no user {name}")
        return _user(row)

    def users(self) -> list[User]:
        with self._db.read() as conn:
            rows = conn.execute(f"SELECT {_USER_COLUMNS} FROM users ORDER BY name").fetchall()
        return [_user(row) for row in rows]

    def add_user(self, name: str, role: Role | str, password: str, *, by: Actor) -> User:
        validate_name(name)
        try:
            role = Role(role)
        except ValueError as exc:
            raise InputError(f"role must be one of {', '.join(r.value for r in Role)}") from exc
        hashed = self._hash_new(name, password)
        with self._db.write() as conn:
            actor = current_actor(conn, by)
            require(actor, Permission.MANAGE_USERS)
            if _user_row(conn, name) is not None:
                raise InputError(f"user {name} exists already (names ignore case)")
            conn.execute(
                "INSERT INTO users (name, role, password_hash, disabled, created_at) "
                "VALUES (?, ?, ?, 0, ?)",
                (name, role.value, hashed, format_time(self._db.now())),
            )
            self._audit.append(
                actor=actor.name,
                action=Action.USER_ADD,
                payload={"name": name, "role": role.value},
            )
        return self.get_user(name)

    def disable_user(self, name: str, *, by: Actor) -> User:
        """Disable an account: its sessions end, its tokens stop working (until enabled)."""
        with self._db.write() as conn:
            actor = current_actor(conn, by)
            require(actor, Permission.MANAGE_USERS)
            row = self._existing(conn, name)
            if not row["disabled"]:
                if row["role"] == Role.ADMIN.value and self._enabled_admins(conn) == 1:
                    raise InputError(f"{row['name']} is the last enabled admin")
                conn.execute("UPDATE users SET disabled = 1 WHERE id = ?", (row["id"],))
                conn.execute("DELETE FROM sessions WHERE user_id = ?", (row["id"],))
                self._audit.append(
                    actor=actor.name, action=Action.USER_DISABLE, payload={"name": row["name"]}
                )
            return _user(self._existing(conn, name))

    def enable_user(self, name: str, *, by: Actor) -> User:
        with self._db.write() as conn:
            actor = current_actor(conn, by)
            require(actor, Permission.MANAGE_USERS)
            row = self._existing(conn, name)
            if row["disabled"]:
                conn.execute("UPDATE users SET disabled = 0 WHERE id = ?", (row["id"],))
                self._audit.append(
                    actor=actor.name, action=Action.USER_ENABLE, payload={"name": row["name"]}
                )
            return _user(self._existing(conn, name))

    def set_password(self, name: str, password: str, *, by: Actor) -> None:
        """Set a new password (yourself, or anyone's as an admin); ends the user's sessions."""
        hashed = self._hash_new(name, password)
        with self._db.write() as conn:
            actor = current_actor(conn, by)
            row = self._existing(conn, name)
            if actor.name != row["name"]:
                require(actor, Permission.MANAGE_USERS)
            conn.execute("UPDATE users SET password_hash = ? WHERE id = ?", (hashed, row["id"]))
            conn.execute("DELETE FROM sessions WHERE user_id = ?", (row["id"],))
            self._audit.append(
                actor=actor.name, action=Action.PASSWORD_SET, payload={"name": row["name"]}
            )

    # --- passwords and throttling ---------------------------------------------------------

    def check_password(self, name: str, password: str, *, client: str | None = None) -> User:
        """The user behind a name and password, or AuthenticationError (one message for all).

        ``client`` (an IP address, "cli") goes into the audit entry.
        """
        key = name.casefold()[:128] if isinstance(name, str) else ""
        shown = name if isinstance(name, str) and _NAME.fullmatch(name) else "anonymous"
        detail = {
            "name": name[:64] if key else "",
            "client": None if client is None else client[:200],
        }
        now = self._db.now()
        row: sqlite3.Row | None = None
        with self._db.write() as conn:
            locked = self._locked(conn, key, now)
            if locked:
                self._audit.append(
                    actor=shown,
                    action=Action.LOGIN_FAILED,
                    payload={**detail, "reason": "locked_out"},
                )
            else:
                # Count the attempt before checking it; cleared below if it succeeds.
                conn.execute(
                    "INSERT INTO login_failures (name_key, at) VALUES (?, ?)",
                    (key, format_time(now)),
                )
                horizon = now - self.policy.failure_window - self.policy.lockout
                conn.execute("DELETE FROM login_failures WHERE at < ?", (format_time(horizon),))
                row = _user_row(conn, name) if shown != "anonymous" else None
        if locked:
            raise AuthenticationError(LOCKED_OUT)

        stored = row["password_hash"] if row is not None else self._dummy()
        ok = self._verify(stored, password)  # checked in every case: same time for all
        user: User | None = None
        if row is None:
            reason = "unknown_name"
        elif row["disabled"]:
            reason = "disabled"
        elif not ok:
            reason = "bad_password"
        else:
            user, user_id = _user(row), row["id"]
        # Hashes made with older parameters are upgraded now that the password is known
        # (hashed before the transaction: it takes a while, and holds no lock meanwhile).
        rehashed = self._hasher.hash(password) if user and self._needs_rehash(stored) else None
        with self._db.write() as conn:
            if user is None:
                self._audit.append(
                    actor=shown, action=Action.LOGIN_FAILED, payload={**detail, "reason": reason}
                )
            else:
                conn.execute("DELETE FROM login_failures WHERE name_key = ?", (key,))
                if rehashed is not None:
                    conn.execute(
                        "UPDATE users SET password_hash = ? WHERE id = ? AND password_hash = ?",
                        (rehashed, user_id, stored),
                    )
                self._audit.append(
                    actor=user.name,
                    action=Action.LOGIN,
                    payload={"client": detail["client"], "method": "password"},
                )
        if user is None:
            raise AuthenticationError(BAD_LOGIN)
        return user

    def _locked(self, conn: sqlite3.Connection, key: str, now: datetime) -> bool:
        """max_failures within failure_window, the last of them less than lockout ago."""
        policy = self.policy
        since = now - policy.failure_window - policy.lockout
        times = [
            parse_time(r[0])
            for r in conn.execute(
                "SELECT at FROM login_failures WHERE name_key = ? AND at >= ? ORDER BY at",
                (key, format_time(since)),
            )
        ]
        n = policy.max_failures
        return any(
            times[i] - times[i - n + 1] <= policy.failure_window and now < times[i] + policy.lockout
            for i in range(n - 1, len(times))
        )

    def _needs_rehash(self, stored: str) -> bool:
        try:
            return bool(self._hasher.check_needs_rehash(stored))
        except (InvalidHashError, ValueError):
            return True

    def _verify(self, stored: str, password: str) -> bool:
        if not isinstance(password, str) or len(password) > MAX_PASSWORD_LENGTH:
            return False
        try:
            return bool(self._hasher.verify(stored, password))
        except (VerificationError, InvalidHashError):
            return False

    def _dummy(self) -> str:
        """A hash to check unknown names against, so they take as long as known ones."""
        if self._dummy_hash is None:
            self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))
        return self._dummy_hash

    def _hash_new(self, name: str, password: str) -> str:
        if not isinstance(password, str):
            raise InputError("a password is text")
        if len(password) < self.policy.min_password_length:
            raise InputError(
                f"a password needs at least {self.policy.min_password_length} characters"
            )
        if len(password) > MAX_PASSWORD_LENGTH:
            raise InputError(f"a password has at most {MAX_PASSWORD_LENGTH} characters")
        if password.casefold() == name.casefold():
            raise InputError("a password must not be the user name")
        return str(self._hasher.hash(password))

    # --- API tokens -----------------------------------------------------------------------

    def issue_token(self, name: str, *, by: Actor) -> str:
        """A new API token for a user (yourself, or anyone as an admin). Shown only once."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
        with self._db.write() as conn:
            actor = current_actor(conn, by)
            row = self._existing(conn, name)
            if actor.name != row["name"]:
                require(actor, Permission.MANAGE_USERS)
            if row["disabled"]:
                raise InputError(f"{row['name']} is disabled")
            prefix = token[:TOKEN_DISPLAY_CHARS]
            conn.execute(
                "INSERT INTO api_tokens (user_id, digest, prefix, created_at) VALUES (?, ?, ?, ?)",
                (row["id"], _digest(token), prefix, format_time(self._db.now())),
            )
            self._audit.append(
                actor=actor.name,
                action=Action.TOKEN_ISSUE,
                payload={"name": row["name"], "prefix": prefix},
            )
        return token

    def tokens(self, name: str) -> list[TokenInfo]:
        with self._db.read() as conn:
            row = self._existing(conn, name)
            rows = conn.execute(
                "SELECT prefix, created_at, revoked_at FROM api_tokens WHERE user_id = ? "
                "ORDER BY id",
                (row["id"],),
            ).fetchall()
        return [
            TokenInfo(
                r["prefix"],
                parse_time(r["created_at"]),
                None if r["revoked_at"] is None else parse_time(r["revoked_at"]),
            )
            for r in rows
        ]

    def user_for_token(self, token: str) -> User:
        if not isinstance(token, str) or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
            raise AuthenticationError(BAD_TOKEN)
        with self._db.read() as conn:
            row = conn.execute(
                f"SELECT {', '.join('u.' + c for c in _USER_COLUMNS.split(', '))} "
                "FROM api_tokens t JOIN users u ON u.id = t.user_id "
                "WHERE t.digest = ? AND t.revoked_at IS NULL",
                (_digest(token),),
            ).fetchone()
        if row is None or row["disabled"]:
            raise AuthenticationError(BAD_TOKEN)
        return _user(row)

    def revoke_tokens(self, name: str, *, by: Actor) -> int:
        """Revoke every live token of a user (yourself, or anyone as an admin)."""
        with self._db.write() as conn:
            actor = current_actor(conn, by)
            row = self._existing(conn, name)
            if actor.name != row["name"]:
                require(actor, Permission.MANAGE_USERS)
            count = conn.execute(
                "UPDATE api_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
                (format_time(self._db.now()), row["id"]),
            ).rowcount
            self._audit.append(
                actor=actor.name,
                action=Action.TOKEN_REVOKE,
                payload={"name": row["name"], "count": count},
            )
        return int(count)

    # --- browser sessions -----------------------------------------------------------------

    def create_session(self, name: str) -> tuple[str, str]:
        """(session id, CSRF token) for a user who has just logged in. Shown only once."""
        session_id = secrets.token_urlsafe(32)
        csrf_token = secrets.token_urlsafe(32)
        now = self._db.now()
        with self._db.write() as conn:
            row = _user_row(conn, name)
            if row is None or row["disabled"]:
                raise AuthenticationError(BAD_LOGIN)
            self._prune_sessions(conn, now)
            conn.execute(
                "INSERT INTO sessions (user_id, digest, csrf_token, created_at, last_seen) "
                "VALUES (?, ?, ?, ?, ?)",
                (row["id"], _digest(session_id), csrf_token, format_time(now), format_time(now)),
            )
        return session_id, csrf_token

    def session_user(self, session_id: str) -> tuple[User, str]:
        """(user, CSRF token) of a live session; AuthenticationError if unknown or expired."""
        if not isinstance(session_id, str) or len(session_id) > 200:
            raise AuthenticationError(BAD_SESSION)
        now = self._db.now()
        with self._db.read() as conn:
            row = conn.execute(
                "SELECT s.id AS sid, s.csrf_token, s.created_at AS started, s.last_seen, "
                f"{', '.join('u.' + c for c in _USER_COLUMNS.split(', '))} "
                "FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.digest = ?",
                (_digest(session_id),),
            ).fetchone()
        if row is None or row["disabled"]:
            raise AuthenticationError(BAD_SESSION)
        last_seen = parse_time(row["last_seen"])
        if (
            now - last_seen > self.policy.session_idle
            or now - parse_time(row["started"]) > self.policy.session_lifetime
        ):
            with self._db.write() as conn:
                conn.execute("DELETE FROM sessions WHERE id = ?", (row["sid"],))
            raise AuthenticationError(BAD_SESSION)
        if now - last_seen >= SESSION_TOUCH_INTERVAL:
            with self._db.write() as conn:
                conn.execute(
                    "UPDATE sessions SET last_seen = MAX(last_seen, ?) WHERE id = ?",
                    (format_time(now), row["sid"]),
                )
        return _user(row), str(row["csrf_token"])

    def end_session(self, session_id: str) -> None:
        """Log out. Unknown ids are ignored."""
        if not isinstance(session_id, str):
            return
        with self._db.write() as conn:
            row = conn.execute(
                "SELECT s.id, u.name FROM sessions s JOIN users u ON u.id = s.user_id "
                "WHERE s.digest = ?",
                (_digest(session_id),),
            ).fetchone()
            if row is not None:
                conn.execute("DELETE FROM sessions WHERE id = ?", (row["id"],))
                self._audit.append(actor=row["name"], action=Action.LOGOUT)

    def _prune_sessions(self, conn: sqlite3.Connection, now: datetime) -> None:
        conn.execute(
            "DELETE FROM sessions WHERE last_seen < ? OR created_at < ?",
            (
                format_time(now - self.policy.session_idle),
                format_time(now - self.policy.session_lifetime),
            ),
        )

    # --- helpers --------------------------------------------------------------------------

    def _existing(self, conn: sqlite3.Connection, name: str) -> sqlite3.Row:
        row = _user_row(conn, name)
        if row is None:
            raise NotFoundError(f"no user {name}")
        return row

    def _enabled_admins(self, conn: sqlite3.Connection) -> int:
        return int(
            conn.execute(
                "SELECT COUNT(*) FROM users WHERE role = ? AND disabled = 0", (Role.ADMIN.value,)
            ).fetchone()[0]
        )
