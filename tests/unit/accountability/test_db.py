"""The accountability file's schema migrations."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from accountability_helpers import CHEAP

from facesearch.accountability import FILENAME, SCHEMA_VERSION, AccountabilityStore
from facesearch.accountability.db import MIGRATIONS, format_time
from facesearch.accountability.decisions import AWAITING_QUERY


def test_a_version_3_file_gets_the_index_of_entries_by_action_and_time(tmp_path: Path):
    home = tmp_path / "home"
    home.mkdir()
    conn = sqlite3.connect(home / FILENAME)
    for migrate in MIGRATIONS[:3]:
        migrate(conn)
    conn.execute("PRAGMA user_version = 3")
    conn.commit()
    conn.close()
    with AccountabilityStore.open(
        home, hasher=CHEAP, key_file=tmp_path / "k", anchor_file=tmp_path / "a"
    ) as store:
        assert store.decisions.awaiting_second_person("bob", datetime.now(UTC)) == []
    conn = sqlite3.connect(home / FILENAME)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 4
    since = format_time(datetime(2025, 1, 1, tzinfo=UTC))
    plan = " ".join(
        str(row[3])
        for row in conn.execute(
            "EXPLAIN QUERY PLAN " + AWAITING_QUERY, ("decision", since, "bob", "possible_match")
        )
    )
    conn.close()
    assert "audit_log_action_time (action=? AND time>?)" in plan  # the window, not every entry
