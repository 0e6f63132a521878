"""SELECTs that turn rows into records. Every function takes an open connection.

The WHERE clauses passed to ``select_faces`` are constants written in this package; values
always travel as parameters.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

from facesearch.errors import NotFoundError
from facesearch.gallery.catalog import _codec
from facesearch.gallery.catalog.records import (
    EVERY_FACE_BLOCKED,
    FaceRecord,
    ImageRecord,
    IngestRun,
    RunCounts,
    RunOwner,
)
from facesearch.types import BBox

T = TypeVar("T")

# Ids bound per statement; SQLite's limit on parameters is 999 in old builds.
ID_CHUNK = 500

_FACE_SELECT = """SELECT f.id, f.image_id, c.name, i.source, f.face_index, f.x, f.y, f.w, f.h,
        f.landmarks, f.det_score, f.quality, m.name, s.name, f.dim, {embedding}, i.sha256
    FROM faces f
    JOIN images i ON i.id = f.image_id
    JOIN collections c ON c.id = i.collection_id
    JOIN models m ON m.id = f.model_id
    LEFT JOIN subjects s ON s.id = f.subject_id
    WHERE {where}"""

_IMAGE_SELECT = """SELECT i.id, i.sha256, c.name, i.source, i.size_bytes, i.width, i.height,
        i.added, i.metadata
    FROM images i JOIN collections c ON c.id = i.collection_id
    WHERE i.id = ?"""


def chunks(values: Sequence[T], size: int = ID_CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def placeholders(n: int) -> str:
    return ", ".join("?" * n)


def glob_operator(conn: sqlite3.Connection) -> str:
    """The operator that matches a text against ``glob_pattern``'s result."""
    return "GLOB" if getattr(conn, "dialect", "sqlite") == "sqlite" else "~"


def glob_pattern(conn: sqlite3.Connection, glob: str) -> str:
    """A SQLite GLOB pattern (``*``, ``?``, ``[...]``, ``[^...]``; case-sensitive) as the
    database matches it: unchanged for SQLite, an anchored regular expression for PostgreSQL."""
    if getattr(conn, "dialect", "sqlite") == "sqlite":
        return glob
    out, i = ["^"], 0
    while i < len(glob):
        ch = glob[i]
        end = glob.find("]", i + (3 if glob[i + 1 : i + 2] == "^" else 2)) if ch == "[" else -1
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        elif end > 0:  # a set; a "]" right after "[" or "[^" belongs to it
            negate = glob[i + 1] == "^"
            body = glob[i + (2 if negate else 1) : end].replace("\\", "\\\\")
            out.append(f"[{'^' if negate else ''}{body}]")
            i = end
        else:
            out.append(re.escape(ch))
        i += 1
    return "".join(out) + "$"


def _face(row: sqlite3.Row | tuple[Any, ...]) -> FaceRecord:
    embedding = None if row[15] is None else _codec.decode_embedding(row[15], row[14])
    return FaceRecord(
        id=row[0],
        image_id=row[1],
        collection=row[2],
        source=row[3],
        face_index=row[4],
        bbox=BBox(row[5], row[6], row[7], row[8]),
        landmarks=_codec.decode_landmarks(row[9]),
        det_score=row[10],
        quality=_codec.load_json(row[11]),
        model_id=row[12],
        subject=row[13],
        image_sha256=row[16],
        embedding=embedding,
    )


def select_faces(
    conn: sqlite3.Connection,
    where: str,
    params: Sequence[Any],
    with_embeddings: bool,
    order: str = "f.id",
) -> list[FaceRecord]:
    sql = _FACE_SELECT.format(embedding="f.embedding" if with_embeddings else "NULL", where=where)
    return [_face(row) for row in conn.execute(f"{sql} ORDER BY {order}", tuple(params))]


def faces_by_id(
    conn: sqlite3.Connection, ids: Sequence[int], with_embeddings: bool
) -> dict[int, FaceRecord]:
    found: dict[int, FaceRecord] = {}
    unique = sorted({int(i) for i in ids})
    for part in chunks(unique):
        where = f"f.id IN ({placeholders(len(part))})"
        for record in select_faces(conn, where, part, with_embeddings):
            found[record.id] = record
    return found


def image(conn: sqlite3.Connection, image_id: int) -> ImageRecord:
    row = conn.execute(_IMAGE_SELECT, (int(image_id),)).fetchone()
    if row is None:
        raise NotFoundError(f"no image with id {image_id}")
    return ImageRecord(
        id=row[0],
        sha256=row[1],
        collection=row[2],
        source=row[3],
        size_bytes=row[4],
        width=row[5],
        height=row[6],
        added=row[7],
        metadata=_codec.load_json(row[8]),
    )


def runs(conn: sqlite3.Connection, *, held: bool = False) -> list[IngestRun]:
    """Every run, or (``held``) only those a process holds (``renewed`` set)."""
    rows = conn.execute(
        f"""SELECT r.id, r.started, r.finished, r.arguments, r.summary, r.status,
            (SELECT count(*) FROM ingest_failures f WHERE f.run_id = r.id),
            r.images_added, r.faces_added, r.owner, r.renewed
        FROM ingest_runs r {"WHERE r.renewed IS NOT NULL" if held else ""} ORDER BY r.id"""
    )
    return [
        IngestRun(
            id=row[0],
            started=row[1],
            finished=row[2],
            arguments=_codec.load_json(row[3]),
            summary=_codec.load_json(row[4]),
            status=row[5],
            failures=row[6],
            images_added=row[7],
            faces_added=row[8],
            owner=None if row[9] is None else RunOwner.from_dict(_codec.load_json(row[9])),
            renewed=row[10],
        )
        for row in rows
    ]


def subject_id(conn: sqlite3.Connection, name: str) -> int:
    row = conn.execute("SELECT id FROM subjects WHERE name = ?", (name,)).fetchone()
    if row is None:
        raise NotFoundError(f"no subject named {name!r}")
    return int(row[0])


def collection_id(conn: sqlite3.Connection, name: str) -> int | None:
    row = conn.execute("SELECT id FROM collections WHERE name = ?", (name,)).fetchone()
    return None if row is None else int(row[0])


def model(conn: sqlite3.Connection, name: str) -> tuple[int, int] | None:
    """(key, dim) of a model, None when the catalog has never seen it."""
    row = conn.execute("SELECT id, dim FROM models WHERE name = ?", (name,)).fetchone()
    return None if row is None else (int(row[0]), int(row[1]))


def blocklist_version(conn: sqlite3.Connection, model_id: str, org: str | None) -> tuple[int, int]:
    """How many blocklist entries of ``model_id`` apply to an ingest of ``org`` (the
    deployment-wide ones and ``org``'s own; None: the deployment-wide ones), and the id of
    the newest (0: none)."""
    found = model(conn, model_id)
    if found is None:
        return 0, 0
    row = conn.execute(
        "SELECT count(*), coalesce(max(id), 0) FROM blocklist WHERE model_id = ? "
        "AND (org IS NULL OR lower(org) = lower(?))",
        (found[0], org),
    ).fetchone()
    return int(row[0]), int(row[1])


# A failure that is a photo skipped by the erasure blocklist (or a copy of one), as SQL
_BLOCKED = "(reason = ? OR reason LIKE ?)"
_BLOCKED_ARGS = (EVERY_FACE_BLOCKED, "%, which failed: " + EVERY_FACE_BLOCKED)


def _run_collection(conn: sqlite3.Connection) -> str:
    """SQL for the collection an ingest run went into (its arguments, a JSON object)."""
    if getattr(conn, "dialect", "sqlite") == "postgresql":
        return "(arguments::jsonb ->> 'collection')"
    return "json_extract(arguments, '$.collection')"


def run_counts(conn: sqlite3.Connection, collections: Sequence[str] | None) -> RunCounts:
    """The ingest runs into ``collections`` (None: every run) and their failed and
    blocklisted files. The runs table is small (one row a run) and failures are found by
    run through ``ingest_failures_by_run``."""
    if collections is not None and not collections:
        return RunCounts(0, 0, 0)
    runs = "SELECT id FROM ingest_runs"
    args: list[Any] = []
    if collections is not None:
        runs += f" WHERE {_run_collection(conn)} IN ({placeholders(len(collections))})"
        args = list(collections)
    count = int(conn.execute(f"SELECT count(*) FROM ({runs}) r", args).fetchone()[0])
    row = conn.execute(
        f"""SELECT count(*), coalesce(sum(CASE WHEN {_BLOCKED} THEN 1 ELSE 0 END), 0)
        FROM ingest_failures WHERE run_id IN ({runs})""",
        [*_BLOCKED_ARGS, *args],
    ).fetchone()
    failures, blocked = int(row[0]), int(row[1])
    return RunCounts(count, failures - blocked, blocked)


def subject_count(conn: sqlite3.Connection, collections: Sequence[str] | None) -> int:
    """How many subjects label a face in ``collections`` (None: every subject, each labels
    a face). Reads the faces of those collections (their images through the collection's
    index, their faces through the image's): 13 ms a 10,000 faces on SQLite, where looking
    each subject of the catalog up through ``faces_by_subject`` took 230 ms on 100,000
    faces whatever the collections held (benchmarks/org_counts.py)."""
    if collections is None:
        return int(conn.execute("SELECT count(*) FROM subjects").fetchone()[0])
    if not collections:
        return 0
    row = conn.execute(
        f"""SELECT count(DISTINCT f.subject_id) FROM faces f JOIN images i ON i.id = f.image_id
        WHERE f.subject_id IS NOT NULL AND i.collection_id IN (
            SELECT id FROM collections WHERE name IN ({placeholders(len(collections))}))""",
        list(collections),
    ).fetchone()
    return int(row[0])


def stats(conn: sqlite3.Connection) -> dict[str, Any]:
    def one(sql: str) -> int:
        return int(conn.execute(sql).fetchone()[0] or 0)

    runs = run_counts(conn, None)

    models = conn.execute("SELECT name, dim, face_count FROM models ORDER BY name").fetchall()
    return {
        "images": one("SELECT sum(image_count) FROM collections"),
        "faces": one("SELECT sum(face_count) FROM models"),
        "subjects": one("SELECT count(*) FROM subjects"),
        "collections": one("SELECT count(*) FROM collections"),
        "ingest_runs": runs.runs,
        "ingest_failures": runs.failed,  # files that could not be ingested
        "ingest_blocklisted": runs.blocklisted,  # skipped: every face on the blocklist
        "blocklist": one("SELECT count(*) FROM blocklist"),
        "models": [{"name": m[0], "dim": m[1], "faces": m[2]} for m in models],
    }


def subject_export(conn: sqlite3.Connection, name: str) -> dict[str, Any]:
    sid = subject_id(conn, name)
    faces = select_faces(conn, "f.subject_id = ?", (sid,), with_embeddings=True)
    images = [image(conn, i) for i in sorted({f.image_id for f in faces})]
    return {
        "subject": name,
        "exported": _codec.now_utc(),
        "images": [
            {
                "id": im.id,
                "collection": im.collection,
                "source": im.source,
                "sha256": im.sha256,
                "size_bytes": im.size_bytes,
                "width": im.width,
                "height": im.height,
                "added": im.added,
                "metadata": im.metadata,
            }
            for im in images
        ],
        "faces": [_face_export(f) for f in faces],
    }


def _face_export(face: FaceRecord) -> dict[str, Any]:
    return {
        "id": face.id,
        "image_id": face.image_id,
        "face_index": face.face_index,
        "bbox": {"x": face.bbox.x, "y": face.bbox.y, "w": face.bbox.w, "h": face.bbox.h},
        "landmarks": [list(p) for p in face.landmarks],
        "det_score": face.det_score,
        "quality": face.quality,
        "model_id": face.model_id,
        "embedding": [] if face.embedding is None else face.embedding.tolist(),
    }
