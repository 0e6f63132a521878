"""Shared set-up of the accountability unit tests: a fake clock, cheap hashing, and reading
or editing the database behind the library's back (the `clock` and `store` fixtures are in
tests/unit/conftest.py, `people` in tests/unit/accountability/conftest.py; the latter also
runs the accountability tests on SQLite and on PostgreSQL)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from argon2 import PasswordHasher

from facesearch.accountability import (
    AccountabilityStore,
    Action,
    AuditEnvelope,
    AuditReport,
    BreakKind,
    entry_hash,
    local_actor,
)
from facesearch.accountability.chain import AUDIT_COLUMNS, canonical_json
from facesearch.accountability.db import FILENAME
from facesearch.accountability.schema import MIGRATIONS

CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)  # fast tests, same code path
T0 = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
PW = "correct horse battery"


class FakeClock:
    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


ROOT = local_actor("root")  # the person at the CLI of the test home


def connect(store: AccountabilityStore) -> sqlite3.Connection:
    """A connection of its own to the store's file or PostgreSQL schema."""
    if not store.db.url:
        return sqlite3.connect(store.path)
    from facesearch.accountability.db import LOCK_KEY, PG_SCHEMA
    from facesearch.sqlstore.pg import PgConnection

    return cast(sqlite3.Connection, PgConnection(store.db.url, PG_SCHEMA, LOCK_KEY))


def raw(store: AccountabilityStore, sql: str) -> list[tuple[object, ...]]:
    """Rows read straight from the database, as anyone with it could."""
    conn = connect(store)
    try:
        return [tuple(row) for row in conn.execute(sql).fetchall()]
    finally:
        conn.close()


def stored_bytes(store: AccountabilityStore, table: str) -> bytes:
    """What is stored: the SQLite file, or on PostgreSQL every row of ``table`` as text."""
    if not store.db.url:
        return store.path.read_bytes()
    return repr(raw(store, f"SELECT * FROM {table}")).encode()


def pages_of(store: AccountabilityStore, table: str) -> bytes:
    """On PostgreSQL: the raw pages of ``table`` and of its TOAST table (pageinspect), what
    its files hold; on SQLite: the file and its write-ahead log."""
    if not store.db.url:
        files = [store.path, store.path.with_name(store.path.name + "-wal")]
        return b"".join(f.read_bytes() for f in files if f.exists())
    import psycopg

    from facesearch.accountability.db import PG_SCHEMA

    out = []
    with psycopg.connect(store.db.url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pageinspect")
        rel = f"{PG_SCHEMA}.{table}"
        toast = conn.execute(
            "SELECT reltoastrelid::regclass::text FROM pg_class WHERE oid = %s::regclass", (rel,)
        ).fetchone()
        for name in (rel, toast[0] if toast else None):
            if name is None or name == "-":
                continue
            size = conn.execute("SELECT pg_relation_size(%s::regclass)", (name,)).fetchone()
            for block in range(int(size[0]) // 8192 if size else 0):
                page = conn.execute("SELECT get_raw_page(%s, %s)", (name, block)).fetchone()
                out.append(bytes(page[0]) if page else b"")
    return b"".join(out)


def tamper(store: AccountabilityStore, *statements: str) -> None:
    """Edit the database behind the library's back, as someone with access to it could."""
    conn = connect(store)
    triggers = ("audit_log_no_update", "audit_log_no_delete", "audit_mac_no_delete")
    for trigger in triggers:
        table = trigger.rsplit("_no_", 1)[0]
        on = f" ON {table}" if store.db.url else ""
        conn.execute(f"DROP TRIGGER IF EXISTS {trigger}{on}")
    for statement in statements:
        conn.execute(statement)
    if not store.db.url:  # PostgreSQL's connection commits each statement
        conn.commit()
    conn.close()


def sql_text(value: str | None) -> str:
    """``value`` as an SQL literal (NULL for None)."""
    return "NULL" if value is None else "'" + value.replace("'", "''") + "'"


def insert_entry(envelope: AuditEnvelope, digest: str | None = None) -> str:
    """SQL inserting the ``audit_log`` row of ``envelope`` (every column, its org last), with
    its correct hash unless ``digest`` is given: what a forger with the file could write."""
    e = envelope
    values = [
        str(e.seq),
        *map(sql_text, (e.time, e.actor, e.action, e.case, e.purpose)),
        sql_text(canonical_json(e.payload)),
        sql_text(e.prev_hash),
        sql_text(entry_hash(e) if digest is None else digest),
        sql_text(e.org),
    ]
    return f"INSERT INTO audit_log ({AUDIT_COLUMNS}) VALUES ({', '.join(values)})"


def kinds(report: AuditReport) -> list[tuple[BreakKind, int | None, int | None]]:
    """What a check found, as (kind, first seq, last seq)."""
    return [(b.kind, b.first, b.last) for b in report.breaks]


def fill(store: AccountabilityStore, clock: FakeClock, n: int) -> None:
    """Append ``n`` entries, one a second, by three actors in two cases."""
    for i in range(n):
        clock.advance(seconds=1)
        store.audit.append(
            actor=f"user{i % 3}",
            action=Action.INGEST,
            case=f"C-{i % 2}",
            purpose="test",
            payload={"i": i},
        )


def at_version(
    conn: sqlite3.Connection, version: int, migrations: tuple[Any, ...] = MIGRATIONS
) -> sqlite3.Connection:
    """``conn`` (an empty database) migrated to schema ``version`` only, as a home that an
    older facesearch left; ``migrations``: ``PG_MIGRATIONS`` for a PostgreSQL connection."""
    for migrate in migrations[:version]:
        migrate(conn)
    conn.execute(f"PRAGMA user_version = {int(version)}")
    return conn


def old_home(home: Path, version: int) -> sqlite3.Connection:
    """A connection to the new SQLite file of ``home`` at schema ``version`` (commit it)."""
    home.mkdir(parents=True, exist_ok=True)
    return at_version(sqlite3.connect(home / FILENAME), version)


def open_store(
    paths: dict[str, Path], clock: FakeClock | None = None, database_url: str = ""
) -> AccountabilityStore:
    """A store opened with the key and anchor files of ``paths`` (the ``paths`` fixture), on
    SQLite or (``database_url``) PostgreSQL."""
    return AccountabilityStore.open(
        paths["home"],
        clock=clock,
        hasher=CHEAP,
        key_file=paths["key_file"],
        anchor_file=paths["anchor_file"],
        database_url=database_url,
    )
