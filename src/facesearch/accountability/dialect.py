"""The few SQL fragments where SQLite and PostgreSQL disagree, for the accountability store.

Everything else is one body of SQL for both. Each function takes the connection of the
transaction (a ``sqlite3.Connection`` or a ``sqlstore.PgConnection``) and returns the words
of its dialect:

- a field of a JSON payload as text: ``json_extract(p, '$.k')`` / ``(p::jsonb ->> 'k')``;
- the larger of two values: ``MAX(a, b)`` / ``GREATEST(a, b)``;
- user names, which ignore case: SQLite's column is ``COLLATE NOCASE``; PostgreSQL's has a
  unique index on ``lower(name)``, so lookups and order go through ``lower`` (names are
  ASCII, where the two fold alike);
- "no limit": ``LIMIT -1`` / ``LIMIT NULL``;
- a decision's face id as a parameter: as it is / as JSON text (the column is ``JSONB``).
"""

from __future__ import annotations

import json
import sqlite3

from facesearch.accountability.audit_entries import FaceId

__all__ = ["by_name", "face_param", "greatest", "is_postgres", "json_text", "name_is", "no_limit"]


def is_postgres(conn: sqlite3.Connection) -> bool:
    return getattr(conn, "dialect", "sqlite") == "postgresql"


def json_text(conn: sqlite3.Connection, payload: str, key: str) -> str:
    """SQL for the text of field ``key`` of the JSON column ``payload``."""
    if is_postgres(conn):
        return f"({payload}::jsonb ->> '{key}')"
    return f"json_extract({payload}, '$.{key}')"


def greatest(conn: sqlite3.Connection, a: str, b: str) -> str:
    return f"{'GREATEST' if is_postgres(conn) else 'MAX'}({a}, {b})"


def name_is(conn: sqlite3.Connection, column: str, other: str = "?") -> str:
    """SQL true when user name ``column`` equals ``other`` ignoring case."""
    if is_postgres(conn):
        return f"lower({column}) = lower({other})"
    return f"{column} = {other}"


def by_name(conn: sqlite3.Connection, column: str) -> str:
    """An ORDER BY term for user names in SQLite's NOCASE order."""
    return f'lower({column}) COLLATE "C"' if is_postgres(conn) else column


def no_limit(conn: sqlite3.Connection) -> int | None:
    """The LIMIT parameter that means "all rows"."""
    return None if is_postgres(conn) else -1


def face_param(conn: sqlite3.Connection, face_id: FaceId) -> FaceId:
    """A face id as a parameter compared with or stored in ``decisions.face_id``."""
    return json.dumps(face_id) if is_postgres(conn) else face_id
