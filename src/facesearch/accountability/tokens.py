"""API tokens: issued, listed, checked, revoked; their last use noted once a minute.

API tokens (``fs_`` + 43 urlsafe characters, 256 random bits) are shown once and stored only
as SHA-256 digests: they are random, so a fast hash is enough (browser session ids too,
``sessions.py``). A token expires ``token_lifetime`` after it was issued, and every token of a
user is revoked when their password is set or their account disabled (enabling it again
revives none). Its last use is kept to the minute: a use is noted in memory and written with
the others at most once a minute (``flush_token_use``, and when the store closes; ``tokens()``
shows the noted ones too), so that no API request but a token's first waits for a write. A
token's first use is written at once: another process (``facesearch users tokens``) would
otherwise list a token in use as never used. A crash loses at most the last minute of
last-use times.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from facesearch.accountability.audit import PLATFORM_ORG, AuditTrail
from facesearch.accountability.audit_entries import Action
from facesearch.accountability.db import Database, format_time, parse_time
from facesearch.accountability.permissions import Actor, Permission, require
from facesearch.accountability.policy import AccountPolicy
from facesearch.accountability.users import (
    SESSION_USER,
    U_COLUMNS,
    User,
    check_visible,
    current_actor,
    existing_user,
    live_user_row,
    maybe_time,
    user_of,
)
from facesearch.errors import AuthenticationError, FaceSearchError, InputError

__all__ = ["TokenInfo", "TokenMixin", "TokenState", "revoke_all", "secret_digest"]

log = logging.getLogger(__name__)

TOKEN_PREFIX = "fs_"
TOKEN_BYTES = 32
TOKEN_DISPLAY_CHARS = 10  # "fs_" and 7 more: enough to tell tokens apart in a list
TOKEN_TOUCH_INTERVAL = timedelta(seconds=60)  # a token's last_used_at is written this often
BAD_TOKEN = "unknown or revoked API token"
_TOKEN_USER = (
    "SELECT t.id AS tid, t.created_at AS issued, t.expires_at, t.last_used_at, "
    f"{U_COLUMNS} FROM api_tokens t JOIN users u ON u.id = t.user_id "
    "WHERE t.digest = ? AND t.revoked_at IS NULL"
)

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


def secret_digest(secret: str) -> str:
    """What is stored of a token or session id: its SHA-256."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def revoke_all(conn: sqlite3.Connection, user_id: int, now: datetime) -> int:
    """Revoke every live token of a user; the number revoked."""
    return int(
        conn.execute(
            "UPDATE api_tokens SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
            (format_time(now), user_id),
        ).rowcount
    )


class TokenMixin:
    """The API-token methods of ``Accounts``."""

    _db: Database
    _audit: AuditTrail
    policy: AccountPolicy

    def _start_token_uses(self) -> None:
        self._uses: dict[int, datetime] = {}  # token id -> last use not yet written
        self._uses_lock = threading.Lock()
        self._uses_since: datetime | None = None  # when the oldest of them was noted
        self._first_uses: set[int] = set()  # tokens whose first use this process wrote

    def issue_token(self, name: str, *, by: Actor, presented: str | None = None) -> str:
        """A new API token for a user. Shown only once.

        ``presented``: the session id or API token the request came with, checked to be
        still live in the transaction that issues the token: a request let in just before a
        new password or a disabling ended its session cannot leave a token behind that
        outlives them.
        """
        token = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
        with self._db.write() as conn:
            actor = current_actor(conn, by)
            row = check_visible(existing_user(conn, name), actor)
            if actor.name != row["name"]:
                require(actor, Permission.MANAGE_USERS)
            if row["disabled"]:
                raise InputError(f"{row['name']} is disabled")
            if presented is not None and not self._still_live(conn, presented, actor.name):
                raise AuthenticationError(
                    "the session or API token this request came with has ended (a new "
                    "password, or the account disabled): log in again"
                )
            prefix = token[:TOKEN_DISPLAY_CHARS]
            now = self._db.now()
            lifetime = self.policy.token_lifetime
            expires = None if lifetime is None else format_time(now + lifetime)
            conn.execute(
                "INSERT INTO api_tokens (user_id, digest, prefix, created_at, expires_at) "
                "VALUES (?, ?, ?, ?, ?)",
                (row["id"], secret_digest(token), prefix, format_time(now), expires),
            )
            self._audit.append(
                actor=actor.name,
                action=Action.TOKEN_ISSUE,
                payload={"name": row["name"], "prefix": prefix},
                org=row["org_name"] or PLATFORM_ORG,
            )
        return token

    def _still_live(self, conn: sqlite3.Connection, presented: str, name: str) -> bool:
        """Whether ``presented`` (an API token or a session id) is a live one of ``name``: the
        queries ``user_for_token`` and ``session_user`` look a secret up with."""
        token = presented.startswith(TOKEN_PREFIX)
        query = _TOKEN_USER if token else SESSION_USER
        found = conn.execute(query, (secret_digest(presented),)).fetchone()
        if found is None or found["disabled"] or found["name"].casefold() != name.casefold():
            return False
        expires = self._expiry(found["issued"], found["expires_at"]) if token else None
        return expires is None or self._db.now() < expires

    def tokens(self, name: str) -> list[TokenInfo]:
        """Every token of a user, oldest first, with its state now."""
        now = self._db.now()
        with self._db.read() as conn:
            row = existing_user(conn, name)
            rows = conn.execute(
                "SELECT id, prefix, created_at, revoked_at, expires_at, last_used_at "
                "FROM api_tokens WHERE user_id = ? ORDER BY id",
                (row["id"],),
            ).fetchall()
        with self._uses_lock:
            noted = {int(r["id"]): self._uses.get(int(r["id"])) for r in rows}
        out = []
        for r in rows:
            revoked = maybe_time(r["revoked_at"])
            expires = self._expiry(r["created_at"], r["expires_at"])
            state: TokenState = (
                "revoked"
                if revoked is not None
                else "expired"
                if expires is not None and now >= expires
                else "live"
            )
            used = (t for t in (maybe_time(r["last_used_at"]), noted[r["id"]]) if t)
            created = parse_time(r["created_at"])
            out.append(
                TokenInfo(r["prefix"], created, revoked, expires, max(used, default=None), state)
            )
        return out

    def user_for_token(self, token: str) -> User:
        """The user behind a live API token (and its last use noted, at most once a minute)."""
        if not isinstance(token, str) or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
            raise AuthenticationError(BAD_TOKEN)
        now = self._db.now()
        with self._db.read() as conn:
            row = live_user_row(conn, _TOKEN_USER, secret_digest(token), BAD_TOKEN)
        expires = self._expiry(row["issued"], row["expires_at"])
        if expires is not None and now >= expires:
            raise AuthenticationError(
                f"this API token expired on {expires.date().isoformat()}; issue a new one"
            )
        self._note_use(int(row["tid"]), maybe_time(row["last_used_at"]), now)
        return user_of(row)

    def _note_use(self, token_id: int, stored: datetime | None, now: datetime) -> None:
        """Remember a token's use (to the minute); write the uses once a minute at most, and
        a token's first use (none stored, none noted) at once."""
        with self._uses_lock:
            noted = self._uses.get(token_id)
            seen = max((t for t in (stored, noted) if t is not None), default=None)
            first = seen is None and token_id not in self._first_uses
            if seen is None or now - seen >= TOKEN_TOUCH_INTERVAL:
                self._uses[token_id] = now
                if self._uses_since is None:
                    self._uses_since = now
            if first:
                self._first_uses.add(token_id)  # written once, not by each request of a burst
            due = first or (
                self._uses_since is not None and now - self._uses_since >= TOKEN_TOUCH_INTERVAL
            )
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

    def revoke_tokens(self, name: str, *, by: Actor) -> int:
        """Revoke every live token of a user (yourself, or anyone as an admin)."""
        with self._db.write() as conn:
            actor = current_actor(conn, by)
            row = check_visible(existing_user(conn, name), actor)
            if actor.name != row["name"]:
                require(actor, Permission.MANAGE_USERS)
            count = revoke_all(conn, row["id"], self._db.now())
            self._audit.append(
                actor=actor.name,
                action=Action.TOKEN_REVOKE,
                payload={"name": row["name"], "count": count},
                org=row["org_name"] or PLATFORM_ORG,
            )
        return count
