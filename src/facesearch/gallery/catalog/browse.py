"""Browsing the catalog a page at a time: faces, images and subjects, filtered by collection,
subject name prefix and labelled / unlabelled (part of ``Catalog``).

Every listing has a stable order (faces and images by id, subjects by name), a total, and is
cut with LIMIT / OFFSET. The SQL is standard (it runs on SQLite and, through
``sqlstore.pg``, on PostgreSQL); the WHERE clauses are constants written here, values travel
as parameters. A subject prefix matches case-insensitively (``lower`` on both sides) with
``%`` and ``_`` taken literally.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from facesearch.errors import InputError
from facesearch.gallery.catalog import _read
from facesearch.gallery.catalog._connection import CatalogConnection
from facesearch.gallery.catalog.records import FaceRecord, ImageRecord

__all__ = ["Browse", "BrowseFilter", "ImageEntry", "SubjectEntry"]

MAX_LIMIT = 1000
_ESCAPE = "!"


@dataclass(frozen=True)
class BrowseFilter:
    """Which items a listing shows. ``labelled``: True, faces with a subject (images with a
    labelled face); False, faces without one (images without any labelled face); None, all."""

    collection: str | None = None
    subject_prefix: str | None = None
    labelled: bool | None = None
    within: tuple[str, ...] | None = None  # only these collections (an organisation's scope)


def _within(f: BrowseFilter, where: list[str], params: list[Any]) -> None:
    if f.within is not None:
        where.append(f"c.name IN ({', '.join('?' * len(f.within))})" if f.within else "1 = 0")
        params.extend(f.within)


@dataclass(frozen=True)
class ImageEntry:
    """An image of a listing with how many faces it holds and their subjects."""

    image: ImageRecord
    faces: int
    subjects: tuple[str, ...]


@dataclass(frozen=True)
class SubjectEntry:
    """A subject (label) of a listing: its faces and images (within the filter's collection),
    and the lowest face id, shown as its picture."""

    name: str
    faces: int
    images: int
    first_face_id: int


def _like_prefix(prefix: str) -> str:
    escaped = "".join(_ESCAPE + ch if ch in f"%_{_ESCAPE}" else ch for ch in prefix)
    return escaped + "%"


_PREFIX = f"lower(s.name) LIKE lower(?) ESCAPE '{_ESCAPE}'"


def _face_where(f: BrowseFilter) -> tuple[str, list[Any]]:
    where, params = ["1 = 1"], []
    if f.collection is not None:
        where.append("c.name = ?")
        params.append(f.collection)
    _within(f, where, params)
    if f.labelled is True:
        where.append("f.subject_id IS NOT NULL")
    elif f.labelled is False:
        where.append("f.subject_id IS NULL")
    if f.subject_prefix:
        where.append(_PREFIX)
        params.append(_like_prefix(f.subject_prefix))
    return " AND ".join(where), params


def _image_where(f: BrowseFilter) -> tuple[str, list[Any]]:
    where, params = ["1 = 1"], []
    labelled = (
        "EXISTS (SELECT 1 FROM faces lf WHERE lf.image_id = i.id AND lf.subject_id IS NOT NULL)"
    )
    if f.collection is not None:
        where.append("c.name = ?")
        params.append(f.collection)
    _within(f, where, params)
    if f.labelled is True:
        where.append(labelled)
    elif f.labelled is False:
        where.append("NOT " + labelled)
    if f.subject_prefix:
        where.append(
            "EXISTS (SELECT 1 FROM faces f JOIN subjects s ON s.id = f.subject_id "
            f"WHERE f.image_id = i.id AND {_PREFIX})"
        )
        params.append(_like_prefix(f.subject_prefix))
    return " AND ".join(where), params


def _check(offset: int, limit: int) -> None:
    if offset < 0 or not 1 <= limit <= MAX_LIMIT:
        raise InputError(f"a listing takes an offset >= 0 and a limit from 1 to {MAX_LIMIT}")


class Browse(CatalogConnection):
    """Paged listings of faces, images and subjects (part of ``Catalog``)."""

    def list_faces(self, f: BrowseFilter, offset: int, limit: int) -> tuple[list[FaceRecord], int]:
        """(the faces of the page, ids ascending; how many match in all)."""
        _check(offset, limit)
        where, params = _face_where(f)
        select = _read._FACE_SELECT.format(embedding="NULL", where=where)
        count_sql = f"SELECT count(*) FROM ({select}) AS matched"
        with self._reading() as conn:
            total = int(conn.execute(count_sql, tuple(params)).fetchone()[0])
            rows = conn.execute(
                f"{select} ORDER BY f.id LIMIT ? OFFSET ?", (*params, limit, offset)
            ).fetchall()
        return [_read._face(r) for r in rows], total

    def list_images(self, f: BrowseFilter, offset: int, limit: int) -> tuple[list[ImageEntry], int]:
        """(the images of the page, ids ascending, with their face counts; how many match)."""
        _check(offset, limit)
        where, params = _image_where(f)
        base = f"FROM images i JOIN collections c ON c.id = i.collection_id WHERE {where}"
        with self._reading() as conn:
            total = int(conn.execute(f"SELECT count(*) {base}", tuple(params)).fetchone()[0])
            ids = [
                int(r[0])
                for r in conn.execute(
                    f"SELECT i.id {base} ORDER BY i.id LIMIT ? OFFSET ?", (*params, limit, offset)
                )
            ]
            out = [self._image_entry(conn, i) for i in ids]
        return out, total

    @staticmethod
    def _image_entry(conn: Any, image_id: int) -> ImageEntry:
        rows: Sequence[Any] = conn.execute(
            """SELECT s.name FROM faces f LEFT JOIN subjects s ON s.id = f.subject_id
            WHERE f.image_id = ? ORDER BY f.id""",
            (image_id,),
        ).fetchall()
        subjects = tuple(sorted({r[0] for r in rows if r[0] is not None}))
        return ImageEntry(_read.image(conn, image_id), len(rows), subjects)

    def list_subjects(
        self, f: BrowseFilter, offset: int, limit: int
    ) -> tuple[list[SubjectEntry], int]:
        """(the subjects of the page, by name, with their counts; how many match). Only
        subjects with a face (in the collection, when one is given); none when the filter
        asks for unlabelled items."""
        _check(offset, limit)
        if f.labelled is False:
            return [], 0
        where, params = _face_where(BrowseFilter(f.collection, f.subject_prefix, True, f.within))
        joins = """FROM faces f
            JOIN images i ON i.id = f.image_id
            JOIN collections c ON c.id = i.collection_id
            JOIN subjects s ON s.id = f.subject_id"""
        with self._reading() as conn:
            total = int(
                conn.execute(
                    f"SELECT count(DISTINCT s.id) {joins} WHERE {where}", tuple(params)
                ).fetchone()[0]
            )
            rows = conn.execute(
                f"""SELECT s.name, count(f.id), count(DISTINCT f.image_id), min(f.id) {joins}
                WHERE {where} GROUP BY s.id, s.name ORDER BY s.name LIMIT ? OFFSET ?""",
                (*params, limit, offset),
            ).fetchall()
        return [SubjectEntry(r[0], int(r[1]), int(r[2]), int(r[3])) for r in rows], total
