"""The accountability file's schema migrations."""

from __future__ import annotations

import sqlite3
import stat
from datetime import UTC, datetime
from pathlib import Path

import pytest
from accountability_helpers import CHEAP, connect, old_home

from facesearch.accountability import (
    FILENAME,
    GENESIS_HASH,
    SCHEMA_VERSION,
    AccountabilityStore,
    Action,
    AuditHead,
)
from facesearch.accountability.db import format_time
from facesearch.accountability.decisions import AWAITING_QUERY
from facesearch.errors import CatalogError


def test_a_version_3_file_gets_the_index_of_entries_by_action_and_time(tmp_path: Path):
    home = tmp_path / "home"
    conn = old_home(home, 3)
    conn.commit()
    conn.close()
    with AccountabilityStore.open(
        home, hasher=CHEAP, key_file=tmp_path / "k", anchor_file=tmp_path / "a"
    ) as store:
        assert store.decisions.awaiting_second_person("bob", datetime.now(UTC)) == []
    conn = sqlite3.connect(home / FILENAME)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 9
    since = format_time(datetime(2025, 1, 1, tzinfo=UTC))
    plan = " ".join(
        str(row[3])
        for row in conn.execute(
            "EXPLAIN QUERY PLAN " + AWAITING_QUERY, ("decision", since, "bob", "possible_match")
        )
    )
    conn.close()
    assert "audit_log_action_time (action=? AND time>?)" in plan  # the window, not every entry


# --- the file ---------------------------------------------------------------------------------


def test_schema_file_and_pragmas(tmp_path: Path):
    store = AccountabilityStore.open(tmp_path, hasher=CHEAP)
    path = tmp_path / FILENAME
    assert store.path == path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    with store.db.read() as own:  # the store's own connection
        assert own.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert own.execute("PRAGMA secure_delete").fetchone()[0] == 1
    store.close()


def test_reopen_keeps_data_and_refuses_a_newer_schema(tmp_path: Path, database_url: str):
    def reopen() -> AccountabilityStore:
        return AccountabilityStore.open(tmp_path, hasher=CHEAP, database_url=database_url)

    with reopen() as s:
        s.audit.append(actor="a", action=Action.LOGIN)
    with reopen() as s:
        assert s.audit.head().seq == 1
        conn = connect(s)
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
        conn.close()
    with pytest.raises(CatalogError, match="newer"):
        reopen()


def test_a_file_that_is_no_database_is_refused(tmp_path: Path):
    other = tmp_path / "other"
    other.mkdir()
    (other / FILENAME).write_bytes(b"this is not a database, just text" * 100)
    with pytest.raises(CatalogError):
        AccountabilityStore.open(other, hasher=CHEAP)


def test_migrations_run_forward_from_an_empty_file(tmp_path: Path):
    sqlite3.connect(tmp_path / FILENAME).close()  # version 0, no tables
    with AccountabilityStore.open(tmp_path, hasher=CHEAP) as s:
        assert s.audit.head() == AuditHead(0, GENESIS_HASH)
        assert not s.accounts.has_users()


def test_a_file_with_a_broken_foreign_key_is_refused_after_migrating(tmp_path: Path):
    """Migrations run with foreign keys off (version 6 rebuilds ``users``): the file is
    checked afterwards, and a reference to nothing is refused, not carried along."""
    home = tmp_path / "home"
    conn = old_home(home, 5)
    conn.execute(
        "INSERT INTO cases (number, title, status, opened_by, opened_at) "
        "VALUES ('K-1', 't', 'open', 'x', 'x')"
    )
    conn.execute("INSERT INTO case_members VALUES (1, 42, 'x', 'x')")  # user 42: none
    conn.commit()
    conn.close()
    with pytest.raises(CatalogError, match="foreign key is broken"):
        AccountabilityStore.open(
            home, hasher=CHEAP, key_file=tmp_path / "k", anchor_file=tmp_path / "a"
        )
