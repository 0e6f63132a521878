"""Ingest jobs visible from every replica: each replica publishes the state of the upload
jobs it runs (``server/jobs.py``: when queued, at each status change, at most once a second
while ingesting, and when done) to one PostgreSQL table, and answers for a job it does not run
from there. A job's view is what its own replica shows (JSON); finished jobs are kept
``KEEP_DAYS`` days. The embedded server keeps its jobs in memory only."""

from __future__ import annotations

import json
import threading
from typing import Any

from facesearch.sqlstore.pg import PgConnection

SCHEMA = "facesearch_limits"
LOCK_KEY = 7303
KEEP_DAYS = 7


class SharedJobBoard:
    def __init__(self, url: str) -> None:
        self._lock = threading.Lock()
        self._conn = PgConnection(url, SCHEMA, LOCK_KEY)
        self._conn.execute("BEGIN IMMEDIATE")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS ingest_jobs (id TEXT PRIMARY KEY, created TEXT NOT NULL,"
            " updated DOUBLE PRECISION NOT NULL, view TEXT NOT NULL)"
        )
        self._conn.execute(
            "DELETE FROM ingest_jobs WHERE updated < extract(epoch FROM clock_timestamp()) - ?",
            (KEEP_DAYS * 86_400,),
        )
        self._conn.execute("COMMIT")

    def publish(self, view: dict[str, Any]) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT INTO ingest_jobs (id, created, updated, view) VALUES "
                "(?, ?, extract(epoch FROM clock_timestamp()), ?) ON CONFLICT (id) DO UPDATE "
                "SET updated = EXCLUDED.updated, view = EXCLUDED.view",
                (view["id"], view["created"], json.dumps(view)),
            )

    def get(self, job_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT view FROM ingest_jobs WHERE id = ?", (job_id,)
            ).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def recent(self, limit: int) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT view FROM ingest_jobs ORDER BY created DESC LIMIT ?", (limit,)
            ).fetchall()
        return [dict(json.loads(r[0])) for r in rows]

    def close(self) -> None:
        self._conn.close()
