"""Copy one store's rows from its SQLite file into its PostgreSQL schema (``facesearch migrate``).

Both sides must already be at the same schema version (the caller opens both stores first,
which migrates them), so every SQLite table has a PostgreSQL table of the same name and
columns. Rows are copied verbatim, ids included (``OVERRIDING SYSTEM VALUE``), in foreign-key
order, inside the caller's write transaction on the target.

Re-running is safe, and makes the target equal to the source:

- Rows the target has and the source no longer has (erased at home since the last run: faces,
  images, subjects, persons, kept probes) are deleted first, children before parents, except
  from append-only tables: a copy never undoes an erasure.
- A table guarded as append-only (a trigger that refuses UPDATE, like the audit trail) gets
  ``ON CONFLICT DO NOTHING``: what is there stays, what is missing is added.
- Every other table gets ``ON CONFLICT (primary key) DO UPDATE``: the target row becomes the
  source row again (the first run's copy is refreshed if the source moved on).
- Tables that a trigger updates when rows are inserted elsewhere (running counts) are copied
  once more at the end, so that the copy of the children does not count them twice.
- Identity sequences are moved past the largest id copied, so the next insert on the target
  does not collide.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from typing import Any

from facesearch.sqlstore.pg import PgConnection

BATCH = 2_000

_UPDATES = re.compile(r"\bUPDATE\s+([A-Za-z_][A-Za-z0-9_]*)", re.I)
_NO_UPDATE = re.compile(r"BEFORE\s+UPDATE\s+ON\s+([A-Za-z_][A-Za-z0-9_]*)", re.I)


@dataclass(frozen=True)
class TableCopy:
    table: str
    source_rows: int
    target_rows: int


@dataclass(frozen=True)
class _Table:
    name: str
    columns: tuple[str, ...]
    key: tuple[str, ...]
    parents: frozenset[str]


def _tables(source: sqlite3.Connection) -> list[_Table]:
    names = [
        r[0]
        for r in source.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' "
            "AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )
    ]
    tables = []
    for name in names:
        info = source.execute(f'PRAGMA table_info("{name}")').fetchall()
        columns = tuple(r[1] for r in info)
        key = tuple(r[1] for r in sorted((r for r in info if r[5]), key=lambda r: r[5]))
        parents = frozenset(
            r[2] for r in source.execute(f'PRAGMA foreign_key_list("{name}")') if r[2] != name
        )
        tables.append(_Table(name, columns, key, parents))
    return _in_dependency_order(tables)


def _in_dependency_order(tables: list[_Table]) -> list[_Table]:
    done: list[_Table] = []
    placed: set[str] = set()
    pending = list(tables)
    while pending:
        ready = [t for t in pending if t.parents <= placed | {t.name}]
        if not ready:  # a cycle: keep the rest in name order (FKs are checked at COMMIT)
            ready = pending[:1]
        for t in ready:
            done.append(t)
            placed.add(t.name)
            pending.remove(t)
    return done


def _triggers(source: sqlite3.Connection) -> tuple[set[str], set[str]]:
    """(tables refusing UPDATE, tables that triggers update) from the SQLite schema."""
    refusing: set[str] = set()
    updated: set[str] = set()
    for (sql,) in source.execute("SELECT sql FROM sqlite_master WHERE type = 'trigger'"):
        text = str(sql)
        guard = _NO_UPDATE.search(text)
        if guard and "RAISE" in text.upper():
            refusing.add(guard.group(1))
            continue
        body = text.split("BEGIN", 1)[-1]
        updated.update(m.group(1) for m in _UPDATES.finditer(body))
    return refusing, updated


def _insert_sql(table: _Table, *, append_only: bool) -> str:
    cols = ", ".join(f'"{c}"' for c in table.columns)
    marks = ", ".join("?" for _ in table.columns)
    sql = f'INSERT INTO "{table.name}" ({cols}) OVERRIDING SYSTEM VALUE VALUES ({marks})'
    if append_only or not table.key:
        return sql + " ON CONFLICT DO NOTHING"
    rest = [c for c in table.columns if c not in table.key]
    conflict = ", ".join(f'"{c}"' for c in table.key)
    if not rest:
        return sql + f" ON CONFLICT ({conflict}) DO NOTHING"
    sets = ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in rest)
    return sql + f" ON CONFLICT ({conflict}) DO UPDATE SET {sets}"


def _delete_gone(source: sqlite3.Connection, target: PgConnection, table: _Table) -> None:
    cols = ", ".join(f'"{c}"' for c in table.key)
    kept = {tuple(r) for r in source.execute(f'SELECT {cols} FROM "{table.name}"')}
    found = target.execute(f'SELECT {cols} FROM "{table.name}"').fetchall()
    gone = [tuple(r) for r in found if tuple(r) not in kept]
    where = " AND ".join(f'"{c}" = ?' for c in table.key)
    target.executemany(f'DELETE FROM "{table.name}" WHERE {where}', gone)


def _copy_rows(source: sqlite3.Connection, target: PgConnection, table: _Table, sql: str) -> int:
    cols = ", ".join(f'"{c}"' for c in table.columns)
    order = ", ".join(f'"{c}"' for c in table.key) or "rowid"
    cursor = source.execute(f'SELECT {cols} FROM "{table.name}" ORDER BY {order}')
    json = _jsonb_columns(target, table)
    copied = 0
    while True:
        rows: list[Any] = cursor.fetchmany(BATCH)
        if not rows:
            return copied
        target.executemany(sql, [_row_for(r, json) for r in rows])
        copied += len(rows)


def _jsonb_columns(target: PgConnection, table: _Table) -> frozenset[int]:
    """Positions of the columns that are JSONB on the target (an untyped SQLite column whose
    integers and strings must stay integers and strings, like decisions.face_id)."""
    found = target.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = ? "
        "AND table_name = ? AND data_type = 'jsonb'",
        (target.schema, table.name),
    ).fetchall()
    names = {r[0] for r in found}
    return frozenset(i for i, c in enumerate(table.columns) if c in names)


def _row_for(row: Any, json: frozenset[int]) -> tuple[Any, ...]:
    if not json:
        return tuple(row)
    from psycopg.types.json import Jsonb

    return tuple(Jsonb(v) if i in json and v is not None else v for i, v in enumerate(row))


def _move_sequences(target: PgConnection, table: str) -> None:
    identity = target.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = ? "
        "AND table_name = ? AND (is_identity = 'YES' OR column_default LIKE 'nextval%')",
        (target.schema, table),
    ).fetchall()
    for (column,) in identity:
        target.execute(
            f"SELECT setval(pg_get_serial_sequence(?, ?), "
            f'coalesce((SELECT max("{column}") FROM "{table}"), 0) + 1, false)',
            (f'"{target.schema}"."{table}"', column),
        )


def copy_store(source: sqlite3.Connection, target: PgConnection) -> list[TableCopy]:
    """Copy every table of ``source`` into ``target`` (inside the caller's transaction)."""
    tables = _tables(source)
    refusing, updated = _triggers(source)
    report = []
    for table in reversed(tables):  # the source's deletions first (their triggers too)
        if table.key and table.name not in refusing:
            _delete_gone(source, target, table)
    for table in tables:
        _copy_rows(source, target, table, _insert_sql(table, append_only=table.name in refusing))
    for table in tables:  # running counts that the children's inserts just bumped
        if table.name in updated and table.name not in refusing:
            _copy_rows(source, target, table, _insert_sql(table, append_only=False))
    for table in tables:
        _move_sequences(target, table.name)
        source_rows = int(source.execute(f'SELECT count(*) FROM "{table.name}"').fetchone()[0])
        target_row = target.execute(f'SELECT count(*) FROM "{table.name}"').fetchone()
        target_rows = int(target_row[0]) if target_row else 0
        report.append(TableCopy(table.name, source_rows, target_rows))
    return report
