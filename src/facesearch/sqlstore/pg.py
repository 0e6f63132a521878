"""A PostgreSQL connection that the SQLite-shaped stores can use unchanged where SQL agrees.

The catalog and the accountability store were written against ``sqlite3``: ``?`` parameters,
rows readable by index and by name, ``BEGIN IMMEDIATE`` for a write, ``PRAGMA user_version``
for the schema version, ``sqlite3.IntegrityError`` for a broken constraint. ``PgConnection``
gives them the same surface over psycopg 3, so the stores keep one body of SQL where the two
dialects agree (standard SQL, ``ON CONFLICT``, ``RETURNING``) and branch on ``dialect`` only
where they do not (DDL, a few functions).

What it translates, and nothing else:

- ``?`` placeholders become ``%s`` (outside string literals; a literal ``%`` is doubled).
- ``BEGIN IMMEDIATE`` becomes ``BEGIN`` plus ``pg_advisory_xact_lock(lock_key)``: writers of
  one store queue behind each other across every process and machine, exactly like SQLite's
  one writer, until COMMIT or ROLLBACK releases the lock. This is what keeps replicas from
  forking the audit chain. ``BEGIN DEFERRED`` becomes ``BEGIN ISOLATION LEVEL REPEATABLE
  READ`` (one consistent snapshot, as a SQLite read transaction).
- ``PRAGMA user_version`` (read and ``= N``) reads and writes ``schema_version`` in the
  store's own schema. Any other PRAGMA is refused: a store must not send SQLite's tuning to
  PostgreSQL.
- psycopg's integrity and operational errors are raised as subclasses of sqlite3's, so the
  stores' existing ``except sqlite3.IntegrityError`` keeps working; ``bytea`` comes back as
  ``bytes``.

Each store lives in its own schema (``search_path`` is set per connection). A connection that
the server dropped is reopened at the next ``BEGIN`` (never inside a transaction), also when
only that ``BEGIN`` finds out it was dropped.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from facesearch.errors import CatalogError

_PRAGMA_VERSION = re.compile(r"^\s*PRAGMA\s+user_version\s*(?:=\s*(\d+))?\s*;?\s*$", re.I)
_BEGIN = re.compile(r"^\s*BEGIN(?:\s+(IMMEDIATE|DEFERRED|EXCLUSIVE))?\s*;?\s*$", re.I)


class PgIntegrityError(sqlite3.IntegrityError):
    """A PostgreSQL constraint violation, catchable as ``sqlite3.IntegrityError``."""


class PgOperationalError(sqlite3.OperationalError):
    """A PostgreSQL connection or server error, catchable as ``sqlite3.OperationalError``."""


class PgDatabaseError(sqlite3.DatabaseError):
    """Any other PostgreSQL error, catchable as ``sqlite3.DatabaseError``/``sqlite3.Error``."""


def to_pyformat(sql: str) -> str:
    """``?`` to ``%s`` and ``%`` to ``%%``, leaving quoted literals' question marks alone."""
    out: list[str] = []
    quote: str | None = None
    for ch in sql:
        if quote:
            if ch == quote:
                quote = None
            out.append("%%" if ch == "%" else ch)
        elif ch in ("'", '"'):
            quote = ch
            out.append(ch)
        elif ch == "?":
            out.append("%s")
        elif ch == "%":
            out.append("%%")
        else:
            out.append(ch)
    return "".join(out)


class Row(tuple[Any, ...]):
    """A row readable by position and by column name, like ``sqlite3.Row``."""

    _names: dict[str, int]

    def __new__(cls, values: Iterable[Any], names: dict[str, int]) -> Row:
        row = super().__new__(cls, (bytes(v) if isinstance(v, memoryview) else v for v in values))
        row._names = names
        return row

    def __getitem__(self, key: Any) -> Any:  # type: ignore[override]
        if isinstance(key, str):
            return super().__getitem__(self._names[key])
        return super().__getitem__(key)

    def keys(self) -> list[str]:
        return list(self._names)


class Cursor:
    """The part of ``sqlite3.Cursor`` the stores use: fetch, iterate, rowcount."""

    def __init__(self, rows: list[Row], rowcount: int) -> None:
        self._rows = rows
        self._at = 0
        self.rowcount = rowcount

    def fetchone(self) -> Row | None:
        if self._at >= len(self._rows):
            return None
        self._at += 1
        return self._rows[self._at - 1]

    def fetchall(self) -> list[Row]:
        rest, self._at = self._rows[self._at :], len(self._rows)
        return rest

    def __iter__(self) -> Iterator[Row]:
        return iter(self.fetchall())

    @property
    def lastrowid(self) -> int:
        raise NotImplementedError("PostgreSQL has no lastrowid: use INSERT ... RETURNING id")


def _translate(exc: Exception) -> Exception:
    import psycopg

    if isinstance(exc, psycopg.IntegrityError):
        return PgIntegrityError(str(exc))
    if isinstance(exc, psycopg.OperationalError):
        return PgOperationalError(str(exc))
    return PgDatabaseError(str(exc))


class PgConnection:
    """One psycopg connection behind the ``sqlite3.Connection`` surface the stores use."""

    dialect = "postgresql"

    def __init__(self, url: str, schema: str, lock_key: int) -> None:
        self._url = url
        self.schema = schema
        self.lock_key = lock_key
        self._conn: Any = None
        self._in_transaction = False
        self._connect()

    def _connect(self) -> None:
        import psycopg

        try:
            conn = psycopg.connect(self._url, autocommit=True, connect_timeout=10)
        except psycopg.Error as exc:
            raise CatalogError(f"cannot connect to PostgreSQL: {exc}") from exc
        # CREATE ... IF NOT EXISTS is not safe against itself: connections racing to set up a
        # new database would trip over pg_type's unique index. One at a time, under the lock.
        try:
            with conn.cursor() as cur:
                cur.execute("BEGIN")
                cur.execute("SELECT pg_advisory_xact_lock(%s)", (self.lock_key,))
                cur.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
                cur.execute(f'SET search_path TO "{self.schema}"')  # kept after COMMIT
                cur.execute(
                    "CREATE TABLE IF NOT EXISTS schema_version "
                    "(id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL)"
                )
                cur.execute(
                    "INSERT INTO schema_version (id, version) VALUES (1, 0) ON CONFLICT DO NOTHING"
                )
                cur.execute("COMMIT")
        except psycopg.Error as exc:
            conn.close()
            raise CatalogError(f"cannot set up schema {self.schema} in PostgreSQL: {exc}") from exc
        self._conn = conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()

    @property
    def in_transaction(self) -> bool:
        return self._in_transaction

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        begin = _BEGIN.match(sql)
        if begin:
            return self._begin((begin.group(1) or "DEFERRED").upper())
        pragma = _PRAGMA_VERSION.match(sql)
        if pragma:
            if pragma.group(1) is None:
                return self._run("SELECT version FROM schema_version WHERE id = 1", ())
            return self._run(
                "UPDATE schema_version SET version = %s WHERE id = 1", (int(pragma.group(1)),)
            )
        if sql.lstrip().upper().startswith("PRAGMA"):
            raise PgDatabaseError(f"SQLite PRAGMA sent to PostgreSQL: {sql.strip()[:60]}")
        upper = sql.strip().rstrip(";").upper()
        if upper in ("COMMIT", "ROLLBACK", "END"):
            self._in_transaction = False
        return self._run(to_pyformat(sql), params)

    def executemany(self, sql: str, seq: Iterable[Sequence[Any]]) -> Cursor:
        try:
            with self._conn.cursor() as cur:
                cur.executemany(to_pyformat(sql), list(seq))
                return Cursor([], cur.rowcount)
        except Exception as exc:
            raise _translate(exc) from exc

    def _begin(self, mode: str) -> Cursor:
        if self._conn.broken or self._conn.closed:
            self._connect()
        try:
            return self._begin_once(mode)
        except PgOperationalError:
            if not (self._conn.broken or self._conn.closed):
                raise
        # The server dropped the connection since its last use (a restart, a failover, an
        # idle timeout): nothing of a transaction was lost, so begin once more on a new one.
        self._in_transaction = False
        self._connect()
        return self._begin_once(mode)

    def _begin_once(self, mode: str) -> Cursor:
        if mode == "DEFERRED":
            self._run("BEGIN ISOLATION LEVEL REPEATABLE READ", ())
        else:
            self._run("BEGIN", ())
            self._in_transaction = True
            try:
                self._run("SELECT pg_advisory_xact_lock(%s)", (self.lock_key,))
            except sqlite3.Error:
                # e.g. past lock_timeout: leave no transaction open, as a BEGIN IMMEDIATE that
                # SQLite refuses (busy) leaves none
                if not (self._conn.broken or self._conn.closed):
                    self._run("ROLLBACK", ())
                self._in_transaction = False
                raise
        self._in_transaction = True
        return Cursor([], -1)

    def _run(self, sql: str, params: Sequence[Any]) -> Cursor:
        try:
            with self._conn.cursor() as cur:
                cur.execute(sql, tuple(params))
                if cur.description is None:
                    return Cursor([], cur.rowcount)
                names = {d.name: i for i, d in enumerate(cur.description)}
                return Cursor([Row(r, names) for r in cur.fetchall()], cur.rowcount)
        except Exception as exc:
            import psycopg

            if isinstance(exc, psycopg.Error):
                raise _translate(exc) from exc
            raise
