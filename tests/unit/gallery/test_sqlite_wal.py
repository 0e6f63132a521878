from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from facesearch.gallery.sqlite_wal import enable_wal


def test_waits_for_a_lock_held_by_another_connection(tmp_path: Path) -> None:
    path = tmp_path / "x.sqlite"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    threading.Timer(0.3, lambda: holder.execute("COMMIT")).start()
    other = sqlite3.connect(path, timeout=0, isolation_level=None)  # no busy handler help
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        other.execute("PRAGMA journal_mode = WAL")  # what a single try does
    assert enable_wal(other, timeout_s=5) == "wal"
    other.close()
    holder.close()


def test_gives_up_after_the_timeout(tmp_path: Path) -> None:
    path = tmp_path / "x.sqlite"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN EXCLUSIVE")
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        enable_wal(other, timeout_s=0.1)
    holder.execute("COMMIT")
    other.close()
    holder.close()
