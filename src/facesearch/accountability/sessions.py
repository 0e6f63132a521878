"""Browser sessions: created at login, checked on every request, ended at logout.

A session id and its CSRF token are shown once; only the id's SHA-256 is stored. A session
ends ``session_idle`` after its last use or ``session_lifetime`` after login, whichever comes
first; its ``last_seen`` is refreshed at most once a minute. Setting a user's password or
disabling the account ends every session of theirs (``end_sessions_of``). On PostgreSQL every
path that deletes sessions VACUUMs the table after its commit (``Database.vacuum``; SQLite's
``secure_delete`` does the same job there).
"""

from __future__ import annotations

import secrets
import sqlite3
from datetime import datetime, timedelta

from facesearch.accountability.audit import AuditTrail
from facesearch.accountability.audit_entries import Action
from facesearch.accountability.db import Database, format_time, parse_time
from facesearch.accountability.dialect import greatest
from facesearch.accountability.logins import BAD_LOGIN
from facesearch.accountability.policy import AccountPolicy
from facesearch.accountability.tokens import secret_digest
from facesearch.accountability.users import SESSION_USER, User, live_user_row, user_of, user_row
from facesearch.errors import AuthenticationError

__all__ = ["SessionMixin", "end_sessions_of"]

# last_seen is refreshed at most this often, and at least every 1/IDLE_SLACK of the idle time:
# a session used within its idle time lives on (with one refresh a minute, a 1-minute idle
# time ended a session used 30 s before)
SESSION_TOUCH_INTERVAL = timedelta(seconds=60)
IDLE_SLACK = 20
BAD_SESSION = "session unknown or expired; log in again"


def end_sessions_of(conn: sqlite3.Connection, user_id: int) -> None:
    conn.execute("DELETE FROM sessions WHERE user_id = ?", (user_id,))


class SessionMixin:
    """The browser-session methods of ``Accounts``."""

    _db: Database
    _audit: AuditTrail
    policy: AccountPolicy

    def create_session(self, name: str) -> tuple[str, str]:
        """(session id, CSRF token) for a user; shown only once. A password login opens its
        session with ``Accounts.login`` instead (in the transaction that checks the password
        still holds)."""
        with self._db.write() as conn:
            row = user_row(conn, name)
            if row is None or row["disabled"]:
                raise AuthenticationError(BAD_LOGIN)
            opened = self._open_session(conn, row)
        return self._after_open(opened)

    def _open_session(self, conn: sqlite3.Connection, row: sqlite3.Row) -> tuple[str, str, int]:
        """A new session of the user of ``row``, in the caller's transaction: (session id,
        CSRF token, how many expired sessions were pruned)."""
        session_id = secrets.token_urlsafe(32)
        csrf_token = secrets.token_urlsafe(32)
        now = self._db.now()
        pruned = self._prune_sessions(conn, now)
        conn.execute(
            "INSERT INTO sessions (user_id, digest, csrf_token, created_at, last_seen) "
            "VALUES (?, ?, ?, ?, ?)",
            (row["id"], secret_digest(session_id), csrf_token, format_time(now), format_time(now)),
        )
        return session_id, csrf_token, pruned

    def _after_open(self, opened: tuple[str, str, int]) -> tuple[str, str]:
        """After the commit: the pruned sessions' pages vacuumed; (session id, CSRF token)."""
        session_id, csrf_token, pruned = opened
        if pruned:
            self._db.vacuum("sessions")
        return session_id, csrf_token

    def session_user(self, session_id: str) -> tuple[User, str]:
        """(user, CSRF token) of a live session; AuthenticationError if unknown or expired."""
        if not isinstance(session_id, str) or len(session_id) > 200:
            raise AuthenticationError(BAD_SESSION)
        now = self._db.now()
        with self._db.read() as conn:
            row = live_user_row(conn, SESSION_USER, secret_digest(session_id), BAD_SESSION)
        last_seen = parse_time(row["last_seen"])
        if (
            now - last_seen > self.policy.session_idle
            or now - parse_time(row["started"]) > self.policy.session_lifetime
        ):
            with self._db.write() as conn:
                conn.execute("DELETE FROM sessions WHERE id = ?", (row["sid"],))
            self._db.vacuum("sessions")
            raise AuthenticationError(BAD_SESSION)
        if now - last_seen >= min(SESSION_TOUCH_INTERVAL, self.policy.session_idle / IDLE_SLACK):
            with self._db.write() as conn:
                conn.execute(
                    f"UPDATE sessions SET last_seen = {greatest(conn, 'last_seen', '?')} "
                    "WHERE id = ?",
                    (format_time(now), row["sid"]),
                )
        return user_of(row), str(row["csrf_token"])

    def end_session(self, session_id: str) -> None:
        """Log out. Unknown ids are ignored."""
        if not isinstance(session_id, str):
            return
        with self._db.write() as conn:
            row = conn.execute(
                "SELECT s.id, u.name FROM sessions s JOIN users u ON u.id = s.user_id "
                "WHERE s.digest = ?",
                (secret_digest(session_id),),
            ).fetchone()
            if row is not None:
                conn.execute("DELETE FROM sessions WHERE id = ?", (row["id"],))
                self._audit.append(actor=row["name"], action=Action.LOGOUT)
        if row is not None:
            self._db.vacuum("sessions")

    def _prune_sessions(self, conn: sqlite3.Connection, now: datetime) -> int:
        """Delete the sessions past their idle time or lifetime; how many."""
        cursor = conn.execute(
            "DELETE FROM sessions WHERE last_seen < ? OR created_at < ?",
            (
                format_time(now - self.policy.session_idle),
                format_time(now - self.policy.session_lifetime),
            ),
        )
        return int(cursor.rowcount)
