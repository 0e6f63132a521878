"""Switching a SQLite connection to WAL mode, shared by the catalog and the accountability store.

``PRAGMA journal_mode = WAL`` on a file that another process is opening (or switching) at the
same moment can fail with "database is locked" straight away: SQLite does not run the busy
handler for it. So the switch is retried with a short backoff until the busy timeout.
"""

from __future__ import annotations

import sqlite3
import time


def enable_wal(conn: sqlite3.Connection, timeout_s: float) -> str:
    """Ask for WAL; returns the journal mode in force (lower case)."""
    deadline = time.monotonic() + timeout_s
    delay = 0.005
    while True:
        try:
            return str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]).lower()
        except sqlite3.OperationalError as exc:
            busy = "locked" in str(exc) or "busy" in str(exc)
            if not busy or time.monotonic() >= deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)
