"""The catalog's connection: opening, closing, transactions and checkpoints.

Durability. The database runs in WAL mode with ``synchronous=NORMAL``: a commit appends to the
write-ahead log without waiting for fsync, and the log is synced at each checkpoint. A crash of
the process loses nothing committed; a power cut or OS crash may lose the last few commits but
never leaves the file corrupt or a transaction half-applied (WAL frames are checksummed and a
transaction without its commit frame is ignored on recovery). That is enough for ingest: every
batch is one transaction, so a batch is either wholly there or wholly absent, and a re-run skips
what is there by sha256. Erasures are the exception: they commit with ``synchronous=FULL`` and
then checkpoint, so a deleted face cannot come back after a power cut.

Erasure. ``PRAGMA secure_delete=ON`` makes SQLite overwrite deleted content with zeros, and each
delete_* call ends with a TRUNCATE checkpoint, so an erased embedding leaves the main file and
the -wal file (unless another process holds a read transaction open at that moment: then the
checkpoint is retried by ``checkpoint()`` or at the next erasure, and a warning is logged).

Threads and processes. A Catalog holds one connection and is used by one thread at a time
(calls may come from different threads, but never concurrently: give each worker its own
Catalog or serialise the calls). Other processes may open the same file: readers run
concurrently with a writer under WAL, writers queue behind each other (busy timeout).

PostgreSQL (``database_url`` set: ``Catalog.open_home(home, database_url)``). The catalog lives
in the schema ``facesearch_catalog`` of that database, through ``sqlstore.pg.PgConnection``:
the same SQL, and the same one-writer-at-a-time rule across every process and machine (each
write transaction takes the advisory lock ``PG_LOCK_KEY`` first), so any number of replicas
share one catalog and ids and sha256 de-duplication stay right. A commit is durable when
PostgreSQL says so (``synchronous_commit``; erasures force it on); ``checkpoint()`` has
nothing to do and returns True. Erasure: the rows are deleted, and after the commit the tables
that held them are VACUUMed, which removes the dead row versions (and their TOASTed
embeddings) from the heap, so that no query, index or snapshot taken later can reach them,
and ANALYZEs them, so that the column statistics (``pg_stats``) are those of the rows left.
The columns holding personal data are never sampled at all (``_schema_pg.PERSONAL_COLUMNS``).
What PostgreSQL does not do is overwrite the freed bytes as ``secure_delete`` does: they may
stay in free space inside the data files until reused, in WAL segments until the server
recycles them (``max_wal_size``, ``wal_keep_size``, replication slots), on streaming replicas
until they replay the VACUUM, and in WAL archives and base backups for as long as the
operator's backup retention keeps them (e.g. pgBackRest ``repo1-retention-full``). A
transaction older than the erasure (a long report, a replica's ``hot_standby_feedback``)
keeps the rows visible to itself, and VACUUM cannot remove them until it ends; autovacuum
removes them later. ``last_erasure`` says what was done.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self, cast
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from facesearch.errors import CatalogError
from facesearch.gallery.catalog.schema import SCHEMA_VERSION, migrate
from facesearch.gallery.sqlite_wal import enable_wal
from facesearch.private import FILE_MODE, make_private_dir, private_file
from facesearch.sqlstore import database_target
from facesearch.types import Closing

log = logging.getLogger(__name__)

CATALOG_FILE = "catalog.sqlite"
PG_SCHEMA = "facesearch_catalog"
PG_LOCK_KEY = 7301
# The catalog tables an erasure deletes from (faces with their embeddings, images, subjects,
# persons and their rows): VACUUMed and ANALYZEd after an erasure in PostgreSQL.
ERASED_TABLES = ("faces", "images", "subjects", "face_persons", "not_person", "persons")


@dataclass(frozen=True)
class CatalogErasure:
    """What the catalog did to make an erasure's deleted rows unrecoverable, and what it
    leaves to the database server or its operator."""

    database: str  # "sqlite" or "postgresql"
    done: str
    # SQLite: False when a reader kept it from checkpointing (retried at the next erasure).
    # PostgreSQL: True once VACUUM ran (it cannot see whether an older transaction held rows).
    complete: bool
    left: str


@contextmanager
def sqlite_errors() -> Iterator[None]:
    """Turn sqlite3's exceptions into CatalogError, the one error the library shows for it."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        if any(word in str(exc) for word in ("locked", "busy", "lock timeout")):
            raise CatalogError(f"the catalog is busy (another process is writing): {exc}") from exc
        raise CatalogError(f"catalog database error: {exc}") from exc
    except sqlite3.Error as exc:
        raise CatalogError(f"catalog database error: {exc}") from exc


class CatalogConnection(Closing):
    """One SQLite connection to a catalog file and the transactions over it; the base of
    ``Catalog`` (see the module docstring for durability, erasure and threading)."""

    def __init__(
        self, conn: sqlite3.Connection, path: Path | None, synchronous: str = "NORMAL"
    ) -> None:
        """Use ``Catalog.open``/``open_home``; this wraps a connection already configured.
        ``path`` is None for PostgreSQL (``conn`` is then a ``sqlstore.pg.PgConnection``)."""
        self._conn: sqlite3.Connection | None = conn
        self._synchronous = synchronous  # the level outside erasures
        self.path = path
        self.dialect: str = getattr(conn, "dialect", "sqlite")
        self.location = str(path) if path is not None else ""
        self.last_erasure: CatalogErasure | None = None
        self.last_unnamed: tuple[int, ...] = ()  # the persons the last erasure unnamed
        self._database_id: str | None = None
        self._url = ""  # PostgreSQL's, for ``another``
        self._busy_timeout_s = 30.0

    # -- opening and closing ------------------------------------------------------------

    @classmethod
    def open(cls, path: str | Path, *, busy_timeout_s: float = 30.0) -> Self:
        """Open (creating the folders and file if needed) and migrate the catalog at ``path``."""
        path = Path(path).expanduser()
        try:
            make_private_dir(path.parent)
            # Biometric data: owner-only. SQLite gives -wal and -shm the main file's mode.
            # Create it only when missing: closing a descriptor of a database file that this
            # process has open elsewhere drops SQLite's POSIX locks and corrupts it.
            if not path.exists():
                with contextlib.suppress(FileExistsError):
                    os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, FILE_MODE))
            for part in (
                path,
                path.with_name(path.name + "-wal"),
                path.with_name(path.name + "-shm"),
            ):
                if part.exists():
                    private_file(part)
            conn = sqlite3.connect(
                path, timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
            )
        except (OSError, sqlite3.Error) as exc:
            raise CatalogError(f"{path}: cannot open the catalog: {exc}") from exc
        try:
            with sqlite_errors():
                synchronous = _configure(conn, busy_timeout_s)
                before = migrate(conn)
        except BaseException as exc:
            conn.close()
            if isinstance(exc, CatalogError) and "not a database" in str(exc):
                raise CatalogError(f"{path}: not a facesearch catalog") from exc
            raise
        if 0 < before < SCHEMA_VERSION:
            log.info("%s: schema migrated from version %d to %d", path, before, SCHEMA_VERSION)
        catalog = cls(conn, path, synchronous)
        catalog._busy_timeout_s = busy_timeout_s
        return catalog

    @classmethod
    def open_home(cls, home: str | Path, database_url: str = "", **options: Any) -> Self:
        """Open ``HOME/catalog.sqlite``, or the catalog in the PostgreSQL database at
        ``database_url`` (``Settings.database_url``) when that is set."""
        target = database_target(database_url)
        if target.is_postgres:
            # The home still holds uploads in progress and derived files: owner-only, as
            # ``open`` makes it for the SQLite catalog (a folder the operator made is 0755).
            # Not made here when missing: the catalog does not need it.
            if Path(home).expanduser().is_dir():
                make_private_dir(Path(home).expanduser())
            return cls.open_postgres(target.url, **options)
        return cls.open(Path(home) / CATALOG_FILE, **options)

    @classmethod
    def open_postgres(cls, url: str, *, busy_timeout_s: float = 30.0) -> Self:
        """Open (creating and migrating if needed) the catalog schema of a PostgreSQL database.

        A writer waits at most ``busy_timeout_s`` for another (PostgreSQL's ``lock_timeout``,
        set on every connection, reconnections included), then CatalogError says "busy"."""
        from facesearch.sqlstore.pg import PgConnection

        target = database_target(url)
        timed = _with_option(target.url, f"lock_timeout={max(1, int(busy_timeout_s * 1000))}")
        # PgConnection offers the part of sqlite3.Connection's surface the catalog uses.
        conn = cast(sqlite3.Connection, PgConnection(timed, PG_SCHEMA, PG_LOCK_KEY))
        try:
            with sqlite_errors():
                before = migrate(conn)
            catalog = cls(conn, None)
            _ = catalog.database_id  # read at opening, before any vector store is touched
        except BaseException:
            conn.close()
            raise
        if 0 < before < SCHEMA_VERSION:
            log.info("catalog schema migrated from version %d to %d", before, SCHEMA_VERSION)
        catalog.location = target.redacted()
        catalog._url, catalog._busy_timeout_s = target.url, busy_timeout_s
        return catalog

    @classmethod
    def open_reader(cls, home: str | Path, database_url: str = "") -> Self:
        """Open the catalog ``open_home`` would, to read only: nothing is migrated and the
        connection cannot write (SQLite ``mode=ro``, and no file is made; PostgreSQL
        ``default_transaction_read_only`` for the session, after ``sqlstore.pg`` set up its
        schema's version table as on any connection). CatalogError when there is no catalog
        there or its schema is not this code's (``open_home`` migrates it). For work spread
        over processes that only read (``gallery.ray_scan``); the catalog's readers and the
        writer do not wait for each other (``open_home`` takes the write lock to check the
        schema)."""
        target = database_target(database_url)
        if target.is_postgres:
            from facesearch.gallery.catalog._schema_pg import MIGRATIONS as PG_MIGRATIONS
            from facesearch.sqlstore.pg import PgConnection

            conn = cast(sqlite3.Connection, PgConnection(target.url, PG_SCHEMA, PG_LOCK_KEY))
            latest, path = PG_MIGRATIONS[-1].version, None
        else:
            path = (Path(home) / CATALOG_FILE).expanduser()
            if not path.is_file():
                raise CatalogError(f"{path}: no catalog there")
            try:
                conn = sqlite3.connect(
                    f"{path.resolve().as_uri()}?mode=ro",
                    uri=True,
                    isolation_level=None,
                    check_same_thread=False,
                )
            except sqlite3.Error as exc:
                raise CatalogError(f"{path}: cannot open the catalog: {exc}") from exc
            latest = SCHEMA_VERSION
        try:
            with sqlite_errors():
                if path is None:
                    conn.execute("SET default_transaction_read_only = on")
                else:
                    conn.execute("PRAGMA busy_timeout = 30000")
                version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if version != latest:
                raise CatalogError(
                    f"the catalog has schema version {version}, this code {latest}: open it "
                    "once with this facesearch (any command) to migrate it"
                )
            catalog = cls(conn, path)
            _ = catalog.database_id
        except BaseException:
            conn.close()
            raise
        if path is None:
            catalog.location = target.redacted()
        return catalog

    def another(self) -> Self:
        """A new connection to the same catalog, for another thread (a connection is used by
        one thread at a time)."""
        if self.path is not None:
            return type(self).open(self.path, busy_timeout_s=self._busy_timeout_s)
        return type(self).open_postgres(self._url, busy_timeout_s=self._busy_timeout_s)

    @property
    def database_id(self) -> str | None:
        """The PostgreSQL database the catalog is in now, ``SYSTEM/OID`` (``_identity``),
        read once; None for SQLite."""
        if self.dialect != "postgresql":
            return None
        if self._database_id is None:
            with sqlite_errors():
                row = self._live().execute("SELECT database_identity()").fetchone()
            self._database_id = str(row[0])
        return self._database_id

    @property
    def database(self) -> str:
        """Where the catalog lives: ``sqlite PATH``, or the PostgreSQL URL without password."""
        return f"sqlite {self.path}" if self.path is not None else self.location

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.location!r}{'' if self._conn else ', closed'})"

    def _live(self) -> sqlite3.Connection:
        if self._conn is None:
            raise CatalogError("the catalog is closed")
        return self._conn

    @contextmanager
    def _writing(self, *, durable: bool = False) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE: takes the write lock up front)."""
        conn = self._live()
        pragmas = durable and self.dialect == "sqlite"
        with sqlite_errors():
            if pragmas:
                conn.execute("PRAGMA synchronous = FULL")
            try:
                conn.execute("BEGIN IMMEDIATE")
                if durable and not pragmas:  # whatever the server's default
                    conn.execute("SET LOCAL synchronous_commit = on")
                try:
                    yield conn
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            finally:
                if pragmas:
                    conn.execute(f"PRAGMA synchronous = {self._synchronous}")

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """One read transaction: the statements inside see one snapshot."""
        conn = self._live()
        with sqlite_errors():
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                conn.execute("COMMIT")

    def checkpoint(self) -> bool:
        """Copy the WAL into the main file and truncate it; False if a reader prevented it.
        PostgreSQL: nothing to do (the server checkpoints), True."""
        if self.dialect != "sqlite":
            return True
        with sqlite_errors():
            busy, _, _ = self._live().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy:
            log.warning(
                "%s: another connection is reading; erased data stays in the -wal file "
                "until the next checkpoint",
                self.path,
            )
        return not busy

    def _after_erasure(self) -> CatalogErasure:
        """Make the rows an erasure just committed unrecoverable as far as this database can;
        remember and return what was done (``last_erasure``)."""
        if self.dialect == "sqlite":
            wiped = self.checkpoint()
            report = CatalogErasure(
                "sqlite",
                "rows deleted and overwritten with zeros (secure_delete); write-ahead log "
                + ("checkpointed and truncated" if wiped else "not checkpointed: a reader held it"),
                wiped,
                "" if wiped else "the -wal file until the next checkpoint",
            )
        else:
            tables = ", ".join(ERASED_TABLES)
            try:
                self._live().execute(f"VACUUM (ANALYZE) {tables}")
                done, vacuumed = f"rows deleted; VACUUM (ANALYZE) run on {tables}", True
            except sqlite3.Error as exc:  # e.g. another replica's VACUUM past the lock timeout
                log.warning("erasure committed, but VACUUM failed (autovacuum will do it): %s", exc)
                done, vacuumed = f"rows deleted; VACUUM failed ({exc})", False
            report = CatalogErasure(
                "postgresql",
                done,
                vacuumed,
                ("" if vacuumed else "dead row versions in the tables until autovacuum; ")
                + "freed bytes in the data files until reused, WAL segments until recycled, "
                "WAL archives and base backups until the operator's backup retention ends; "
                "rows a transaction older than the erasure still sees, until autovacuum",
            )
        self.last_erasure = report
        return report


def _with_option(url: str, setting: str) -> str:
    """``url`` with ``-c SETTING`` added to its ``options`` (server settings for each session)."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    options = " ".join([v for k, v in query if k == "options"] + [f"-c {setting}"])
    query = [(k, v) for k, v in query if k != "options"] + [("options", options)]
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))


def _configure(conn: sqlite3.Connection, busy_timeout_s: float) -> str:
    """Set the connection up; return its synchronous level (NORMAL under WAL, else FULL)."""
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
    # Only takes effect on a new, empty file: 8 KiB pages pack 512-d embedding rows (2.2 KB)
    # three to a page instead of one to a 4 KiB page (-30 % file size at 512-d).
    conn.execute("PRAGMA page_size = 8192")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA secure_delete = ON")
    mode = enable_wal(conn, busy_timeout_s)
    synchronous = "NORMAL" if mode == "wal" else "FULL"
    if mode != "wal":  # e.g. a file system without shared memory: a rollback journal, synced
        log.warning("the catalog cannot use WAL here (journal mode %s): slower writes", mode)
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    conn.execute("PRAGMA journal_size_limit = 67108864")
    return synchronous
