"""Rate limits shared by every replica: token buckets in PostgreSQL.

The embedded server keeps its token buckets in memory (``server/limits.py``). Behind a load
balancer that would give each replica its own budget, and N replicas would allow N times the
configured rate. With ``database_url`` set, the buckets live in one table of the
``facesearch_limits`` schema instead, with the same arithmetic (``per_minute`` tokens a minute,
bursts of up to ``per_minute``), taken by one atomic upsert per request: the row lock orders
concurrent takes of one key, and the time is the database server's clock, so replicas with
skewed clocks agree. Buckets unused for ten minutes are full again and are pruned.
"""

from __future__ import annotations

import random
import threading

from facesearch.sqlstore.pg import PgConnection

SCHEMA = "facesearch_limits"
LOCK_KEY = 7303

_TAKE = """
INSERT INTO rate_buckets AS b (scope, key, tokens, at, granted)
VALUES (?, ?, ?, extract(epoch FROM clock_timestamp()), 1)
ON CONFLICT (scope, key) DO UPDATE SET
    tokens = CASE
        WHEN least(?, b.tokens + (EXCLUDED.at - b.at) * ?) >= 1
        THEN least(?, b.tokens + (EXCLUDED.at - b.at) * ?) - 1
        ELSE least(?, b.tokens + (EXCLUDED.at - b.at) * ?)
    END,
    granted = CASE WHEN least(?, b.tokens + (EXCLUDED.at - b.at) * ?) >= 1 THEN 1 ELSE 0 END,
    at = EXCLUDED.at
RETURNING tokens, granted
"""


class SharedRateLimiter:
    """``take(key)`` as ``server.limits.RateLimiter``, over one PostgreSQL table."""

    def __init__(self, url: str, scope: str, per_minute: int) -> None:
        self.per_minute = per_minute
        self.scope = scope
        self._lock = threading.Lock()
        self._conn = PgConnection(url, SCHEMA, LOCK_KEY)
        self._conn.execute("BEGIN IMMEDIATE")  # replicas starting at once: one creates it
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS rate_buckets (scope TEXT NOT NULL, key TEXT NOT NULL, "
            "tokens DOUBLE PRECISION NOT NULL, at DOUBLE PRECISION NOT NULL, "
            "granted INTEGER NOT NULL, PRIMARY KEY (scope, key))"
        )
        self._conn.execute("COMMIT")

    def take(self, key: str) -> float:
        """Take one token for ``key``: 0.0 if allowed, else seconds until one is there."""
        if self.per_minute <= 0:
            return 0.0
        cap, rate = float(self.per_minute), self.per_minute / 60.0
        with self._lock:
            row = self._conn.execute(
                _TAKE, (self.scope, key, cap - 1, *([cap, rate] * 4))
            ).fetchone()
            if random.random() < 0.001:
                self._conn.execute(
                    "DELETE FROM rate_buckets WHERE at < extract(epoch FROM clock_timestamp())"
                    " - 600"
                )
        assert row is not None
        tokens, granted = float(row[0]), int(row[1])
        return 0.0 if granted else (1.0 - tokens) / rate

    def close(self) -> None:
        self._conn.close()
