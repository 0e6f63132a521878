"""PgConnection against a real throwaway PostgreSQL cluster (Debian's postgresql)."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest

from facesearch.errors import ConfigError
from facesearch.sqlstore import database_target
from facesearch.sqlstore.pg import PgConnection, to_pyformat


def test_placeholders_and_percent_signs_outside_and_inside_literals() -> None:
    assert to_pyformat("SELECT ? WHERE a LIKE '50%?' AND b = ?") == (
        "SELECT %s WHERE a LIKE '50%%?' AND b = %s"
    )


def test_database_url_is_checked() -> None:
    assert database_target("").kind == "sqlite"
    assert database_target("postgresql://u@h:5432/db").is_postgres
    for bad in ("mysql://u@h/db", "postgresql://u@h:99999/db", "postgresql://u@h/", "/tmp/x"):
        with pytest.raises(ConfigError):
            database_target(bad)
    target = database_target("postgresql://u:secret@h/db")
    assert "secret" not in target.redacted()
    # libpq takes the password as a query parameter too: logs, stats and an erasure's
    # catalog_store.database showed it
    target = database_target("postgresql://u@/db?host=h&password=secret&sslpassword=secret2")
    assert target.redacted() == "postgresql://u@/db?host=h&password=***&sslpassword=***"


def test_rows_versions_errors_and_transactions(pg_url: str) -> None:
    conn = PgConnection(pg_url, "s_test", lock_key=11)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 0
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("CREATE TABLE t (id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
                 "name TEXT UNIQUE, data BYTEA)")  # fmt: skip
    row = conn.execute(
        "INSERT INTO t (name, data) VALUES (?, ?) RETURNING id, name", ("a", b"\x00\x01")
    ).fetchone()
    assert row is not None and row[0] == row["id"] == 1 and row["name"] == "a"
    conn.execute("PRAGMA user_version = 3")
    conn.execute("COMMIT")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 3
    assert conn.execute("SELECT data FROM t").fetchone()[0] == b"\x00\x01"
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute("INSERT INTO t (name) VALUES (?)", ("a",))
    with pytest.raises(sqlite3.DatabaseError):
        conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO t (name) VALUES (?)", ("b",))
    conn.execute("ROLLBACK")
    assert [r["name"] for r in conn.execute("SELECT name FROM t ORDER BY id")] == ["a"]
    conn.close()


def test_write_transactions_queue_across_connections(pg_url: str) -> None:
    """Two connections' BEGIN IMMEDIATE exclude each other (the advisory lock), as SQLite's."""
    a = PgConnection(pg_url, "s_lock", lock_key=12)
    b = PgConnection(pg_url, "s_lock", lock_key=12)
    a.execute("CREATE TABLE log (n INTEGER)")
    a.execute("BEGIN IMMEDIATE")
    entered = threading.Event()

    def second() -> None:
        b.execute("BEGIN IMMEDIATE")
        entered.set()
        b.execute("INSERT INTO log VALUES (2)")
        b.execute("COMMIT")

    t = threading.Thread(target=second)
    t.start()
    time.sleep(0.5)
    assert not entered.is_set()  # b waits for a's transaction
    a.execute("INSERT INTO log VALUES (1)")
    a.execute("COMMIT")
    t.join(timeout=30)
    assert entered.is_set()
    assert [r[0] for r in a.execute("SELECT n FROM log ORDER BY n")] == [1, 2]
    a.close()
    b.close()


def test_many_first_connections_at_once_create_the_schema_once(pg_url: str) -> None:
    """CREATE ... IF NOT EXISTS is not safe against itself in PostgreSQL: two processes
    opening a store on a new database at once failed on pg_type's unique index."""
    errors: list[BaseException] = []
    conns: list[PgConnection] = []
    barrier = threading.Barrier(6)

    def open_one() -> None:
        barrier.wait()
        try:
            conns.append(PgConnection(pg_url, "s_race", lock_key=13))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    for c in conns:
        c.close()
    assert not errors, errors
    assert len(conns) == 6
