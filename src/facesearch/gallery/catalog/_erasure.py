"""Erasure: faces, images and subjects deleted for good, and the blocklist of embeddings
that ingest must refuse. Each erasure commits durably and then ends with a checkpoint (SQLite)
or a VACUUM (ANALYZE) of the tables it deleted from (PostgreSQL); ``last_erasure`` says
which, and what is left to the server (see ``_connection``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from facesearch.gallery.catalog import _codec, _read, _write
from facesearch.gallery.catalog._connection import CatalogConnection
from facesearch.gallery.catalog.records import BlocklistSeen, FaceRecord, PendingBlock, RunOwner


class Erasure(CatalogConnection):
    """Erasure and the blocklist (part of ``Catalog``)."""

    # -- erasure ------------------------------------------------------------------------------

    def delete_faces(
        self,
        ids: Sequence[int],
        *,
        with_embeddings: bool = False,
        prune_images: bool = False,
        unname_persons: bool = False,
    ) -> list[FaceRecord]:
        """Erase these faces and the subjects left without a face; return what was erased
        (ids not in the catalog are skipped).

        ``prune_images`` also erases the images left without any face (their source paths and
        metadata may name the person). ``unname_persons``: an erasure of someone (like a
        photo, a subject): the persons it takes a face from lose their names (those still
        there afterwards: ``last_unnamed``).
        """
        with self._writing(durable=True) as conn:
            found = _read.faces_by_id(conn, ids, with_embeddings)
            records = [found[i] for i in dict.fromkeys(int(i) for i in ids) if i in found]
            unnamed = _write.erase_faces(conn, records, prune_images, unname_persons)
        self.last_unnamed = tuple(unnamed)
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
        self.last_unnamed = ()
        self._after_erasure()
        return records

    def delete_subject(
        self, name: str, *, with_embeddings: bool = False, prune_images: bool = False
    ) -> list[FaceRecord]:
        """Erase every face labelled ``name`` and the subject itself; return the faces. The
        persons they belonged to lose their names (``delete_faces``' ``unname_persons``)."""
        with self._writing(durable=True) as conn:
            sid = _read.subject_id(conn, name)
            records = _read.select_faces(conn, "f.subject_id = ?", (sid,), with_embeddings)
            unnamed = _write.erase_faces(conn, records, prune_images, unname_persons=True)
            conn.execute("DELETE FROM subjects WHERE id = ?", (sid,))
        self.last_unnamed = tuple(unnamed)
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

    def blocklist_recorded(self, entry_id: int, owner: RunOwner | None = None) -> bool:
        """Entry ``entry_id`` is recorded by its erasure (its audit entry is written): no
        longer pending. False, and nothing changes, when it is not pending for its erasure any
        more: settled, or being settled, meanwhile (``blocklist_claim``: the settlement's
        ``erase`` entry says what became of it), or (``owner`` given) pending for another
        process."""
        with self._writing() as conn:
            if _erasures(conn, entry_id, owner) is None:
                return False
            conn.execute("UPDATE blocklist SET pending = NULL WHERE id = ?", (int(entry_id),))
            return True

    def blocklist_renew(self, entry_id: int, owner: RunOwner) -> bool:
        """``owner``, the erasure of pending entry ``entry_id``, still runs (its last sign of
        life, by which another machine judges it: ``app.blocklist_pending``). False when the
        entry is no longer pending for it (settled or being settled meanwhile)."""
        with self._writing() as conn:
            held = _erasures(conn, entry_id, owner)
            if held is None:
                return False
            held = {**held, "renewed": _codec.now_utc()}
            conn.execute(
                "UPDATE blocklist SET pending = ? WHERE id = ?",
                (_codec.dump_json_object(held, "pending"), int(entry_id)),
            )
            return True

    def blocklist_unrecorded(self, entry_id: int, why: str) -> None:
        """Pending entry ``entry_id`` will not be recorded by its erasure, which failed after
        its scan (``why``: it could not erase, or write its audit entry): it stays pending, to
        settle at once (unless it is being settled already). The first failure's ``why``
        stays."""
        with self._writing() as conn:
            held = _erasures(conn, entry_id, None)
            if held is None or "failed" in held:
                return
            held = {**held, "failed": str(why)}
            conn.execute(
                "UPDATE blocklist SET pending = ? WHERE id = ?",
                (_codec.dump_json_object(held, "pending"), int(entry_id)),
            )

    def blocklist_claim(self, entry_id: int, held: str, settler: RunOwner) -> str | None:
        """Start settling pending entry ``entry_id``, as ``settler``, if its pending text is
        still ``held`` (``PendingBlock.held``, as read): one compare-and-set, so that of two
        settlements at once exactly one claims it. Returns the text that now marks it
        (``blocklist_settled`` and ``blocklist_unclaim`` take it); None when it changed
        meanwhile (settled, being settled, renewed by its erasure, or gone): nothing changes.
        The entry stays pending, naming ``settler``, until the settlement ends."""
        try:
            was = _codec.load_json(held)
        except ValueError:
            was = held
        marker = {**settler.as_dict(), "settling": True, "renewed": _codec.now_utc(), "was": was}
        text = _codec.dump_json_object(marker, "pending")
        with self._writing() as conn:
            cur = conn.execute(
                "UPDATE blocklist SET pending = ? WHERE id = ? AND pending = ?",
                (text, int(entry_id), str(held)),
            )
            return text if cur.rowcount else None

    def blocklist_unclaim(self, entry_id: int, marker: str, held: str) -> bool:
        """A settlement that could not be logged gives entry ``entry_id`` back: pending as it
        was (``held``), if it still bears the settlement's ``marker``."""
        with self._writing() as conn:
            cur = conn.execute(
                "UPDATE blocklist SET pending = ? WHERE id = ? AND pending = ?",
                (str(held), int(entry_id), str(marker)),
            )
            return bool(cur.rowcount)

    def blocklist_settled(self, entry_id: int, marker: str, *, keep: bool) -> bool:
        """The settlement that claimed entry ``entry_id`` (``marker``) is logged: the entry is
        recorded (``keep``) or taken off the blocklist. False if it no longer bears
        ``marker``."""
        sql = (
            "UPDATE blocklist SET pending = NULL WHERE id = ? AND pending = ?"
            if keep
            else "DELETE FROM blocklist WHERE id = ? AND pending = ?"
        )
        with self._writing() as conn:
            return bool(conn.execute(sql, (int(entry_id), str(marker))).rowcount)

    def blocklist_pending(self) -> list[PendingBlock]:
        """The entries still pending (``blocklist_add(pending=...)``), oldest first."""
        with self._reading() as conn:
            rows = conn.execute(
                "SELECT b.id, m.name, b.org, b.added, b.note, b.pending FROM blocklist b "
                "JOIN models m ON m.id = b.model_id WHERE b.pending IS NOT NULL ORDER BY b.id"
            ).fetchall()
        return [_pending(r) for r in rows]

    def blocklist_remove(self, entry_id: int, *, owner: RunOwner | None = None) -> bool:
        """Take entry ``entry_id`` off the blocklist; False if there is none. ``owner``: the
        erasure that made it takes it back (it failed before erasing anything), only while
        it is pending for that erasure: not once settled, or being settled, meanwhile (kept
        by someone, it stays)."""
        with self._writing() as conn:
            if owner is not None and _erasures(conn, entry_id, owner) is None:
                return False
            cur = conn.execute("DELETE FROM blocklist WHERE id = ?", (int(entry_id),))
            return bool(cur.rowcount)

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


def _pending(row: Any) -> PendingBlock:
    """The PendingBlock of a row (id, model, org, added, note, pending)."""
    held = str(row[5])
    try:
        parsed = _codec.load_json(held)
    except ValueError:
        parsed = None
    fields: dict[str, Any] = parsed if isinstance(parsed, dict) else {}
    try:
        owner: RunOwner | None = RunOwner.from_dict(fields)
    except (ValueError, KeyError, TypeError):
        owner = None
    failed, renewed = fields.get("failed"), fields.get("renewed")
    return PendingBlock(
        int(row[0]),
        str(row[1]),
        row[2],
        str(row[3]),
        str(row[4]),
        owner,
        None if failed is None else str(failed),
        None if renewed is None else str(renewed),
        fields.get("settling") is True,
        held,
    )


def _erasures(conn: Any, entry_id: int, owner: RunOwner | None) -> dict[str, Any] | None:
    """The pending fields of entry ``entry_id`` while it is pending for its erasure (not
    being settled) and, ``owner`` given, that erasure is ``owner``; else None."""
    row = conn.execute(
        "SELECT pending FROM blocklist WHERE id = ? AND pending IS NOT NULL", (int(entry_id),)
    ).fetchone()
    if row is None:
        return None
    try:
        held = _codec.load_json(str(row[0]))
    except ValueError:
        held = None
    fields: dict[str, Any] = held if isinstance(held, dict) else {}
    if fields.get("settling") is True:
        return None
    if owner is not None:
        try:
            if RunOwner.from_dict(fields) != owner:
                return None
        except (ValueError, KeyError, TypeError):
            return None
    return fields
