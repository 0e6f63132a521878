"""Erasure drafts shared by every replica: the photo of a pending "forget faces like this"
held in PostgreSQL between the preview and the confirmation (``server/drafts.py`` holds them
in memory when the deployment is embedded). Behind a load balancer the confirmation may reach
another replica than the preview; the draft must be there.

Same contract as the in-memory one: for its owner only, for ``ttl_s`` seconds (the
database's clock), taken once (``DELETE ... RETURNING``: two replicas cannot both take it),
at most ``most`` per owner (the oldest goes first). The photo is personal data: it is deleted
when taken or when it expires (expired rows are purged at every put), never kept longer.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass

from facesearch.errors import NotFoundError
from facesearch.sqlstore.pg import PgConnection

SCHEMA = "facesearch_limits"
LOCK_KEY = 7303
TTL_S = 15 * 60.0
MOST = 32


@dataclass(frozen=True)
class Draft:
    """A photo waiting for its erasure to be confirmed."""

    owner: str
    photo: bytes
    max_fmr: float | None
    expires: float  # seconds: time.monotonic() in memory, the database's epoch here


def not_found(ttl_s: float) -> NotFoundError:
    return NotFoundError(
        "no erasure waits for this confirmation (it was done, or it expired after "
        f"{ttl_s / 60:.0f} minutes): choose the photo again"
    )


class SharedDrafts:
    """``put``/``take`` as ``server.drafts.PhotoDrafts``, over one PostgreSQL table."""

    def __init__(self, url: str, ttl_s: float = TTL_S, most: int = MOST) -> None:
        self.ttl_s, self.most = ttl_s, most
        self._lock = threading.Lock()
        self._conn = PgConnection(url, SCHEMA, LOCK_KEY)
        self._conn.execute("BEGIN IMMEDIATE")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS erase_drafts (token TEXT PRIMARY KEY, owner TEXT NOT NULL,"
            " photo BYTEA NOT NULL, max_fmr DOUBLE PRECISION, expires DOUBLE PRECISION NOT NULL)"
        )
        self._conn.execute("COMMIT")

    def put(self, owner: str, photo: bytes, max_fmr: float | None) -> str:
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.execute(
                    "DELETE FROM erase_drafts "
                    "WHERE expires <= extract(epoch FROM clock_timestamp())"
                )
                self._conn.execute(
                    "DELETE FROM erase_drafts WHERE token IN (SELECT token FROM erase_drafts "
                    "WHERE owner = ? ORDER BY expires DESC OFFSET ?)",
                    (owner, self.most - 1),
                )
                self._conn.execute(
                    "INSERT INTO erase_drafts (token, owner, photo, max_fmr, expires) VALUES "
                    "(?, ?, ?, ?, extract(epoch FROM clock_timestamp()) + ?)",
                    (token, owner, photo, max_fmr, self.ttl_s),
                )
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return token

    def take(self, token: str, owner: str) -> Draft:
        with self._lock:
            row = self._conn.execute(
                "DELETE FROM erase_drafts WHERE token = ? AND owner = ? "
                "AND expires > extract(epoch FROM clock_timestamp()) "
                "RETURNING owner, photo, max_fmr, expires",
                (token, owner),
            ).fetchone()
        if row is None:
            raise not_found(self.ttl_s)
        return Draft(str(row[0]), bytes(row[1]), row[2], float(row[3]))

    def close(self) -> None:
        self._conn.close()
