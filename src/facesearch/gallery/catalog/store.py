"""``Catalog``: the SQLite access layer, the one source of truth of a facesearch home.

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
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import numpy.typing as npt

from facesearch.errors import CatalogError, InputError, NotFoundError
from facesearch.gallery.catalog import _codec, _read, _write
from facesearch.gallery.catalog._prepare import prepare_image
from facesearch.gallery.catalog.records import (
    AddedImage,
    CatalogState,
    CollectionInfo,
    FaceRecord,
    ImageRecord,
    IngestFailure,
    IngestRun,
    NewImage,
    RunStatus,
)
from facesearch.gallery.catalog.schema import SCHEMA_VERSION, migrate
from facesearch.gallery.sqlite_wal import enable_wal
from facesearch.private import FILE_MODE, make_private_dir, private_file

log = logging.getLogger(__name__)

CATALOG_FILE = "catalog.sqlite"
_FINISHED = ("completed", "failed", "interrupted")


@contextmanager
def _sqlite_errors() -> Iterator[None]:
    """Turn sqlite3's exceptions into CatalogError, the one error the library shows for it."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise CatalogError(f"the catalog is busy (another process is writing): {exc}") from exc
        raise CatalogError(f"catalog database error: {exc}") from exc
    except sqlite3.Error as exc:
        raise CatalogError(f"catalog database error: {exc}") from exc


class Catalog:
    """Images, faces, subjects, collections, ingest runs and the erasure blocklist.

    Open with ``Catalog.open(path)`` (or ``open_home``) and close with ``close()`` or a ``with``
    block. See the module docstring for durability, erasure and threading.
    """

    def __init__(self, conn: sqlite3.Connection, path: Path, synchronous: str = "NORMAL") -> None:
        """Use ``Catalog.open``; this wraps a connection that is already configured."""
        self._conn: sqlite3.Connection | None = conn
        self._synchronous = synchronous  # the level outside erasures
        self.path = path

    # -- opening and closing ------------------------------------------------------------

    @classmethod
    def open(cls, path: str | Path, *, busy_timeout_s: float = 30.0) -> Catalog:
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
            with _sqlite_errors():
                synchronous = _configure(conn, busy_timeout_s)
                before = migrate(conn)
        except BaseException as exc:
            conn.close()
            if isinstance(exc, CatalogError) and "not a database" in str(exc):
                raise CatalogError(f"{path}: not a facesearch catalog") from exc
            raise
        if 0 < before < SCHEMA_VERSION:
            log.info("%s: schema migrated from version %d to %d", path, before, SCHEMA_VERSION)
        return cls(conn, path, synchronous)

    @classmethod
    def open_home(cls, home: str | Path, **options: Any) -> Catalog:
        """Open ``HOME/catalog.sqlite``."""
        return cls.open(Path(home) / CATALOG_FILE, **options)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def __enter__(self) -> Catalog:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Catalog({str(self.path)!r}{'' if self._conn else ', closed'})"

    def _live(self) -> sqlite3.Connection:
        if self._conn is None:
            raise CatalogError("the catalog is closed")
        return self._conn

    @contextmanager
    def _writing(self, *, durable: bool = False) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE: takes the write lock up front)."""
        conn = self._live()
        with _sqlite_errors():
            if durable:
                conn.execute("PRAGMA synchronous = FULL")
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    yield conn
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            finally:
                if durable:
                    conn.execute(f"PRAGMA synchronous = {self._synchronous}")

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """One read transaction: the statements inside see one snapshot."""
        conn = self._live()
        with _sqlite_errors():
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                conn.execute("COMMIT")

    # -- collections ----------------------------------------------------------------------

    def ensure_collection(self, name: str) -> int:
        """The id of collection ``name``, created if it does not exist."""
        _codec.check_name(name, "collection")
        with self._writing() as conn:
            return _write.ensure_collection(conn, name)

    def collections(self) -> list[CollectionInfo]:
        with self._reading() as conn:
            rows = conn.execute(
                "SELECT name, image_count, face_count, created FROM collections ORDER BY name"
            ).fetchall()
        return [CollectionInfo(name=r[0], images=r[1], faces=r[2], created=r[3]) for r in rows]

    # -- images -----------------------------------------------------------------------------

    def has_image(self, sha256: str, collection: str) -> bool:
        digest = _codec.check_sha256(sha256)
        with self._reading() as conn:
            row = conn.execute(
                """SELECT 1 FROM images i JOIN collections c ON c.id = i.collection_id
                WHERE c.name = ? AND i.sha256 = ?""",
                (collection, digest),
            ).fetchone()
        return row is not None

    def known_hashes(self, collection: str, sha256s: Sequence[str]) -> set[str]:
        """The members of ``sha256s`` (lower-cased) that ``collection`` already holds."""
        digests = sorted({_codec.check_sha256(d) for d in sha256s})
        known: set[str] = set()
        with self._reading() as conn:
            cid = _read.collection_id(conn, collection)
            if cid is None:
                return known
            for part in _read.chunks(digests):
                rows = conn.execute(
                    f"""SELECT sha256 FROM images WHERE collection_id = ?
                    AND sha256 IN ({_read.placeholders(len(part))})""",
                    (cid, *part),
                )
                known.update(row[0] for row in rows)
        return known

    def add_images(self, collection: str, items: Sequence[NewImage]) -> list[AddedImage]:
        """Store a batch of images and their faces in ONE transaction: all of it or nothing.

        The collection, subjects and models are created on demand. An image whose sha256 the
        collection already holds (or that appears earlier in the batch) is not stored again:
        its AddedImage says ``duplicate=True`` and carries the id of the image already there.
        Every item is checked before anything is written (InputError names the bad one).
        """
        _codec.check_name(collection, "collection")
        prepared = [prepare_image(item, n) for n, item in enumerate(items)]
        with self._writing() as conn:
            return _write.insert_images(conn, _write.ensure_collection(conn, collection), prepared)

    def image(self, image_id: int) -> ImageRecord:
        with self._reading() as conn:
            return _read.image(conn, image_id)

    def sources_under(self, folder_glob: str) -> dict[str, str]:
        """``{source: sha256}`` of the images whose file lies in a folder (at any depth) whose
        name matches the GLOB pattern ``folder_glob``, e.g. an upload job's id.

        Matched by the folder's name, not by an absolute path, so that the files of a home that
        was moved or restored to another path are still found: the sources keep the old path.
        """
        if "/" in folder_glob or not folder_glob:
            raise InputError("folder_glob is the pattern of one folder name")
        with self._reading() as conn:
            rows = conn.execute(
                "SELECT source, sha256 FROM images WHERE source GLOB ?", (f"*/{folder_glob}/*",)
            ).fetchall()
        return {str(row[0]): str(row[1]) for row in rows}

    # -- faces ------------------------------------------------------------------------------

    def faces(self, ids: Sequence[int], *, with_embeddings: bool = False) -> list[FaceRecord]:
        """The faces with these ids, in the order given; ids not in the catalog are left out."""
        with self._reading() as conn:
            found = _read.faces_by_id(conn, ids, with_embeddings)
        return [found[int(i)] for i in ids if int(i) in found]

    def face(self, face_id: int, *, with_embeddings: bool = False) -> FaceRecord:
        found = self.faces([face_id], with_embeddings=with_embeddings)
        if not found:
            raise NotFoundError(f"no face with id {face_id}")
        return found[0]

    def faces_of_image(self, image_id: int, *, with_embeddings: bool = False) -> list[FaceRecord]:
        with self._reading() as conn:
            _read.image(conn, image_id)
            return _read.select_faces(
                conn, "f.image_id = ?", (int(image_id),), with_embeddings, order="f.face_index"
            )

    def faces_of_subject(self, name: str, *, with_embeddings: bool = False) -> list[FaceRecord]:
        with self._reading() as conn:
            sid = _read.subject_id(conn, name)
            return _read.select_faces(conn, "f.subject_id = ?", (sid,), with_embeddings)

    def set_label(self, face_ids: Sequence[int], subject: str | None) -> None:
        """Label these faces with ``subject`` (created on demand), or unlabel them with None.

        NotFoundError, and nothing changed, if any id is not in the catalog.
        """
        if subject is not None:
            _codec.check_name(subject, "subject")
        ids = sorted({int(i) for i in face_ids})
        with self._writing() as conn:
            _write.require_faces(conn, ids)
            sid = None if subject is None else _write.ensure_subject(conn, subject)
            for part in _read.chunks(ids):
                marks = _read.placeholders(len(part))
                conn.execute(f"UPDATE faces SET subject_id = ? WHERE id IN ({marks})", (sid, *part))

    # -- the vector index's view ----------------------------------------------------------

    def face_vectors(
        self, collections: Sequence[str] | None, model_id: str, chunk: int = 50_000
    ) -> Iterator[tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]]:
        """Stream (ids, embeddings) of ``model_id``'s faces, ids ascending, ``chunk`` at a time.

        ``collections=None`` means all of them; a collection that does not exist raises
        NotFoundError (now, not at the first ``next``). Each chunk is its own read, so no
        transaction stays open between chunks: take ``state(model_id)`` *before* streaming and
        store that, so that any change made meanwhile shows the index as stale. The arrays are
        fresh and writable; the embeddings are (n, dim) float32.
        """
        if chunk <= 0:
            raise InputError("chunk must be positive")
        with self._reading() as conn:
            model = _read.model(conn, model_id)
            cids: list[int] | None = None
            if collections is not None:
                cids = []
                for name in collections:
                    cid = _read.collection_id(conn, name)
                    if cid is None:
                        raise NotFoundError(f"no collection named {name!r}")
                    cids.append(cid)
        if model is None or cids == []:
            return iter(())
        return self._stream_vectors(model, cids, chunk)

    def _stream_vectors(
        self, model: tuple[int, int], cids: list[int] | None, chunk: int
    ) -> Iterator[tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]]:
        key, dim = model
        if cids is None:
            sql = """SELECT id, embedding FROM faces WHERE model_id = ? AND id > ?
                ORDER BY id LIMIT ?"""
        else:
            sql = f"""SELECT f.id, f.embedding FROM faces f
                JOIN images i ON i.id = f.image_id
                WHERE f.model_id = ? AND f.id > ?
                AND i.collection_id IN ({_read.placeholders(len(cids))})
                ORDER BY f.id LIMIT ?"""
        last = 0
        while True:
            params = (key, last, chunk) if cids is None else (key, last, *cids, chunk)
            with _sqlite_errors():
                rows = self._live().execute(sql, params).fetchall()
            if not rows:
                return
            ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            yield ids, _codec.decode_embeddings([r[1] for r in rows], dim)
            last = int(ids[-1])
            if len(rows) < chunk:
                return

    def state(self, model_id: str) -> CatalogState:
        """What an index built from ``face_vectors(..., model_id)`` stores to detect staleness.

        Costs three indexed lookups whatever the size of the catalog.
        """
        with self._reading() as conn:
            return _state(conn, model_id)

    def index_snapshot(
        self, model_id: str
    ) -> tuple[CatalogState, dict[str, npt.NDArray[np.int64]]]:
        """The state and, per collection, the ids of ``model_id``'s faces, from one snapshot.

        What a vector index compares itself with to repair any difference (faces erased or
        added by another process): the ids are exactly the faces of that state."""
        out: dict[str, npt.NDArray[np.int64]] = {}
        with self._reading() as conn:
            state = _state(conn, model_id)
            model = _read.model(conn, model_id)
            if model is not None:
                for cid, name in conn.execute("SELECT id, name FROM collections").fetchall():
                    rows = conn.execute(
                        """SELECT f.id FROM faces f JOIN images i ON i.id = f.image_id
                        WHERE i.collection_id = ? AND f.model_id = ? ORDER BY f.id""",
                        (cid, model[0]),
                    )
                    ids = np.fromiter((r[0] for r in rows), dtype=np.int64)
                    if len(ids):
                        out[name] = ids
        return state, out

    def erased_between(self, after: int, upto: int) -> npt.NDArray[np.int64] | None:
        """Ids of the faces erased by generations ``after < g <= upto``; None when the log
        does not cover them all (a catalog from before the log)."""
        if upto <= after:
            return np.empty(0, np.int64)
        with self._reading() as conn:
            rows = conn.execute(
                "SELECT face_id FROM erased_faces WHERE generation > ? AND generation <= ?",
                (after, upto),
            ).fetchall()
        if len(rows) != upto - after:
            return None
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def face_vectors_between(
        self, model_id: str, after_id: int, upto_id: int, chunk: int = 50_000
    ) -> Iterator[tuple[str, npt.NDArray[np.int64], npt.NDArray[np.float32]]]:
        """Stream (collection, ids, embeddings) of faces with ``after_id < id <= upto_id``."""
        with self._reading() as conn:
            model = _read.model(conn, model_id)
        if model is None:
            return
        key, dim = model
        last = after_id
        while last < upto_id:
            with _sqlite_errors():
                rows = (
                    self._live()
                    .execute(
                        """SELECT c.name, f.id, f.embedding FROM faces f
                    JOIN images i ON i.id = f.image_id
                    JOIN collections c ON c.id = i.collection_id
                    WHERE f.model_id = ? AND f.id > ? AND f.id <= ? ORDER BY f.id LIMIT ?""",
                        (key, last, upto_id, chunk),
                    )
                    .fetchall()
                )
            if not rows:
                return
            by_collection: dict[str, list[tuple[int, bytes]]] = {}
            for name, face_id, blob in rows:
                by_collection.setdefault(name, []).append((face_id, blob))
            for name, part in by_collection.items():
                ids = np.fromiter((r[0] for r in part), dtype=np.int64, count=len(part))
                yield name, ids, _codec.decode_embeddings([r[1] for r in part], dim)
            last = int(rows[-1][1])
            if len(rows) < chunk:
                return

    def vectors_of(
        self, model_id: str, ids: npt.NDArray[np.int64]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        """(ids, embeddings) of those of ``ids`` that still exist, ids ascending."""
        with self._reading() as conn:
            model = _read.model(conn, model_id)
            if model is None or not len(ids):
                return np.empty(0, np.int64), np.empty(
                    (0, 0 if model is None else model[1]), np.float32
                )
            key, dim = model
            rows: list[tuple[int, bytes]] = []
            for part in _read.chunks([int(i) for i in ids]):
                rows.extend(
                    conn.execute(
                        f"SELECT id, embedding FROM faces WHERE model_id = ? "
                        f"AND id IN ({_read.placeholders(len(part))})",
                        (key, *part),
                    ).fetchall()
                )
        rows.sort()
        found = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        return found, _codec.decode_embeddings([r[1] for r in rows], dim)

    # -- ingest runs ------------------------------------------------------------------------

    def start_run(self, arguments: Mapping[str, Any]) -> int:
        text = _codec.dump_json_object(arguments, "run arguments")
        with self._writing() as conn:
            cur = conn.execute(
                "INSERT INTO ingest_runs (started, arguments, status) VALUES (?, ?, 'running')",
                (_codec.now_utc(), text),
            )
            return int(cur.lastrowid or 0)

    def record_failure(self, run_id: int, source: str, reason: str) -> None:
        with self._writing() as conn:
            _write.require_run(conn, run_id)
            conn.execute(
                "INSERT INTO ingest_failures (run_id, source, reason) VALUES (?, ?, ?)",
                (int(run_id), str(source), str(reason)),
            )

    def finish_run(
        self, run_id: int, summary: Mapping[str, Any], status: RunStatus = "completed"
    ) -> None:
        if status not in _FINISHED:
            raise InputError(f"run status must be one of {', '.join(_FINISHED)}, not {status!r}")
        text = _codec.dump_json_object(summary, "run summary")
        with self._writing() as conn:
            _write.require_run(conn, run_id)
            conn.execute(
                "UPDATE ingest_runs SET finished = ?, summary = ?, status = ? WHERE id = ?",
                (_codec.now_utc(), text, status, int(run_id)),
            )

    def runs(self) -> list[IngestRun]:
        with self._reading() as conn:
            return _read.runs(conn)

    def failures(self, run_id: int) -> list[IngestFailure]:
        with self._reading() as conn:
            _write.require_run(conn, run_id)
            rows = conn.execute(
                "SELECT source, reason FROM ingest_failures WHERE run_id = ? ORDER BY id",
                (int(run_id),),
            ).fetchall()
        return [IngestFailure(run_id=int(run_id), source=r[0], reason=r[1]) for r in rows]

    # -- erasure ------------------------------------------------------------------------------

    def delete_faces(
        self, ids: Sequence[int], *, with_embeddings: bool = False, prune_images: bool = False
    ) -> list[FaceRecord]:
        """Erase these faces; return what was erased (ids not in the catalog are skipped).

        ``prune_images`` also erases the images left without any face (their source paths and
        metadata may name the person).
        """
        with self._writing(durable=True) as conn:
            found = _read.faces_by_id(conn, ids, with_embeddings)
            records = [found[i] for i in dict.fromkeys(int(i) for i in ids) if i in found]
            _write.erase_faces(conn, records, prune_images)
        self.checkpoint()
        return records

    def delete_image(self, image_id: int, *, with_embeddings: bool = False) -> list[FaceRecord]:
        """Erase an image and its faces; return the faces. NotFoundError if there is none."""
        with self._writing(durable=True) as conn:
            _read.image(conn, image_id)
            records = _read.select_faces(
                conn, "f.image_id = ?", (int(image_id),), with_embeddings, order="f.face_index"
            )
            conn.execute("DELETE FROM faces WHERE image_id = ?", (int(image_id),))
            conn.execute("DELETE FROM images WHERE id = ?", (int(image_id),))
        self.checkpoint()
        return records

    def delete_subject(
        self, name: str, *, with_embeddings: bool = False, prune_images: bool = False
    ) -> list[FaceRecord]:
        """Erase every face labelled ``name`` and the subject itself; return the faces."""
        with self._writing(durable=True) as conn:
            sid = _read.subject_id(conn, name)
            records = _read.select_faces(conn, "f.subject_id = ?", (sid,), with_embeddings)
            _write.erase_faces(conn, records, prune_images)
            conn.execute("DELETE FROM subjects WHERE id = ?", (sid,))
        self.checkpoint()
        return records

    def checkpoint(self) -> bool:
        """Copy the WAL into the main file and truncate it; False if a reader prevented it."""
        with _sqlite_errors():
            busy, _, _ = self._live().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy:
            log.warning(
                "%s: another connection is reading; erased data stays in the -wal file "
                "until the next checkpoint",
                self.path,
            )
        return not busy

    # -- blocklist ----------------------------------------------------------------------------

    def blocklist_add(self, model_id: str, embedding: npt.ArrayLike, note: str = "") -> int:
        """Remember an embedding whose matches ingest must refuse; returns its id."""
        _codec.check_name(model_id, "model")
        blob, dim = _codec.encode_embedding(embedding)
        with self._writing() as conn:
            key = _write.model_key(conn, model_id, dim, {})
            cur = conn.execute(
                "INSERT INTO blocklist (model_id, dim, embedding, added, note) "
                "VALUES (?, ?, ?, ?, ?)",
                (key, dim, blob, _codec.now_utc(), str(note)),
            )
            return int(cur.lastrowid or 0)

    def blocklist(self, model_id: str) -> npt.NDArray[np.float32]:
        """(n, dim) float32 of the blocked embeddings of a model; (0, 0) for an unknown model."""
        with self._reading() as conn:
            model = _read.model(conn, model_id)
            if model is None:
                return np.zeros((0, 0), dtype=np.float32)
            rows = conn.execute(
                "SELECT embedding FROM blocklist WHERE model_id = ? ORDER BY id", (model[0],)
            ).fetchall()
        return _codec.decode_embeddings([r[0] for r in rows], model[1])

    # -- reports --------------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Counts of everything held; cheap (counters and small tables)."""
        with self._reading() as conn:
            return _read.stats(conn)

    def export_subject(self, name: str) -> dict[str, Any]:
        """Everything held about a subject, JSON-serialisable (a subject-access export).

        Its faces with boxes, landmarks, quality, model and embedding (as lists of floats), and
        the images they are in (source, sha256, size, metadata). NotFoundError if unknown.
        """
        with self._reading() as conn:
            return _read.subject_export(conn, name)


# -- connection set-up ------------------------------------------------------------------------


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


def _state(conn: sqlite3.Connection, model_id: str) -> CatalogState:
    catalog_id, generation = conn.execute(
        "SELECT catalog_id, erasure_generation FROM catalog_state"
    ).fetchone()
    row = conn.execute(
        "SELECT id, dim, face_count FROM models WHERE name = ?", (model_id,)
    ).fetchone()
    max_id = 0
    if row is not None:
        found = conn.execute("SELECT max(id) FROM faces WHERE model_id = ?", (row[0],)).fetchone()[
            0
        ]
        max_id = int(found or 0)
    return CatalogState(
        catalog_id=catalog_id,
        model_id=model_id,
        dim=None if row is None else int(row[1]),
        face_count=0 if row is None else int(row[2]),
        max_face_id=max_id,
        erasure_generation=int(generation),
    )
