"""The accountability store's schema: its migrations for SQLite and for PostgreSQL.

The schema version is ``PRAGMA user_version`` (on PostgreSQL the ``schema_version`` table that
``sqlstore.PgConnection`` keeps in the store's schema); ``MIGRATIONS[i]`` takes a SQLite file
and ``PG_MIGRATIONS[i]`` a PostgreSQL schema from version ``i`` to ``i + 1``, so one version
number means the same tables in both. Where the dialects agree (versions 2 and 4) both tuples
hold the same function.

PostgreSQL types: ``BIGINT`` identity keys, ``BYTEA`` for probe images, ``TEXT`` for the
fixed-width ISO times (compared as text), ``INTEGER`` 0/1 for flags (rows read the same in
both), a unique index on ``lower(name)`` for SQLite's ``COLLATE NOCASE`` user names (names are
ASCII), ``JSONB`` for a decision's face id (an integer stays an integer and a string a string,
as in SQLite's untyped column). The append-only guards are PL/pgSQL trigger functions that
raise an integrity error (SQLite: ``RAISE(ABORT)``); on PostgreSQL ``TRUNCATE`` is refused too.
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Callable

__all__ = ["GENESIS_HASH", "MIGRATIONS", "PG_MIGRATIONS", "SCHEMA_VERSION"]

GENESIS_HASH = "0" * 64  # the prev_hash of the first audit entry

# --- SQLite -----------------------------------------------------------------------------------

_V1 = (
    """CREATE TABLE users (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE COLLATE NOCASE,
        role TEXT NOT NULL CHECK (role IN ('admin', 'investigator', 'auditor')),
        password_hash TEXT NOT NULL,
        disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
        created_at TEXT NOT NULL
    )""",
    # Failed (and in-flight) logins per name key; names need not exist (no enumeration).
    """CREATE TABLE login_failures (
        id INTEGER PRIMARY KEY,
        name_key TEXT NOT NULL,
        at TEXT NOT NULL
    )""",
    "CREATE INDEX login_failures_key_at ON login_failures (name_key, at)",
    "CREATE INDEX login_failures_at ON login_failures (at)",
    """CREATE TABLE api_tokens (
        id INTEGER PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users (id),
        digest TEXT NOT NULL UNIQUE,
        prefix TEXT NOT NULL,
        created_at TEXT NOT NULL,
        revoked_at TEXT
    )""",
    "CREATE INDEX api_tokens_user ON api_tokens (user_id)",
    """CREATE TABLE sessions (
        id INTEGER PRIMARY KEY,
        user_id INTEGER NOT NULL REFERENCES users (id),
        digest TEXT NOT NULL UNIQUE,
        csrf_token TEXT NOT NULL,
        created_at TEXT NOT NULL,
        last_seen TEXT NOT NULL
    )""",
    "CREATE INDEX sessions_user ON sessions (user_id)",
    """CREATE TABLE audit_log (
        seq INTEGER PRIMARY KEY,
        time TEXT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        case_number TEXT,
        purpose TEXT,
        payload TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    )""",
    "CREATE INDEX audit_log_actor ON audit_log (actor, seq)",
    "CREATE INDEX audit_log_action ON audit_log (action, seq)",
    "CREATE INDEX audit_log_case ON audit_log (case_number, seq)",
    "CREATE INDEX audit_log_time ON audit_log (time)",
    # Guards against accidents, not attackers: someone with the file can drop them, which is
    # what the hash chain and the head row are for.
    """CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END""",
    """CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END""",
    # The running head: seq and hash of the last entry, updated with every append, so that
    # cutting entries off the end of the chain shows.
    """CREATE TABLE audit_head (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        seq INTEGER NOT NULL,
        hash TEXT NOT NULL
    )""",
    # An index over the decision entries of the audit trail (their content lives in the trail).
    # face_id has no declared type, so an integer id stays an integer and a text id text.
    """CREATE TABLE decisions (
        audit_seq INTEGER PRIMARY KEY REFERENCES audit_log (seq),
        search_seq INTEGER NOT NULL REFERENCES audit_log (seq),
        face_id NOT NULL
    )""",
    "CREATE INDEX decisions_candidate ON decisions (search_seq, face_id, audit_seq)",
    """CREATE TABLE probes (
        sha256 TEXT PRIMARY KEY,
        data BLOB NOT NULL,
        stored_at TEXT NOT NULL,
        expires_at TEXT NOT NULL
    )""",
    "CREATE INDEX probes_expires ON probes (expires_at)",
)


def _migrate_to_1(conn: sqlite3.Connection) -> None:
    for statement in _V1:
        conn.execute(statement)
    conn.execute("INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, ?)", (GENESIS_HASH,))


_V2 = (
    # Failed logins and lockouts are per (name, client address), so that one address cannot
    # lock a name out for everyone; a lock's level doubles its length each time it recurs.
    "ALTER TABLE login_failures ADD COLUMN client TEXT NOT NULL DEFAULT ''",
    "CREATE INDEX login_failures_key_client_at ON login_failures (name_key, client, at)",
    """CREATE TABLE login_locks (
        name_key TEXT NOT NULL,
        client TEXT NOT NULL,
        level INTEGER NOT NULL,
        failures INTEGER NOT NULL,
        locked_at TEXT NOT NULL,
        locked_until TEXT NOT NULL,
        PRIMARY KEY (name_key, client)
    )""",
    # API tokens expire (NULL: issued when tokens did not; the lifetime setting then counts
    # from created_at) and remember when they were last used (refreshed at most once a minute).
    "ALTER TABLE api_tokens ADD COLUMN expires_at TEXT",
    "ALTER TABLE api_tokens ADD COLUMN last_used_at TEXT",
)


def _migrate_to_2(conn: sqlite3.Connection) -> None:
    for statement in _V2:
        conn.execute(statement)


def _migrate_to_3(conn: sqlite3.Connection) -> None:
    """Keyed audit entries: the MAC of each entry from ``keyed_from`` on, and the trail's id.

    Entries already there (a trail written before keys existed) get no MAC: keying starts at
    the next seq, where the store appends an ``audit_keyed`` marker entry (``store.py``).
    Nothing already there is re-keyed, so nothing forged earlier is turned into "valid".
    """
    conn.execute("CREATE TABLE audit_mac (seq INTEGER PRIMARY KEY, mac TEXT NOT NULL)")
    for verb in ("UPDATE", "DELETE"):
        conn.execute(
            f"""CREATE TRIGGER audit_mac_no_{verb.lower()} BEFORE {verb} ON audit_mac
            BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END"""
        )
    conn.execute(
        """CREATE TABLE audit_keying (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            trail TEXT NOT NULL,
            keyed_from INTEGER NOT NULL,
            key_id TEXT
        )"""
    )
    row = conn.execute(
        "SELECT max(coalesce((SELECT seq FROM audit_head WHERE id = 1), 0), "
        "coalesce((SELECT max(seq) FROM audit_log), 0))"
    ).fetchone()
    conn.execute(
        "INSERT INTO audit_keying (id, trail, keyed_from, key_id) VALUES (1, ?, ?, NULL)",
        (secrets.token_hex(16), int(row[0]) + 1),
    )


def _migrate_to_4(conn: sqlite3.Connection) -> None:
    """Entries of one action by time: the pending list of the two-person rule reads the
    decisions of the last days (``Decisions.awaiting_second_person``) without scanning all."""
    conn.execute("CREATE INDEX audit_log_action_time ON audit_log (action, time)")


Migration = Callable[[sqlite3.Connection], None]
MIGRATIONS: tuple[Migration, ...] = (_migrate_to_1, _migrate_to_2, _migrate_to_3, _migrate_to_4)
SCHEMA_VERSION = len(MIGRATIONS)


# --- PostgreSQL -------------------------------------------------------------------------------

_PG_IDENTITY = "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"
_PG_REFUSE = """CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'the audit trail is append-only'
            USING ERRCODE = 'integrity_constraint_violation';
    END
    $$"""


def _pg_append_only(table: str) -> tuple[str, ...]:
    """Triggers that refuse UPDATE, DELETE and TRUNCATE of ``table``."""
    return tuple(
        f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
        f"FOR EACH {'STATEMENT' if verb == 'TRUNCATE' else 'ROW'} "
        "EXECUTE FUNCTION audit_append_only()"
        for verb in ("UPDATE", "DELETE", "TRUNCATE")
    )


_PG_V1 = (
    f"""CREATE TABLE users (
        id {_PG_IDENTITY},
        name TEXT NOT NULL,
        role TEXT NOT NULL CHECK (role IN ('admin', 'investigator', 'auditor')),
        password_hash TEXT NOT NULL,
        disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
        created_at TEXT NOT NULL
    )""",
    "CREATE UNIQUE INDEX users_name_nocase ON users (lower(name))",
    f"CREATE TABLE login_failures (id {_PG_IDENTITY}, name_key TEXT NOT NULL, at TEXT NOT NULL)",
    "CREATE INDEX login_failures_key_at ON login_failures (name_key, at)",
    "CREATE INDEX login_failures_at ON login_failures (at)",
    f"""CREATE TABLE api_tokens (
        id {_PG_IDENTITY},
        user_id BIGINT NOT NULL REFERENCES users (id),
        digest TEXT NOT NULL UNIQUE,
        prefix TEXT NOT NULL,
        created_at TEXT NOT NULL,
        revoked_at TEXT
    )""",
    "CREATE INDEX api_tokens_user ON api_tokens (user_id)",
    f"""CREATE TABLE sessions (
        id {_PG_IDENTITY},
        user_id BIGINT NOT NULL REFERENCES users (id),
        digest TEXT NOT NULL UNIQUE,
        csrf_token TEXT NOT NULL,
        created_at TEXT NOT NULL,
        last_seen TEXT NOT NULL
    )""",
    "CREATE INDEX sessions_user ON sessions (user_id)",
    """CREATE TABLE audit_log (
        seq BIGINT PRIMARY KEY,
        time TEXT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        case_number TEXT,
        purpose TEXT,
        payload TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    )""",
    "CREATE INDEX audit_log_actor ON audit_log (actor, seq)",
    "CREATE INDEX audit_log_action ON audit_log (action, seq)",
    "CREATE INDEX audit_log_case ON audit_log (case_number, seq)",
    "CREATE INDEX audit_log_time ON audit_log (time)",
    _PG_REFUSE,
    *_pg_append_only("audit_log"),
    """CREATE TABLE audit_head (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        seq BIGINT NOT NULL,
        hash TEXT NOT NULL
    )""",
    """CREATE TABLE decisions (
        audit_seq BIGINT PRIMARY KEY REFERENCES audit_log (seq),
        search_seq BIGINT NOT NULL REFERENCES audit_log (seq),
        face_id JSONB NOT NULL
    )""",
    "CREATE INDEX decisions_candidate ON decisions (search_seq, face_id, audit_seq)",
    """CREATE TABLE probes (
        sha256 TEXT PRIMARY KEY,
        data BYTEA NOT NULL,
        stored_at TEXT NOT NULL,
        expires_at TEXT NOT NULL
    )""",
    "CREATE INDEX probes_expires ON probes (expires_at)",
)


def _pg_to_1(conn: sqlite3.Connection) -> None:
    for statement in _PG_V1:
        conn.execute(statement)
    conn.execute("INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, ?)", (GENESIS_HASH,))


def _pg_to_3(conn: sqlite3.Connection) -> None:
    """Version 3 of ``_migrate_to_3`` (keyed entries) in PostgreSQL's words."""
    conn.execute("CREATE TABLE audit_mac (seq BIGINT PRIMARY KEY, mac TEXT NOT NULL)")
    for statement in _pg_append_only("audit_mac"):
        conn.execute(statement)
    conn.execute(
        """CREATE TABLE audit_keying (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            trail TEXT NOT NULL,
            keyed_from BIGINT NOT NULL,
            key_id TEXT
        )"""
    )
    row = conn.execute(
        "SELECT GREATEST(coalesce((SELECT seq FROM audit_head WHERE id = 1), 0), "
        "coalesce((SELECT max(seq) FROM audit_log), 0))"
    ).fetchone()
    conn.execute(
        "INSERT INTO audit_keying (id, trail, keyed_from, key_id) VALUES (1, ?, ?, NULL)",
        (secrets.token_hex(16), int(row[0]) + 1),
    )


PG_MIGRATIONS: tuple[Migration, ...] = (_pg_to_1, _migrate_to_2, _pg_to_3, _migrate_to_4)
