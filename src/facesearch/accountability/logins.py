"""Logging in with a password, and the throttling of failed logins.

``check_password`` answers every failure (unknown name, wrong password, disabled account) with
the same message and about the same delay. Each attempt is recorded as a failure of its (name,
client address) *before* the password is checked and cleared on success, so parallel guesses
count too; ``max_failures`` of them within ``failure_window`` lock that name (known or not)
*for that address*, even against the right password: for ``lockout`` the first time, twice as
long each time it recurs (up to ``max_lockout``), until a login from that address succeeds. An
attacker locks out only their own address, never the user. An address is an IPv4 address, or
an IPv6 /64 (what one host usually holds).

A name also has a ceiling across all addresses, so that rotating them (a botnet) does not give
unlimited guesses: ``name_max_failures`` failures within ``name_failure_window``, from any
addresses, lock the name *for every address* (its user too) for ``name_lockout``, twice as long
each time it recurs, up to ``max_name_lockout`` (shorter than ``max_lockout``: it locks the user
out too). A successful login does not forgive the others' failures. Each such lock is written
to the audit trail (``every_address``) and logged as a warning. ``lockouts()`` lists the locks
in force for the admins (a name-wide lock with ``client`` ``"*"``).
"""

from __future__ import annotations

import ipaddress
import logging
import math
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from facesearch.accountability.audit import AuditTrail
from facesearch.accountability.audit_entries import Action
from facesearch.accountability.db import Database, format_time, parse_time
from facesearch.accountability.dialect import name_is
from facesearch.accountability.expiry import expiry_of
from facesearch.accountability.passwords import Passwords
from facesearch.accountability.policy import AccountPolicy
from facesearch.accountability.users import User, is_valid_name, user_of, user_row
from facesearch.errors import AuthenticationError, PasswordChangeRequiredError

__all__ = ["BAD_LOGIN", "EVERY_ADDRESS", "LoginLock", "LoginMixin", "address_key"]

log = logging.getLogger(__name__)
T = TypeVar("T")

LOCK_MEMORY = timedelta(days=1)  # a lock over for longer than this no longer doubles the next
MAX_LOCK_LEVEL = 32
BAD_LOGIN = "unknown user name or wrong password"
ONE_TIME_PASSWORD = (
    "this password was set by an administrator and works once, to choose your own: enter it "
    "again with a new password of your choice"
)
LOCKED_OUT = "too many failed logins for this name from this address"
NAME_LOCKED_OUT = "too many failed logins for this name"
EVERY_ADDRESS = "*"  # the client of a name-wide lock and of the name-wide failure counts


@dataclass(frozen=True)
class LoginLock:
    """A name locked for one client address after too many failed logins."""

    name: str  # the account's name, or the name tried when there is no such account
    client: str  # the address the failures came from ("" when unknown; "*": every address)
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


def _login_lock(row: sqlite3.Row) -> LoginLock:
    return LoginLock(
        name=row["user_name"] or row["name_key"],
        client=row["client"],
        failures=int(row["failures"]),
        level=int(row["level"]),
        locked_at=parse_time(row["locked_at"]),
        locked_until=parse_time(row["locked_until"]),
    )


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


class LoginMixin:
    """The password-login and lockout methods of ``Accounts``."""

    _db: Database
    _audit: AuditTrail
    _passwords: Passwords
    policy: AccountPolicy

    def check_password(self, name: str, password: str, *, client: str | None = None) -> User:
        """The user behind a name and password, or AuthenticationError (one message for all).

        ``client`` (an IP address, "cli") goes into the audit entry, and failures count against
        the name for that client only.
        """
        return self._check_password(name, password, client, None)[0]

    def _check_password(
        self,
        name: str,
        password: str,
        client: str | None,
        then: Callable[[sqlite3.Connection, sqlite3.Row], T] | None,
        *,
        one_time_ok: bool = False,
    ) -> tuple[User, T | None]:
        """``check_password``; on success ``then(conn, user row)`` runs in the transaction
        that records the login, once the password just checked is still the account's (not
        changed, the account not disabled, while it was being checked). Its result is
        returned beside the user. A one-time password (``users.password_temporary``) is a
        success only with ``one_time_ok`` (its ``then`` replaces it); otherwise the attempt,
        right as it was, is ``PasswordChangeRequiredError`` and counts as no failure."""
        key = name.casefold()[:128] if isinstance(name, str) else ""
        addr = "" if client is None else address_key(client[:200])
        shown = name if is_valid_name(name) else "anonymous"
        detail = {
            "name": name[:64] if key else "",
            "client": None if client is None else client[:200],
        }
        now = self._db.now()
        row: sqlite3.Row | None = None
        lock: LoginLock | None = None
        counted = 0  # the row id of this attempt in the name-wide count
        counted_here = 0  # and in the count of this name from this address
        expired: int | None = None  # the policy's days, if the account has expired
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
                known = user_row(conn, name) if shown != "anonymous" else None
                self._audit.append(
                    actor=shown if known is None else str(known["name"]),
                    action=Action.LOGIN_FAILED,
                    payload={**detail, "reason": "locked_out"},
                )
            else:
                # Count the attempt before checking it; cleared below if it succeeds.
                insert = "INSERT INTO login_failures (name_key, client, at) VALUES (?, ?, ?)"
                here = conn.execute(f"{insert} RETURNING id", (key, addr, format_time(now)))
                counted_here = int(here.fetchone()[0])
                returning = conn.execute(
                    f"{insert} RETURNING id", (key, EVERY_ADDRESS, format_time(now))
                )
                counted = int(returning.fetchone()[0])
                row = user_row(conn, name) if shown != "anonymous" else None
                expired = None if row is None else expiry_of(conn, row, now)
        if lock is not None:
            message = NAME_LOCKED_OUT if lock.client == EVERY_ADDRESS else LOCKED_OUT
            raise AuthenticationError(f"{message}; try again in {lock.minutes_left(now)} min")

        stored = row["password_hash"] if row is not None else self._passwords.dummy()
        ok = self._passwords.verify(stored, password)  # checked in every case: same time for all
        user: User | None = None
        if row is None:
            reason = "unknown_name"
        elif row["disabled"]:
            reason = "disabled"
        elif not ok:
            reason = "bad_password"
        elif expired is not None:
            reason = "expired"  # the password was right: it may be told why
        else:
            user, user_id = user_of(row), row["id"]
        # Hashes made with older parameters are upgraded now that the password is known
        # (hashed before the transaction: it takes a while, and holds no lock meanwhile).
        rehashed = self._passwords.rehash(stored, password) if user else None
        opened: T | None = None
        with self._db.write() as conn:
            current = user_row(conn, name) if user is not None else None
            changed = current is None or current["disabled"] or current["password_hash"] != stored
            if user is not None and changed:  # a new password, or disabled, while it was checked
                user, reason = None, "changed_meanwhile"
            one_time = current is not None and bool(current["password_temporary"])
            if user is not None and one_time and not one_time_ok:
                # right, but it only lets its user choose their own: no failure counted
                user, reason = None, "password_change_required"
                conn.execute(
                    "DELETE FROM login_failures WHERE id IN (?, ?)", (counted, counted_here)
                )
            if user is None and reason == "password_change_required":
                self._audit.append(
                    actor=str(current["name"]) if current is not None else shown,
                    action=Action.LOGIN_FAILED,
                    payload={**detail, "reason": reason},
                )
            elif user is None:
                payload: dict[str, object] = {**detail, "reason": reason}
                failures = self._recent_failures(conn, key, addr, now)
                if failures >= self.policy.max_failures:
                    new_lock = self._lock(conn, key, addr, now)
                    payload["failures"] = new_lock.failures
                    payload["locked_minutes"] = new_lock.minutes_left(now)
                # under the account's own name when there is one, whatever case was typed
                named = shown if row is None else str(row["name"])
                self._audit.append(actor=named, action=Action.LOGIN_FAILED, payload=payload)
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
                if then is not None:
                    assert current is not None
                    opened = then(conn, current)
        if user is None and reason == "expired":
            raise AuthenticationError(
                f"this account was not used for more than {expired} days and has expired "
                "(the organisation's policy): an admin revives it by setting a new password"
            )
        if user is None and reason == "password_change_required":
            raise PasswordChangeRequiredError(ONE_TIME_PASSWORD)
        if user is None:
            raise AuthenticationError(BAD_LOGIN)
        return user, opened

    def lockouts(self) -> list[LoginLock]:
        """The locks in force now, newest first (for the admins)."""
        now = self._db.now()
        with self._db.read() as conn:
            rows = conn.execute(
                "SELECT l.*, u.name AS user_name FROM login_locks l "
                f"LEFT JOIN users u ON {name_is(conn, 'u.name', 'l.name_key')} "
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
