"""INSERTs, UPDATEs and DELETEs. Every function runs inside the caller's write transaction."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from facesearch.errors import CatalogError, NotFoundError
from facesearch.gallery.catalog import _codec, _read
from facesearch.gallery.catalog._prepare import PreparedImage
from facesearch.gallery.catalog.records import AddedImage, FaceRecord


def insert_id(conn: sqlite3.Connection, sql: str, params: Sequence[Any]) -> int:
    """Run an ``INSERT ... RETURNING id`` of one row; its id (PostgreSQL has no ``lastrowid``).
    The rows are all fetched, so that SQLite finishes the statement at once."""
    return int(conn.execute(sql, tuple(params)).fetchall()[0][0])


def ensure_collection(conn: sqlite3.Connection, name: str) -> int:
    cid = _read.collection_id(conn, name)
    if cid is None:
        _codec.check_new_collection_name(name)
        cid = insert_id(
            conn,
            "INSERT INTO collections (name, created) VALUES (?, ?) RETURNING id",
            (name, _codec.now_utc()),
        )
    return cid


def ensure_subject(conn: sqlite3.Connection, name: str) -> int:
    conn.execute("INSERT INTO subjects (name) VALUES (?) ON CONFLICT (name) DO NOTHING", (name,))
    return _read.subject_id(conn, name)


def model_key(
    conn: sqlite3.Connection, name: str, dim: int, cache: dict[str, tuple[int, int]]
) -> int:
    model = cache.get(name) or _read.model(conn, name)
    if model is None:
        sql = "INSERT INTO models (name, dim) VALUES (?, ?) RETURNING id"
        model = (insert_id(conn, sql, (name, dim)), dim)
    if model[1] != dim:
        raise CatalogError(
            f"model {name!r} has {model[1]}-dimensional embeddings in this catalog, not {dim}"
        )
    cache[name] = model
    return model[0]


def insert_images(
    conn: sqlite3.Connection, cid: int, prepared: Sequence[PreparedImage]
) -> list[AddedImage]:
    models: dict[str, tuple[int, int]] = {}
    in_batch: dict[str, int] = {}
    out: list[AddedImage] = []
    for item in prepared:
        existing = in_batch.get(item.sha256)
        if existing is None:
            row = conn.execute(
                "SELECT id FROM images WHERE collection_id = ? AND sha256 = ?", (cid, item.sha256)
            ).fetchone()
            existing = None if row is None else int(row[0])
        if existing is not None:
            out.append(AddedImage(image_id=existing, face_ids=(), duplicate=True))
            continue
        image_id = insert_id(
            conn,
            """INSERT INTO images (collection_id, sha256, source, size_bytes, width, height,
                added, metadata) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id""",
            (cid, item.sha256, item.source, item.size_bytes, item.width, item.height,
             _codec.now_utc(), item.metadata),
        )  # fmt: skip
        in_batch[item.sha256] = image_id
        labelled = item.subject is not None and any(f.labelled for f in item.faces)
        subject = ensure_subject(conn, item.subject) if labelled and item.subject else None
        face_ids = []
        for face in item.faces:
            face_ids.append(insert_id(
                conn,
                """INSERT INTO faces (image_id, face_index, x, y, w, h, landmarks, det_score,
                    quality, model_id, dim, embedding, subject_id)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id""",
                (image_id, face.face_index, *face.bbox, face.landmarks, face.det_score,
                 face.quality, model_key(conn, face.model_id, face.dim, models), face.dim,
                 face.embedding, subject if face.labelled else None),
            ))  # fmt: skip
        out.append(AddedImage(image_id=image_id, face_ids=tuple(face_ids), duplicate=False))
    return out


def require_faces(conn: sqlite3.Connection, ids: Sequence[int]) -> None:
    present = 0
    for part in _read.chunks(ids):
        present += conn.execute(
            f"SELECT count(*) FROM faces WHERE id IN ({_read.placeholders(len(part))})", part
        ).fetchone()[0]
    if present != len(ids):
        raise NotFoundError(f"{len(ids) - present} of the {len(ids)} face ids do not exist")


def require_run(conn: sqlite3.Connection, run_id: int) -> None:
    if conn.execute("SELECT 1 FROM ingest_runs WHERE id = ?", (int(run_id),)).fetchone() is None:
        raise NotFoundError(f"no ingest run with id {run_id}")


def erase_faces(
    conn: sqlite3.Connection,
    records: Sequence[FaceRecord],
    prune_images: bool,
    unname_persons: bool = False,
) -> list[int]:
    """Delete these faces, the subjects they leave without a face and, with
    ``prune_images``, the images they leave without one. ``unname_persons``: the erasure is
    of someone (like a photo, or a subject), so the persons it takes a face from lose their
    names too (a person left without faces goes, with its name, in any case). Returns the
    persons that lost their names and are still there."""
    ids = [r.id for r in records]
    labels = subjects_of(conn, ids)
    unnamed = unname_persons_of(conn, ids) if unname_persons else []
    for part in _read.chunks(ids):
        conn.execute(f"DELETE FROM faces WHERE id IN ({_read.placeholders(len(part))})", part)
    prune_subjects(conn, labels)
    if prune_images:
        for part in _read.chunks(sorted({r.image_id for r in records})):
            conn.execute(
                f"""DELETE FROM images WHERE id IN ({_read.placeholders(len(part))})
                AND NOT EXISTS (SELECT 1 FROM faces WHERE faces.image_id = images.id)""",
                part,
            )
    return _still_there(conn, unnamed)


def _still_there(conn: sqlite3.Connection, person_ids: Sequence[int]) -> list[int]:
    """Those of these persons that still exist (one left without faces is gone)."""
    kept: list[int] = []
    for part in _read.chunks(list(person_ids)):
        rows = conn.execute(
            f"SELECT id FROM persons WHERE id IN ({_read.placeholders(len(part))}) ORDER BY id",
            part,
        )
        kept.extend(int(r[0]) for r in rows)
    return kept


def unname_persons_of(conn: sqlite3.Connection, face_ids: Sequence[int]) -> list[int]:
    """Take the names of the persons these faces belong to: the name a reviewer gave may be
    the erased person's, and would stay on the faces of others the person holds. Returns the
    ids of the persons that had a name."""
    now = _codec.now_utc()
    unnamed: set[int] = set()
    for part in _read.chunks(sorted({int(i) for i in face_ids})):
        rows = conn.execute(
            f"""UPDATE persons SET name = NULL, updated = ? WHERE name IS NOT NULL AND id IN
            (SELECT person_id FROM face_persons WHERE face_id IN
            ({_read.placeholders(len(part))})) RETURNING id""",
            (now, *part),
        ).fetchall()
        unnamed.update(int(r[0]) for r in rows)
    return sorted(unnamed)


def subjects_of(conn: sqlite3.Connection, face_ids: Sequence[int]) -> set[int]:
    """The subject ids these faces are labelled with."""
    found: set[int] = set()
    for part in _read.chunks(sorted({int(i) for i in face_ids})):
        rows = conn.execute(
            f"""SELECT DISTINCT subject_id FROM faces WHERE subject_id IS NOT NULL
            AND id IN ({_read.placeholders(len(part))})""",
            part,
        )
        found.update(int(r[0]) for r in rows)
    return found


def prune_subjects(conn: sqlite3.Connection, subject_ids: set[int]) -> None:
    """Delete those of these subjects that no face is labelled with any more: a subject is a
    name, personal data kept for its faces' sake (an erasure by face, image or photo left
    the name of a person whose every face it erased)."""
    for part in _read.chunks(sorted(subject_ids)):
        conn.execute(
            f"""DELETE FROM subjects WHERE id IN ({_read.placeholders(len(part))})
            AND NOT EXISTS (SELECT 1 FROM faces WHERE faces.subject_id = subjects.id)""",
            part,
        )
