"""The SQLite file behind accountability: connection, schema migrations, transactions, time.

One file, ``accountability.sqlite`` in the facesearch home, separate from the gallery catalog.
It runs in WAL mode with foreign keys on, ``synchronous=FULL`` (an audit entry that was
acknowledged survives a power cut) and ``secure_delete=ON`` (deleted probe images and
sessions are overwritten with zeros, not just unlinked from the b-tree).

Every write runs in ``BEGIN IMMEDIATE``: the write lock is taken before the first read, so two
processes appending to the audit trail at once queue up instead of both reading the same
chain head. Transactions nest: a ``write()`` inside a ``write()`` joins the outer one, which
is how an account change and its audit entry commit (or roll back) together.

The schema version is SQLite's ``user_version``; ``MIGRATIONS[i]`` takes a file from version
``i`` to ``i + 1``. A file from a newer facesearch is refused, never downgraded.

A write transaction can carry commit hooks (``on_commit``): ``prepare()`` runs just before
COMMIT (an error there rolls back), ``committed()`` after it, ``aborted()`` after a rollback.
The audit trail uses them to lock its anchor file before COMMIT and write the new head to it
after (``keying.py``).
"""

from __future__ import annotations

import logging
import os
import secrets
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from facesearch.errors import CatalogError, InputError
from facesearch.gallery.sqlite_wal import enable_wal
from facesearch.private import make_private_dir

log = logging.getLogger(__name__)

FILENAME = "accountability.sqlite"
BUSY_TIMEOUT_S = 30.0
GENESIS_HASH = "0" * 64  # the prev_hash of the first audit entry

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def format_time(moment: datetime) -> str:
    """The one stored form of a time: UTC, ISO 8601, microseconds, fixed width.

    Fixed width makes text order the same as time order, so SQL can compare the strings.
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InputError("times must carry a time zone (use datetime.now(UTC))")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text)


# --- schema -----------------------------------------------------------------------------------

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


# --- connection -------------------------------------------------------------------------------


class CommitHook(Protocol):
    def prepare(self) -> None: ...

    def committed(self) -> None: ...

    def aborted(self) -> None: ...


class Database:
    """One connection to the accountability file, safe to share between threads.

    Every use goes through ``read()`` or ``write()``; a lock serialises them within the
    process and SQLite's locks (with a busy timeout) across processes.
    """

    def __init__(self, conn: sqlite3.Connection, path: Path, clock: Clock) -> None:
        self._conn = conn
        self.path = path
        self._clock = clock
        self._lock = threading.RLock()
        self._depth = 0
        self._writing = False
        self._hooks: list[CommitHook] = []

    @classmethod
    def open(cls, path: Path, clock: Clock | None = None) -> Database:
        try:
            make_private_dir(path.parent)
            if not path.exists():  # owner-only: it holds password hashes and probe images
                os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
        except OSError as exc:
            raise CatalogError(f"{path}: cannot create: {exc.strerror or exc}") from exc
        try:
            conn = sqlite3.connect(
                path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise CatalogError(f"{path}: cannot open: {exc}") from exc
        try:
            conn.row_factory = sqlite3.Row
            mode = enable_wal(conn, BUSY_TIMEOUT_S)
            if mode != "wal":
                raise CatalogError(f"{path}: cannot switch to WAL mode (got {mode})")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA secure_delete = ON")
            conn.execute("PRAGMA synchronous = FULL")
            db = cls(conn, path, clock or utc_now)
            db._migrate()
        except BaseException as exc:
            conn.close()
            if isinstance(exc, sqlite3.Error):
                raise CatalogError(f"{path}: not a usable accountability file: {exc}") from exc
            raise
        return db

    def now(self) -> datetime:
        return self._clock()

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def write(self) -> AbstractContextManager[sqlite3.Connection]:
        """A write transaction (BEGIN IMMEDIATE); joins the caller's if there is one."""
        return self._join_or_begin("BEGIN IMMEDIATE", writing=True)

    def on_commit(self, hook: CommitHook) -> None:
        """Run ``hook`` around the COMMIT of the write transaction now open (once each)."""
        with self._lock:
            if not (self._depth and self._writing):
                raise RuntimeError("on_commit() outside write()")
            if not any(h is hook for h in self._hooks):
                self._hooks.append(hook)

    def read(self) -> AbstractContextManager[sqlite3.Connection]:
        """A read transaction: one consistent snapshot. Joins any open transaction."""
        return self._join_or_begin("BEGIN DEFERRED", writing=False)

    @contextmanager
    def _join_or_begin(self, begin: str, *, writing: bool) -> Iterator[sqlite3.Connection]:
        """The transaction already open (by this thread: it holds the lock) if there is one,
        else a new one started with ``begin``. A write cannot join a read."""
        with self._lock:
            if self._depth:
                if writing and not self._writing:
                    raise RuntimeError("write() inside read(): open the write() first")
                self._depth += 1
                try:
                    yield self._conn
                finally:
                    self._depth -= 1
                return
            with self._transaction(begin, writing=writing):
                yield self._conn

    @contextmanager
    def _transaction(self, begin: str, *, writing: bool) -> Iterator[None]:
        try:
            self._conn.execute(begin)
        except sqlite3.Error as exc:
            raise CatalogError(f"{self.path}: {exc}") from exc
        self._depth, self._writing = 1, writing
        try:
            yield
            for hook in self._hooks:
                hook.prepare()
        except BaseException as exc:
            self._depth, self._writing = 0, False
            try:
                self._conn.execute("ROLLBACK")
            except sqlite3.Error:
                log.exception("rollback failed")
            self._end_hooks(committed=False)
            if isinstance(exc, sqlite3.Error):
                raise CatalogError(f"{self.path}: {exc}") from exc
            raise
        self._depth, self._writing = 0, False
        try:
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            with suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")
            self._end_hooks(committed=False)
            raise CatalogError(f"{self.path}: commit failed: {exc}") from exc
        self._end_hooks(committed=True)

    def _end_hooks(self, *, committed: bool) -> None:
        hooks, self._hooks = self._hooks, []
        for hook in hooks:
            try:
                hook.committed() if committed else hook.aborted()
            except Exception:
                log.exception("commit hook failed")

    def checkpoint(self) -> bool:
        """Copy the WAL into the main file and truncate it; False if readers blocked it."""
        with self._lock:
            try:
                busy = self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            except sqlite3.Error as exc:
                raise CatalogError(f"{self.path}: checkpoint failed: {exc}") from exc
        return int(busy) == 0

    def _migrate(self) -> None:
        with self.write() as conn:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if version > SCHEMA_VERSION:
                raise CatalogError(
                    f"{self.path}: schema version {version} is newer than this facesearch "
                    f"understands ({SCHEMA_VERSION}); upgrade facesearch"
                )
            for target in range(version + 1, SCHEMA_VERSION + 1):
                log.info("migrating %s to schema version %d", self.path, target)
                MIGRATIONS[target - 1](conn)
                conn.execute(f"PRAGMA user_version = {int(target)}")  # PRAGMA takes no parameters
