"""User accounts: roles and permissions, passwords, login throttling, API tokens, sessions.

Roles and what they may do are written down once, in ``PERMISSIONS``; ``can(role,
permission)`` and ``require(actor, permission)`` read it and nothing else decides.

Passwords are hashed with argon2id (argon2-cffi's ``PasswordHasher``; its defaults are RFC 9106's
low-memory profile, 64 MiB). ``check_password`` answers every failure (unknown name, wrong
password, disabled account) with the same message and about the same delay. Each attempt is
recorded as a failure of its (name, client address) *before* the password is checked and cleared
on success, so parallel guesses count too; ``max_failures`` of them within ``failure_window``
lock that name (known or not) *for that address*, even against the right password: for
``lockout`` the first time, twice as long each time it recurs (up to ``max_lockout``), until a
login from that address succeeds. An attacker locks out only their own address, never the
user. An address is an IPv4 address, or an IPv6 /64 (what one host usually holds).

A name also has a ceiling across all addresses, so that rotating them (a botnet) does not give
unlimited guesses: ``name_max_failures`` failures within ``name_failure_window``, from any
addresses, lock the name *for every address* (its user too) for ``name_lockout``, twice as long
each time it recurs, up to ``max_name_lockout`` (shorter than ``max_lockout``: it locks the user
out too). A successful login does not forgive the others' failures. Each such lock is written
to the audit trail (``every_address``) and logged as a warning. ``lockouts()`` lists the locks
in force for the admins (a name-wide lock with ``client`` ``"*"``).

New passwords must be ``min_password_length`` long, not on the shipped list of common
passwords (``data/common-passwords.txt``) and reach ``min_password_score`` (0..4) on zxcvbn's
strength estimate.

API tokens (``fs_`` + 43 urlsafe characters, 256 random bits) and browser session ids are shown
once and stored only as SHA-256 digests: they are random, so a fast hash is enough. A token
expires ``token_lifetime`` after it was issued, and every token of a user is revoked when their
password is set or their account disabled (enabling it again revives none). Its last use is
kept to the minute: a use is noted in memory and written with the others at most once a minute
(``flush_token_use``, and when the store closes; ``tokens()`` shows the noted ones too), so
that no API request waits for a write. A crash loses at most the last minute of last-use times.

Every change to an account is written to the audit trail in the same transaction.

Actors: a function acting on someone's behalf takes ``by: Actor``. A ``User`` comes from
``check_password``, ``user_for_token`` or ``session_user``; its account is re-read (enabled?
which role now?) at the moment it acts. ``local_actor()`` is the person at the CLI of a home
(``os:<login>``): whoever can run the CLI can read the file anyway, so it acts as an admin.
"""

from __future__ import annotations

import getpass
import hashlib
import ipaddress
import logging
import math
import os
import re
import secrets
import sqlite3
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from importlib import resources
from types import MappingProxyType
from typing import Literal

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn import zxcvbn

from facesearch.accountability.audit import Action, AuditTrail
from facesearch.accountability.chain import BreakKind, ChainBreak
from facesearch.accountability.db import Database, format_time, parse_time
from facesearch.errors import (
    AuthenticationError,
    FaceSearchError,
    InputError,
    NotFoundError,
    PermissionDeniedError,
)

__all__ = [
    "PERMISSIONS",
    "AccountPolicy",
    "Accounts",
    "Actor",
    "LoginLock",
    "Permission",
    "Role",
    "TokenInfo",
    "User",
    "can",
    "local_actor",
    "require",
]

log = logging.getLogger(__name__)

MIN_PASSWORD_LENGTH = 12  # the default of the min_password_length setting
MAX_PASSWORD_LENGTH = 1024
STRENGTH_CHARS = 72  # zxcvbn looks at this many (its time grows with length; 4.5 refuses > 72)
COMMON_PASSWORDS = "data/common-passwords.txt"
LOCAL_PREFIX = "os:"
TOKEN_PREFIX = "fs_"
TOKEN_BYTES = 32
TOKEN_DISPLAY_CHARS = 10  # "fs_" and 7 more: enough to tell tokens apart in a list
SESSION_TOUCH_INTERVAL = timedelta(seconds=60)  # last_seen is refreshed at most this often
TOKEN_TOUCH_INTERVAL = timedelta(seconds=60)  # a token's last_used_at, likewise
LOCK_MEMORY = timedelta(days=1)  # a lock over for longer than this no longer doubles the next
MAX_LOCK_LEVEL = 32

BAD_LOGIN = "unknown user name or wrong password"
LOCKED_OUT = "too many failed logins for this name from this address"
NAME_LOCKED_OUT = "too many failed logins for this name"
EVERY_ADDRESS = "*"  # the client of a name-wide lock and of the name-wide failure counts
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


TokenState = Literal["live", "expired", "revoked"]


@dataclass(frozen=True)
class TokenInfo:
    """One API token as its owner and the admins see it (never the token itself)."""

    prefix: str  # the first characters of the token, for display
    created_at: datetime
    revoked_at: datetime | None
    expires_at: datetime | None  # None: never
    last_used_at: datetime | None  # to the minute; None: never used
    state: TokenState  # when it was read

    @property
    def live(self) -> bool:
        return self.state == "live"


@dataclass(frozen=True)
class LoginLock:
    """A name locked for one client address after too many failed logins."""

    name: str  # the account's name, or the name tried when there is no such account
    client: str  # the address the failures came from ("" when unknown)
    failures: int  # failed logins that led to this lock
    level: int  # 1 the first time, +1 each time it recurs (the lock doubles)
    locked_at: datetime
    locked_until: datetime

    def minutes_left(self, now: datetime) -> int:
        return max(1, math.ceil((self.locked_until - now).total_seconds() / 60))

    def describe(self, now: datetime) -> str:
        if self.client == EVERY_ADDRESS:
            return (
                f"locked for {self.minutes_left(now)} min for every address after "
                f"{self.failures} failed logins from any address"
            )
        where = self.client or "an unknown address"
        return (
            f"locked for {self.minutes_left(now)} min after {self.failures} failed logins "
            f"from {where}"
        )


@dataclass(frozen=True)
class AccountPolicy:
    """The rules for accounts; ``store.account_policy(settings)`` builds one from the settings."""

    min_password_length: int = MIN_PASSWORD_LENGTH
    min_password_score: int = 3  # zxcvbn's 0..4
    max_failures: int = 5  # failed logins for one name from one address ...
    failure_window: timedelta = timedelta(minutes=15)  # ... within this long ...
    lockout: timedelta = timedelta(minutes=1)  # ... lock it (for that address) this long, ...
    max_lockout: timedelta = timedelta(hours=1)  # ... doubled each time, up to this long
    name_max_failures: int = 20  # failed logins for one name from any addresses ...
    name_failure_window: timedelta = timedelta(hours=1)  # ... within this long ...
    name_lockout: timedelta = timedelta(minutes=1)  # ... lock it for every address, ...
    max_name_lockout: timedelta = timedelta(minutes=15)  # ... doubled each time, up to this
    session_idle: timedelta = timedelta(minutes=30)  # a session unused this long ends
    session_lifetime: timedelta = timedelta(hours=12)  # a session ends this long after login
    token_lifetime: timedelta | None = timedelta(days=90)  # None: tokens never expire

    def __post_init__(self) -> None:
        if self.min_password_length < 8 or self.max_failures < 1 or self.name_max_failures < 1:
            raise InputError(
                "min_password_length must be >= 8, max_failures and name_max_failures >= 1"
            )
        if not 0 <= self.min_password_score <= 4:
            raise InputError("min_password_score must be between 0 and 4")
        for name in (
            "failure_window",
            "lockout",
            "name_failure_window",
            "name_lockout",
            "session_idle",
            "session_lifetime",
        ):
            if getattr(self, name) <= timedelta(0):
                raise InputError(f"{name} must be positive")
        if self.max_lockout < self.lockout or self.max_name_lockout < self.name_lockout:
            raise InputError(
                "max_lockout must be at least lockout, max_name_lockout at least name_lockout"
            )
        if self.token_lifetime is not None and self.token_lifetime <= timedelta(0):
            raise InputError("token_lifetime must be positive (or None: never expire)")


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


def _maybe_time(text: str | None) -> datetime | None:
    return None if text is None else parse_time(text)


def _login_lock(row: sqlite3.Row) -> LoginLock:
    return LoginLock(
        name=row["user_name"] or row["name_key"],
        client=row["client"],
        failures=int(row["failures"]),
        level=int(row["level"]),
        locked_at=parse_time(row["locked_at"]),
        locked_until=parse_time(row["locked_until"]),
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


def address_key(client: str) -> str:
    """What failures are counted against: an IPv4 address as it is, an IPv6 address as its
    /64 (one host usually holds the whole /64), anything else ("cli", "") as it is."""
    try:
        address = ipaddress.ip_address(client.strip())
    except ValueError:
        return client
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is None:
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return client


def _failures(conn: sqlite3.Connection, key: str, client: str, since: datetime) -> int:
    return int(
        conn.execute(
            "SELECT COUNT(*) FROM login_failures WHERE name_key = ? AND client = ? AND at >= ?",
            (key, client, format_time(since)),
        ).fetchone()[0]
    )


class Accounts:
    def __init__(
        self, db: Database, audit: AuditTrail, policy: AccountPolicy, hasher: PasswordHasher
    ) -> None:
        self._db = db
        self._audit = audit
        self.policy = policy
        self._hasher = hasher
        self._dummy_hash: str | None = None
        self._common: frozenset[str] | None = None
        self._uses: dict[int, datetime] = {}  # token id -> last use not yet written
        self._uses_lock = threading.Lock()
        self._uses_since: datetime | None = None  # when the oldest of them was noted

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
        """Disable an account: its sessions end and its tokens are revoked (for good: enabling
        it again revives none)."""
        with self._db.write() as conn:
            actor = current_actor(conn, by)
            require(actor, Permission.MANAGE_USERS)
            row = self._existing(conn, name)
            if not row["disabled"]:
                if row["role"] == Role.ADMIN.value and self._enabled_admins(conn) == 1:
                    raise InputError(f"{row['name']} is the last enabled admin")
                conn.execute("UPDATE users SET disabled = 1 WHERE id = ?", (row["id"],))
                conn.execute("DELETE FROM sessions WHERE user_id = ?", (row["id"],))
                revoked = self._revoke_all(conn, row["id"])
                self._audit.append(
                    actor=actor.name,
                    action=Action.USER_DISABLE,
                    payload={"name": row["name"], "tokens_revoked": revoked},
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
        """Set a new password (yourself, or anyone's as an admin); ends the user's sessions
        and revokes their API tokens."""
        hashed = self._hash_new(name, password)
        with self._db.write() as conn:
            actor = current_actor(conn, by)
            row = self._existing(conn, name)
            if actor.name != row["name"]:
                require(actor, Permission.MANAGE_USERS)
            conn.execute("UPDATE users SET password_hash = ? WHERE id = ?", (hashed, row["id"]))
            conn.execute("DELETE FROM sessions WHERE user_id = ?", (row["id"],))
            revoked = self._revoke_all(conn, row["id"])
            self._audit.append(
                actor=actor.name,
                action=Action.PASSWORD_SET,
                payload={"name": row["name"], "tokens_revoked": revoked},
            )

    # --- passwords and throttling ---------------------------------------------------------

    def check_password(self, name: str, password: str, *, client: str | None = None) -> User:
        """The user behind a name and password, or AuthenticationError (one message for all).

        ``client`` (an IP address, "cli") goes into the audit entry, and failures count against
        the name for that client only.
        """
        key = name.casefold()[:128] if isinstance(name, str) else ""
        addr = "" if client is None else address_key(client[:200])
        shown = name if isinstance(name, str) and _NAME.fullmatch(name) else "anonymous"
        detail = {
            "name": name[:64] if key else "",
            "client": None if client is None else client[:200],
        }
        now = self._db.now()
        row: sqlite3.Row | None = None
        lock: LoginLock | None = None
        counted = 0  # the row id of this attempt in the name-wide count
        with self._db.write() as conn:
            self._prune_failures(conn, now)
            lock = self._lock_in_force(conn, key, EVERY_ADDRESS, now) or self._lock_in_force(
                conn, key, addr, now
            )
            # Attempts still being checked (in parallel) may have reached a limit already.
            if lock is None and self._recent_failures(conn, key, addr, now) >= (
                self.policy.max_failures
            ):
                lock = self._lock(conn, key, addr, now)
            if lock is None and self._name_failures(conn, key, now) >= (
                self.policy.name_max_failures
            ):
                lock = self._lock_name(conn, key, shown, detail, now)
            if lock is not None:
                self._audit.append(
                    actor=shown,
                    action=Action.LOGIN_FAILED,
                    payload={**detail, "reason": "locked_out"},
                )
            else:
                # Count the attempt before checking it; cleared below if it succeeds.
                insert = "INSERT INTO login_failures (name_key, client, at) VALUES (?, ?, ?)"
                conn.execute(insert, (key, addr, format_time(now)))
                counted = int(
                    conn.execute(insert, (key, EVERY_ADDRESS, format_time(now))).lastrowid or 0
                )
                row = _user_row(conn, name) if shown != "anonymous" else None
        if lock is not None:
            message = NAME_LOCKED_OUT if lock.client == EVERY_ADDRESS else LOCKED_OUT
            raise AuthenticationError(f"{message}; try again in {lock.minutes_left(now)} min")

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
                payload: dict[str, object] = {**detail, "reason": reason}
                failures = self._recent_failures(conn, key, addr, now)
                if failures >= self.policy.max_failures:
                    new_lock = self._lock(conn, key, addr, now)
                    payload["failures"] = new_lock.failures
                    payload["locked_minutes"] = new_lock.minutes_left(now)
                self._audit.append(actor=shown, action=Action.LOGIN_FAILED, payload=payload)
                if self._name_failures(conn, key, now) >= self.policy.name_max_failures:
                    self._lock_name(conn, key, shown, detail, now)
            else:
                # this attempt no longer counts against the name; the others' failures still do
                conn.execute("DELETE FROM login_failures WHERE id = ?", (counted,))
                conn.execute(
                    "DELETE FROM login_failures WHERE name_key = ? AND client = ?", (key, addr)
                )
                conn.execute(
                    "DELETE FROM login_locks WHERE name_key = ? AND client = ?", (key, addr)
                )
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

    def lockouts(self) -> list[LoginLock]:
        """The locks in force now, newest first (for the admins)."""
        now = self._db.now()
        with self._db.read() as conn:
            rows = conn.execute(
                "SELECT l.*, u.name AS user_name FROM login_locks l "
                "LEFT JOIN users u ON u.name = l.name_key "
                "WHERE l.locked_until > ? ORDER BY l.locked_at DESC",
                (format_time(now),),
            ).fetchall()
        return [_login_lock(r) for r in rows]

    def _recent_failures(self, conn: sqlite3.Connection, key: str, addr: str, now: datetime) -> int:
        """Failed logins for the name from ``addr`` within the failure window."""
        return _failures(conn, key, addr, now - self.policy.failure_window)

    def _name_failures(self, conn: sqlite3.Connection, key: str, now: datetime) -> int:
        """Failed logins for the name from any address within the name-wide window."""
        return _failures(conn, key, EVERY_ADDRESS, now - self.policy.name_failure_window)

    def _lock_name(
        self,
        conn: sqlite3.Connection,
        key: str,
        shown: str,
        detail: Mapping[str, object],
        now: datetime,
    ) -> LoginLock:
        """Lock ``key`` for every address (its failures from any address reached the
        ceiling), in the trail and the log."""
        failures = self._name_failures(conn, key, now)
        lock = self._lock(
            conn,
            key,
            EVERY_ADDRESS,
            now,
            failures=failures,
            base=self.policy.name_lockout,
            cap=self.policy.max_name_lockout,
        )
        self._audit.append(
            actor=shown,
            action=Action.LOGIN_FAILED,
            payload={
                **detail,
                "reason": "name_locked",
                "every_address": True,
                "failures": failures,
                "locked_minutes": lock.minutes_left(now),
            },
        )
        log.warning(
            "the name %r is locked for every address for %d min: %d failed logins within %s "
            "from any address (guessing from many addresses?)",
            shown,
            lock.minutes_left(now),
            failures,
            self.policy.name_failure_window,
        )
        return lock

    def _lock_in_force(
        self, conn: sqlite3.Connection, key: str, addr: str, now: datetime
    ) -> LoginLock | None:
        row = conn.execute(
            "SELECT *, NULL AS user_name FROM login_locks WHERE name_key = ? AND client = ? "
            "AND locked_until > ?",
            (key, addr, format_time(now)),
        ).fetchone()
        return None if row is None else _login_lock(row)

    def _lock(
        self,
        conn: sqlite3.Connection,
        key: str,
        addr: str,
        now: datetime,
        *,
        failures: int | None = None,
        base: timedelta | None = None,
        cap: timedelta | None = None,
    ) -> LoginLock:
        """Lock ``key`` for ``addr``: twice as long as last time, if that was recent."""
        if failures is None:
            failures = self._recent_failures(conn, key, addr, now)
        previous = conn.execute(
            "SELECT level, locked_until FROM login_locks WHERE name_key = ? AND client = ?",
            (key, addr),
        ).fetchone()
        level = 1
        if previous is not None and now - parse_time(previous["locked_until"]) <= LOCK_MEMORY:
            level = min(int(previous["level"]) + 1, MAX_LOCK_LEVEL)
        base = self.policy.lockout if base is None else base
        cap = self.policy.max_lockout if cap is None else cap
        length = min(base * 2 ** (level - 1), cap)
        until = now + length
        conn.execute(
            "INSERT INTO login_locks (name_key, client, level, failures, locked_at, locked_until) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name_key, client) DO UPDATE SET "
            "level = excluded.level, failures = excluded.failures, "
            "locked_at = excluded.locked_at, locked_until = excluded.locked_until",
            (key, addr, level, failures, format_time(now), format_time(until)),
        )
        conn.execute("DELETE FROM login_failures WHERE name_key = ? AND client = ?", (key, addr))
        return LoginLock(key, addr, failures, level, now, until)

    def _prune_failures(self, conn: sqlite3.Connection, now: datetime) -> None:
        conn.execute(
            "DELETE FROM login_failures WHERE at < ? AND client != ?",
            (format_time(now - self.policy.failure_window), EVERY_ADDRESS),
        )
        conn.execute(
            "DELETE FROM login_failures WHERE at < ? AND client = ?",
            (format_time(now - self.policy.name_failure_window), EVERY_ADDRESS),
        )
        conn.execute(
            "DELETE FROM login_locks WHERE locked_until < ?", (format_time(now - LOCK_MEMORY),)
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
        common = self._common_passwords()
        if password.casefold() in common:
            raise InputError(
                f"this password is one of the {len(common):,} most common passwords "
                "(leaked-password lists); choose another"
            )
        result = zxcvbn(password[:STRENGTH_CHARS], user_inputs=[name, "facesearch"])
        score, needed = int(result["score"]), self.policy.min_password_score
        if score < needed:
            feedback = result.get("feedback") or {}
            hints = [feedback.get("warning") or "", *(feedback.get("suggestions") or [])]
            why = " ".join(h.strip() for h in hints if h and h.strip())
            raise InputError(
                f"this password is too easy to guess (strength {score} of 4; at least {needed} "
                f"needed): {why or 'use a longer passphrase of uncommon words'}"
            )
        return str(self._hasher.hash(password))

    def _common_passwords(self) -> frozenset[str]:
        """The shipped list of common passwords, casefolded (read once)."""
        if self._common is None:
            text = (resources.files("facesearch") / COMMON_PASSWORDS).read_text(encoding="utf-8")
            self._common = frozenset(
                line.strip().casefold()
                for line in text.splitlines()
                if line.strip() and not line.startswith("#")
            )
        return self._common

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
            now = self._db.now()
            lifetime = self.policy.token_lifetime
            expires = None if lifetime is None else format_time(now + lifetime)
            conn.execute(
                "INSERT INTO api_tokens (user_id, digest, prefix, created_at, expires_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (row["id"], _digest(token), prefix, format_time(now), expires),
            )
            self._audit.append(
                actor=actor.name,
                action=Action.TOKEN_ISSUE,
                payload={"name": row["name"], "prefix": prefix},
            )
        return token

    def tokens(self, name: str) -> list[TokenInfo]:
        """Every token of a user, oldest first, with its state now."""
        now = self._db.now()
        with self._db.read() as conn:
            row = self._existing(conn, name)
            rows = conn.execute(
                "SELECT id, prefix, created_at, revoked_at, expires_at, last_used_at "
                "FROM api_tokens WHERE user_id = ? ORDER BY id",
                (row["id"],),
            ).fetchall()
        with self._uses_lock:
            noted = {int(r["id"]): self._uses.get(int(r["id"])) for r in rows}
        out = []
        for r in rows:
            revoked = _maybe_time(r["revoked_at"])
            expires = self._expiry(r["created_at"], r["expires_at"])
            state: TokenState = (
                "revoked"
                if revoked is not None
                else "expired"
                if expires is not None and now >= expires
                else "live"
            )
            out.append(
                TokenInfo(
                    r["prefix"],
                    parse_time(r["created_at"]),
                    revoked,
                    expires,
                    max(
                        (t for t in (_maybe_time(r["last_used_at"]), noted[r["id"]]) if t),
                        default=None,
                    ),
                    state,
                )
            )
        return out

    def user_for_token(self, token: str) -> User:
        """The user behind a live API token (and its last use noted, at most once a minute)."""
        if not isinstance(token, str) or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
            raise AuthenticationError(BAD_TOKEN)
        now = self._db.now()
        with self._db.read() as conn:
            row = conn.execute(
                "SELECT t.id AS tid, t.created_at AS issued, t.expires_at, t.last_used_at, "
                f"{', '.join('u.' + c for c in _USER_COLUMNS.split(', '))} "
                "FROM api_tokens t JOIN users u ON u.id = t.user_id "
                "WHERE t.digest = ? AND t.revoked_at IS NULL",
                (_digest(token),),
            ).fetchone()
        if row is None or row["disabled"]:
            raise AuthenticationError(BAD_TOKEN)
        expires = self._expiry(row["issued"], row["expires_at"])
        if expires is not None and now >= expires:
            raise AuthenticationError(
                f"this API token expired on {expires.date().isoformat()}; issue a new one"
            )
        self._note_use(int(row["tid"]), _maybe_time(row["last_used_at"]), now)
        return _user(row)

    def _note_use(self, token_id: int, stored: datetime | None, now: datetime) -> None:
        """Remember a token's use (to the minute); write the uses once a minute at most."""
        with self._uses_lock:
            noted = self._uses.get(token_id)
            seen = max((t for t in (stored, noted) if t is not None), default=None)
            if seen is None or now - seen >= TOKEN_TOUCH_INTERVAL:
                self._uses[token_id] = now
                if self._uses_since is None:
                    self._uses_since = now
            due = self._uses_since is not None and now - self._uses_since >= TOKEN_TOUCH_INTERVAL
        if due:
            self.flush_token_use()

    def flush_token_use(self) -> None:
        """Write the token uses noted since the last flush (a failure only logs a warning)."""
        with self._uses_lock:
            uses, self._uses, self._uses_since = self._uses, {}, None
        if not uses:
            return
        try:
            with self._db.write() as conn:
                conn.executemany(
                    "UPDATE api_tokens SET last_used_at = ? WHERE id = ? "
                    "AND (last_used_at IS NULL OR last_used_at < ?)",
                    [(format_time(t), tid, format_time(t)) for tid, t in uses.items()],
                )
        except FaceSearchError as exc:
            log.warning("could not record when API tokens were last used: %s", exc)

    def _expiry(self, created_at: str, expires_at: str | None) -> datetime | None:
        """When a token stops working: its own expiry, or its issue + the lifetime now in
        force, whichever comes first (tokens from before expiry existed have only the latter)."""
        ends = [] if expires_at is None else [parse_time(expires_at)]
        if self.policy.token_lifetime is not None:
            ends.append(parse_time(created_at) + self.policy.token_lifetime)
        return min(ends) if ends else None

    def _revoke_all(self, conn: sqlite3.Connection, user_id: int) -> int:
        return int(
            conn.execute(
                "UPDATE api_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
                (format_time(self._db.now()), user_id),
            ).rowcount
        )

    def revoke_tokens(self, name: str, *, by: Actor) -> int:
        """Revoke every live token of a user (yourself, or anyone as an admin)."""
        with self._db.write() as conn:
            actor = current_actor(conn, by)
            row = self._existing(conn, name)
            if actor.name != row["name"]:
                require(actor, Permission.MANAGE_USERS)
            count = self._revoke_all(conn, row["id"])
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
