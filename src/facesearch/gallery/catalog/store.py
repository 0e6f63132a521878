"""``Catalog``: the catalog's access layer (SQLite in the home, or PostgreSQL), the one source
of truth of a facesearch deployment.

``Catalog`` is assembled from parts, one per concern: the connection and its transactions
(``_connection``: durability, erasure checkpoints and threading are described there), the
vector index's view (``_vectors_view``), erasure and the blocklist (``_erasure``), persons
(``_people``), the database it is in (``_identity``: a copy or a move), and here
collections, images, faces and labels, ingest runs, counts and the subject-access export.
SQL lives in ``_read`` (SELECTs) and ``_write`` (writes inside a transaction).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from facesearch.errors import BlocklistChangedError, InputError, NotFoundError
from facesearch.gallery.catalog import _codec, _read, _write
from facesearch.gallery.catalog._connection import CATALOG_FILE
from facesearch.gallery.catalog._erasure import Erasure
from facesearch.gallery.catalog._identity import Identity
from facesearch.gallery.catalog._people import People
from facesearch.gallery.catalog._prepare import prepare_image
from facesearch.gallery.catalog._vectors_view import VectorsView
from facesearch.gallery.catalog.browse import Browse
from facesearch.gallery.catalog.records import (
    AddedImage,
    BlocklistSeen,
    CollectionInfo,
    FaceRecord,
    ImageRecord,
    IngestFailure,
    IngestRun,
    NewImage,
    RunCounts,
    RunOwner,
    RunStatus,
)

__all__ = ["CATALOG_FILE", "Catalog"]

_FINISHED = ("completed", "failed", "interrupted")


class Catalog(VectorsView, Erasure, People, Browse, Identity):
    """Images, faces, subjects, collections, ingest runs, the erasure blocklist and persons.

    Open with ``Catalog.open(path)`` (or ``open_home``) and close with ``close()`` or a ``with``
    block. See ``_connection`` for durability, erasure and threading.
    """

    # -- collections ----------------------------------------------------------------------

    def ensure_collection(self, name: str) -> int:
        """The id of collection ``name``, created if it does not exist."""
        _codec.check_name(name, "collection")
        with self._writing() as conn:
            return _write.ensure_collection(conn, name)

    def collection_names(self) -> dict[int, str]:
        """Id -> name of every collection (the ids are Milvus's partition keys); read only."""
        with self._reading() as conn:
            rows = conn.execute("SELECT id, name FROM collections").fetchall()
        return {int(r[0]): str(r[1]) for r in rows}

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

    def add_images(
        self,
        collection: str,
        items: Sequence[NewImage],
        *,
        run_id: int | None = None,
        screened: BlocklistSeen | None = None,
    ) -> list[AddedImage]:
        """Store a batch of images and their faces in ONE transaction: all of it or nothing.

        The collection, subjects and models are created on demand. An image whose sha256 the
        collection already holds (or that appears earlier in the batch) is not stored again:
        its AddedImage says ``duplicate=True`` and carries the id of the image already there.
        Every item is checked before anything is written (InputError names the bad one).
        ``run_id``: the ingest run they belong to, whose counts of images and faces added grow
        in the same transaction (so a run killed at any moment says what it added).
        ``screened``: the blocklist the faces were screened against; BlocklistChangedError,
        with nothing written, when the entries that apply now are not those. Checked in this
        write transaction, so an erasure like a photo, which adds its entry and then scans the
        catalog, either finds these faces or made the entry this batch is told of.
        """
        _codec.check_name(collection, "collection")
        prepared = [prepare_image(item, n) for n, item in enumerate(items)]
        with self._writing() as conn:
            if screened is not None:
                now = _read.blocklist_version(conn, screened.model_id, screened.org)
                if now != (screened.entries, screened.last_id):
                    raise BlocklistChangedError(
                        f"the erasure blocklist changed ({screened.entries} -> {now[0]} entries)"
                    )
            if run_id is not None:
                _write.require_run(conn, run_id)
            added = _write.insert_images(conn, _write.ensure_collection(conn, collection), prepared)
            if run_id is not None:
                new = [a for a in added if not a.duplicate]
                conn.execute(
                    """UPDATE ingest_runs SET images_added = coalesce(images_added, 0) + ?,
                    faces_added = coalesce(faces_added, 0) + ? WHERE id = ?""",
                    (len(new), sum(len(a.face_ids) for a in new), int(run_id)),
                )
            return added

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
                f"SELECT source, sha256 FROM images WHERE source {_read.glob_operator(conn)} ?",
                (_read.glob_pattern(conn, f"*/{folder_glob}/*"),),
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
        """Label these faces with ``subject`` (created on demand), or unlabel them with None;
        a subject left without a face goes.

        NotFoundError, and nothing changed, if any id is not in the catalog.
        """
        if subject is not None:
            _codec.check_name(subject, "subject")
        ids = sorted({int(i) for i in face_ids})
        with self._writing() as conn:
            _write.require_faces(conn, ids)
            sid = None if subject is None else _write.ensure_subject(conn, subject)
            labels = _write.subjects_of(conn, ids)
            for part in _read.chunks(ids):
                marks = _read.placeholders(len(part))
                conn.execute(f"UPDATE faces SET subject_id = ? WHERE id IN ({marks})", (sid, *part))
            _write.prune_subjects(conn, labels)

    # -- ingest runs ------------------------------------------------------------------------

    def start_run(self, arguments: Mapping[str, Any]) -> int:
        text = _codec.dump_json_object(arguments, "run arguments")
        with self._writing() as conn:
            return _write.insert_id(
                conn,
                "INSERT INTO ingest_runs (started, arguments, status, images_added, faces_added) "
                "VALUES (?, ?, 'running', 0, 0) RETURNING id",
                (_codec.now_utc(), text),
            )

    def hold_run(self, run_id: int, owner: RunOwner) -> None:
        """``owner`` answers for the run until ``release_run``: it renews its hold
        (``renew_run``) while it lives, and whoever finds it gone records how the run ended
        (``gallery.run_lease``)."""
        text = _codec.dump_json_object(owner.as_dict(), "run owner")
        with self._writing() as conn:
            _write.require_run(conn, run_id)
            conn.execute(
                "UPDATE ingest_runs SET owner = ?, renewed = ? WHERE id = ?",
                (text, _codec.now_utc(), int(run_id)),
            )

    def renew_run(self, run_id: int) -> bool:
        """The holder of the run is alive now; False if the run is held no more (released,
        by its holder or by one who found the holder gone)."""
        with self._writing() as conn:
            cursor = conn.execute(
                "UPDATE ingest_runs SET renewed = ? WHERE id = ? AND renewed IS NOT NULL",
                (_codec.now_utc(), int(run_id)),
            )
            return cursor.rowcount > 0

    def release_run(self, run_id: int, *, abandoned: bool = False) -> bool:
        """Nobody holds the run any more; False if nobody did. ``abandoned``: its holder is
        gone, and a run it left ``running`` becomes ``abandoned`` (a finished one keeps its
        status)."""
        with self._writing() as conn:
            _write.require_run(conn, run_id)
            if abandoned:
                conn.execute(
                    "UPDATE ingest_runs SET status = 'abandoned', finished = ? "
                    "WHERE id = ? AND status = 'running'",
                    (_codec.now_utc(), int(run_id)),
                )
            cursor = conn.execute(
                "UPDATE ingest_runs SET renewed = NULL WHERE id = ? AND renewed IS NOT NULL",
                (int(run_id),),
            )
            return cursor.rowcount > 0

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

    def runs(self, *, held: bool = False) -> list[IngestRun]:
        """Every ingest run, oldest first; ``held``: only those a process holds."""
        with self._reading() as conn:
            return _read.runs(conn, held=held)

    def failures(self, run_id: int) -> list[IngestFailure]:
        with self._reading() as conn:
            _write.require_run(conn, run_id)
            rows = conn.execute(
                "SELECT source, reason FROM ingest_failures WHERE run_id = ? ORDER BY id",
                (int(run_id),),
            ).fetchall()
        return [IngestFailure(run_id=int(run_id), source=r[0], reason=r[1]) for r in rows]

    # -- reports --------------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Counts of everything held; cheap (counters and small tables). ``ingest_failures``
        counts the files that could not be ingested, ``ingest_blocklisted`` those skipped
        because every face in them matches the erasure blocklist."""
        with self._reading() as conn:
            return _read.stats(conn)

    def run_counts(self, collections: Sequence[str] | None = None) -> RunCounts:
        """The ingest runs into ``collections`` (None: every run), with the files they
        failed and those the erasure blocklist skipped."""
        with self._reading() as conn:
            return _read.run_counts(conn, collections)

    def subject_count(self, collections: Sequence[str] | None = None) -> int:
        """How many subjects label a face in ``collections`` (None: in any)."""
        with self._reading() as conn:
            return _read.subject_count(conn, collections)

    def export_subject(self, name: str) -> dict[str, Any]:
        """Everything held about a subject, JSON-serialisable (a subject-access export).

        Its faces with boxes, landmarks, quality, model and embedding (as lists of floats), and
        the images they are in (source, sha256, size, metadata). NotFoundError if unknown.
        """
        with self._reading() as conn:
            return _read.subject_export(conn, name)
