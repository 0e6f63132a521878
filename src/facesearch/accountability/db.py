"""The database behind accountability: connection, migrations, transactions, time.

Embedded (``database_url`` unset): one SQLite file, ``accountability.sqlite`` in the
facesearch home, separate from the gallery catalog. It runs in WAL mode with foreign keys on,
``synchronous=FULL`` (an audit entry that was acknowledged survives a power cut) and
``secure_delete=ON`` (deleted probe images and sessions are overwritten with zeros, not just
unlinked from the b-tree).

Distributed (``database_url`` = ``postgresql://...``): the schema ``facesearch_accountability``
of that database, through ``sqlstore.PgConnection`` (advisory lock key ``LOCK_KEY``), shared
by every replica. PostgreSQL has no ``secure_delete``: a deleted row stays in the table's
pages as a dead version until VACUUM removes it. So after probe images or sessions are deleted
the stores call ``vacuum(table)`` once the transaction has committed: on PostgreSQL it runs
``VACUUM`` on that table (outside any transaction; dead versions an older snapshot of another
replica can still see are left to the next VACUUM or to autovacuum), which frees their space
for reuse; the bytes themselves go when that space is reused, or at once with a ``VACUUM
FULL`` of the table, which rewrites its files but locks it, so schedule that at a quiet time.
``VACUUM`` without ``ANALYZE`` is enough for the column statistics: ANALYZE never samples a
column holding personal data (``schema.PERSONAL_COLUMNS``, version 8), so ``pg_stats`` keeps no
value of a deleted row; what it holds of the other columns (ids, times, counts) names no one.
On SQLite ``vacuum`` does nothing (secure_delete did it); ``checkpoint`` truncates SQLite's
write-ahead log and does nothing on PostgreSQL (its WAL is the server's).

Every write runs in ``BEGIN IMMEDIATE``: the write lock (on PostgreSQL the transaction-scoped
advisory lock) is taken before the first read, so two processes -- or two replicas on two
machines -- appending to the audit trail at once queue up instead of both reading the same
chain head. Transactions nest: a ``write()`` inside a ``write()`` joins the outer one, which
is how an account change and its audit entry commit (or roll back) together.

The schema version is ``PRAGMA user_version``; ``schema.py`` holds the migrations of both
dialects. A database from a newer facesearch is refused, never downgraded.

A write transaction can carry commit hooks (``on_commit``): ``prepare()`` runs just before
COMMIT (an error there rolls back), ``committed()`` after it, ``aborted()`` after a rollback.
The audit trail uses them to lock its anchor file before COMMIT and write the new head to it
after (``keying.py``).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol, cast

from facesearch.accountability.schema import MIGRATIONS, PG_MIGRATIONS, SCHEMA_VERSION
from facesearch.errors import CatalogError, InputError
from facesearch.gallery.sqlite_wal import enable_wal
from facesearch.private import make_private_dir
from facesearch.sqlstore import database_target

log = logging.getLogger(__name__)

FILENAME = "accountability.sqlite"
BUSY_TIMEOUT_S = 30.0
PG_SCHEMA = "facesearch_accountability"
LOCK_KEY = 7302  # the advisory lock of this store's writers (the catalog's is 7301)

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


# --- connection -------------------------------------------------------------------------------


class CommitHook(Protocol):
    def prepare(self) -> None: ...

    def committed(self) -> None: ...

    def aborted(self) -> None: ...


class Database:
    """One connection to the accountability file or schema, safe to share between threads.

    Every use goes through ``read()`` or ``write()``; a lock serialises them within the
    process, and SQLite's locks (with a busy timeout) or PostgreSQL's advisory lock across
    processes. ``path`` is ``home / FILENAME`` in both cases (it names the home);
    ``where`` is what messages name: the file, or the database URL without its password.
    """

    def __init__(self, conn: sqlite3.Connection, path: Path, clock: Clock, where: str = "") -> None:
        self._conn = conn
        self.path = path
        self.where = where or str(path)
        self.url = ""  # the PostgreSQL URL (open_postgres); empty for SQLite
        self.dialect: str = getattr(conn, "dialect", "sqlite")
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
            conn.execute("PRAGMA secure_delete = ON")
            conn.execute("PRAGMA synchronous = FULL")
            db = cls(conn, path, clock or utc_now)
            db._migrate()  # foreign keys off: a migration may rebuild a table (version 6)
            conn.execute("PRAGMA foreign_keys = ON")
        except BaseException as exc:
            conn.close()
            if isinstance(exc, sqlite3.Error):
                raise CatalogError(f"{path}: not a usable accountability file: {exc}") from exc
            raise
        return db

    @classmethod
    def open_postgres(cls, url: str, path: Path, clock: Clock | None = None) -> Database:
        """The schema ``PG_SCHEMA`` of the PostgreSQL database at ``url`` (created and
        migrated as needed, under the advisory lock); ``path`` names the home."""
        from facesearch.sqlstore.pg import PgConnection

        where = database_target(url).redacted()
        conn = cast(sqlite3.Connection, PgConnection(url, PG_SCHEMA, LOCK_KEY))
        try:
            db = cls(conn, path, clock or utc_now, where)
            db.url = url
            db._migrate()
        except BaseException:
            conn.close()
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
            raise CatalogError(f"{self.where}: {exc}") from exc
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
                raise CatalogError(f"{self.where}: {exc}") from exc
            raise
        self._depth, self._writing = 0, False
        try:
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            with suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")
            self._end_hooks(committed=False)
            raise CatalogError(f"{self.where}: commit failed: {exc}") from exc
        self._end_hooks(committed=True)

    def _end_hooks(self, *, committed: bool) -> None:
        hooks, self._hooks = self._hooks, []
        for hook in hooks:
            try:
                hook.committed() if committed else hook.aborted()
            except Exception:
                log.exception("commit hook failed")

    def checkpoint(self) -> bool:
        """Copy the WAL into the main file and truncate it; False if readers blocked it.
        Nothing to do on PostgreSQL (True)."""
        if self.dialect != "sqlite":
            return True
        with self._lock:
            try:
                busy = self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            except sqlite3.Error as exc:
                raise CatalogError(f"{self.path}: checkpoint failed: {exc}") from exc
        return int(busy) == 0

    def vacuum(self, table: str) -> None:
        """PostgreSQL: VACUUM ``table`` after rows were deleted from it (see the module's
        docstring); call it after the transaction. SQLite: nothing (``secure_delete``).
        Inside a transaction it is left to autovacuum (VACUUM cannot run there)."""
        if self.dialect == "sqlite":
            return
        with self._lock:
            if self._depth:
                log.debug("VACUUM %s left to autovacuum: called inside a transaction", table)
                return
            try:
                self._conn.execute(f"VACUUM {table}")
            except sqlite3.Error as exc:
                log.warning("VACUUM %s failed (autovacuum will do it later): %s", table, exc)

    def _migrate(self) -> None:
        migrations = PG_MIGRATIONS if self.dialect == "postgresql" else MIGRATIONS
        with self.write() as conn:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if version > SCHEMA_VERSION:
                raise CatalogError(
                    f"{self.where}: schema version {version} is newer than this facesearch "
                    f"understands ({SCHEMA_VERSION}); upgrade facesearch"
                )
            for target in range(version + 1, SCHEMA_VERSION + 1):
                log.info("migrating %s to schema version %d", self.where, target)
                migrations[target - 1](conn)
                conn.execute(f"PRAGMA user_version = {int(target)}")  # PRAGMA takes no parameters
            migrated = version < SCHEMA_VERSION and self.dialect == "sqlite"
            if migrated and conn.execute("PRAGMA foreign_key_check").fetchone() is not None:
                raise CatalogError(  # rolled back: the file stays at its old version
                    f"{self.where}: a foreign key is broken after migrating; restore a backup"
                )
