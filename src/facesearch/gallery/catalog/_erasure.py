"""Erasure: faces, images and subjects deleted for good, and the blocklist of embeddings
that ingest must refuse. Each erasure commits durably and then ends with a checkpoint (SQLite)
or a VACUUM (ANALYZE) of the tables it deleted from (PostgreSQL); ``last_erasure`` says
which, and what is left to the server (see ``_connection``)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from facesearch.gallery.catalog import _codec, _read, _write
from facesearch.gallery.catalog._connection import CatalogConnection
from facesearch.gallery.catalog.records import BlocklistSeen, FaceRecord, PendingBlock, RunOwner


class Erasure(CatalogConnection):
    """Erasure and the blocklist (part of ``Catalog``)."""

    # -- erasure ------------------------------------------------------------------------------

    def delete_faces(
        self, ids: Sequence[int], *, with_embeddings: bool = False, prune_images: bool = False
    ) -> list[FaceRecord]:
        """Erase these faces and the subjects left without a face; return what was erased
        (ids not in the catalog are skipped).

        ``prune_images`` also erases the images left without any face (their source paths and
        metadata may name the person).
        """
        with self._writing(durable=True) as conn:
            found = _read.faces_by_id(conn, ids, with_embeddings)
            records = [found[i] for i in dict.fromkeys(int(i) for i in ids) if i in found]
            _write.erase_faces(conn, records, prune_images)
        self._after_erasure()
        return records

    def delete_image(self, image_id: int, *, with_embeddings: bool = False) -> list[FaceRecord]:
        """Erase an image, its faces and the subjects left without a face; return the faces.
        NotFoundError if there is none."""
        with self._writing(durable=True) as conn:
            _read.image(conn, image_id)
            records = _read.select_faces(
                conn, "f.image_id = ?", (int(image_id),), with_embeddings, order="f.face_index"
            )
            labels = _write.subjects_of(conn, [r.id for r in records])
            conn.execute("DELETE FROM faces WHERE image_id = ?", (int(image_id),))
            conn.execute("DELETE FROM images WHERE id = ?", (int(image_id),))
            _write.prune_subjects(conn, labels)
        self._after_erasure()
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
        self._after_erasure()
        return records

    # -- blocklist ----------------------------------------------------------------------------

    def blocklist_add(
        self,
        model_id: str,
        embedding: npt.ArrayLike,
        note: str = "",
        *,
        org: str | None = None,
        pending: RunOwner | None = None,
    ) -> int:
        """Remember an embedding whose matches ingest must refuse; returns its id. ``org``:
        the organisation whose erasure made it, whose ingests alone refuse them (None: the
        host's erasure, for every ingest of the deployment). ``pending``: the erasing process,
        until ``blocklist_recorded`` says its audit entry is written (the entry applies
        meanwhile all the same)."""
        _codec.check_name(model_id, "model")
        if org is not None:
            _codec.check_name(org, "organisation")
        blob, dim = _codec.encode_embedding(embedding)
        held = None if pending is None else _codec.dump_json_object(pending.as_dict(), "owner")
        with self._writing() as conn:
            key = _write.model_key(conn, model_id, dim, {})
            return _write.insert_id(
                conn,
                "INSERT INTO blocklist (model_id, dim, embedding, added, note, org, pending) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (key, dim, blob, _codec.now_utc(), str(note), org, held),
            )

    def blocklist_recorded(self, entry_id: int) -> bool:
        """Entry ``entry_id`` is recorded (its erasure's audit entry is written): no longer
        pending. False when there is no such entry pending."""
        with self._writing() as conn:
            cur = conn.execute(
                "UPDATE blocklist SET pending = NULL WHERE id = ? AND pending IS NOT NULL",
                (int(entry_id),),
            )
            return bool(cur.rowcount)

    def blocklist_unrecorded(self, entry_id: int, why: str) -> None:
        """Pending entry ``entry_id`` will not be recorded by its erasure, which could not
        write its audit entry (``why``): it stays pending, to settle at once."""
        with self._writing() as conn:
            row = conn.execute(
                "SELECT pending FROM blocklist WHERE id = ? AND pending IS NOT NULL",
                (int(entry_id),),
            ).fetchone()
            if row is None:
                return
            held = _codec.load_json(str(row[0]))
            held = {**(held if isinstance(held, dict) else {}), "failed": str(why)}
            conn.execute(
                "UPDATE blocklist SET pending = ? WHERE id = ?",
                (_codec.dump_json_object(held, "pending"), int(entry_id)),
            )

    def blocklist_pending(self) -> list[PendingBlock]:
        """The entries still pending (``blocklist_add(pending=...)``), oldest first."""
        with self._reading() as conn:
            rows = conn.execute(
                "SELECT b.id, m.name, b.org, b.added, b.note, b.pending FROM blocklist b "
                "JOIN models m ON m.id = b.model_id WHERE b.pending IS NOT NULL ORDER BY b.id"
            ).fetchall()
        return [
            PendingBlock(int(r[0]), str(r[1]), r[2], str(r[3]), str(r[4]), *_owner(str(r[5])))
            for r in rows
        ]

    def blocklist_remove(self, entry_id: int) -> None:
        """Take entry ``entry_id`` off the blocklist (an erasure that failed before erasing
        anything takes back the entry it had just made)."""
        with self._writing() as conn:
            conn.execute("DELETE FROM blocklist WHERE id = ?", (int(entry_id),))

    def blocklist_screen(
        self, model_id: str, org: str | None = None
    ) -> tuple[npt.NDArray[np.float32], BlocklistSeen]:
        """``blocklist(model_id, org)`` and what it was, read together (one query), for
        ``add_images(screened=...)``."""
        with self._reading() as conn:
            model = _read.model(conn, model_id)
            if model is None:
                return np.zeros((0, 0), dtype=np.float32), BlocklistSeen(model_id, org, 0)
            rows = conn.execute(
                "SELECT id, embedding FROM blocklist WHERE model_id = ? "
                "AND (org IS NULL OR lower(org) = lower(?)) ORDER BY id",
                (model[0], org),
            ).fetchall()
        entries = _codec.decode_embeddings([r[1] for r in rows], model[1])
        last = max((int(r[0]) for r in rows), default=0)
        return entries, BlocklistSeen(model_id, org, len(rows), last)

    def blocklist(self, model_id: str, org: str | None = None) -> npt.NDArray[np.float32]:
        """(n, dim) float32 of the blocked embeddings of a model that apply to an ingest of
        ``org`` (names ignore case): the deployment-wide ones and ``org``'s own, never another
        organisation's; None: the deployment-wide ones only. (0, 0) for an unknown model."""
        return self.blocklist_screen(model_id, org)[0]

    def blocklist_sizes(self, model_id: str) -> dict[str | None, int]:
        """How many entries of a model each organisation made (None: the deployment-wide
        ones, when there are any); {} for an unknown model."""
        with self._reading() as conn:
            model = _read.model(conn, model_id)
            if model is None:
                return {}
            rows = conn.execute(
                "SELECT min(org), count(DISTINCT embedding) FROM blocklist WHERE model_id = ? "
                "GROUP BY lower(org)",
                (model[0],),
            ).fetchall()
        rows.sort(key=lambda r: (r[0] is not None, str(r[0]).lower()))
        return {None if r[0] is None else str(r[0]): int(r[1]) for r in rows}


def _owner(text: str) -> tuple[RunOwner | None, str | None]:
    """The process of a pending entry, and why its erasure gave up recording it (if so)."""
    try:
        held = _codec.load_json(text)
    except ValueError:
        return None, None
    if not isinstance(held, dict):
        return None, None
    failed = held.get("failed")
    try:
        owner = RunOwner.from_dict(held)
    except (ValueError, KeyError, TypeError):
        owner = None
    return owner, None if failed is None else str(failed)
