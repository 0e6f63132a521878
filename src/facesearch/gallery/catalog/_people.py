"""People: the person each face of a collection belongs to, and the reviewer's changes.

A person belongs to one collection. Each face has at most one row in ``face_persons``: its
person, ``pinned`` (set by a reviewer or anchored by a label: a build never moves it) and a
``certainty`` (its similarity to its person's mean face; the person page lists the least
certain first). ``not_person`` remembers "this face is not this person" for the next build.
Erasing a face removes its rows; a person left without faces is removed with them (a trigger).

Clustering happens above (``gallery.people``): this part reads what a build needs in one
snapshot (``people_snapshot``), writes its outcome in one transaction (``write_people``), and
applies the review operations, each in one transaction and each refusing to put two faces of
one image into one person; each recomputes, in that transaction, the certainty of every face
of the persons it changed.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from facesearch.core.clustering import certainty
from facesearch.errors import InputError, NotFoundError
from facesearch.gallery.catalog import _codec, _read, _write
from facesearch.gallery.catalog._connection import CatalogConnection
from facesearch.types import MAX_ID, BBox

__all__ = ["MemberFace", "People", "PeopleAssignment", "PeopleSnapshot", "StoredPerson"]

NO_ID = -1  # in the snapshot's arrays: no subject, no person


@dataclass(frozen=True)
class MemberFace:
    """A face of a person, with what a person page shows."""

    face_id: int
    image_id: int
    source: str  # the image's source
    bbox: BBox
    certainty: float  # similarity to the person's mean face (1.0 for a face alone)
    pinned: bool  # set by a reviewer or a label: a build never moves it


@dataclass(frozen=True)
class StoredPerson:
    id: int
    collection: str
    name: str | None
    created: str
    updated: str
    faces: tuple[MemberFace, ...]  # the least certain first


@dataclass(frozen=True, eq=False)
class PeopleSnapshot:
    """What a build of a collection's people reads, from one snapshot; one row per face of
    the model, ids ascending."""

    collection: str
    face_ids: npt.NDArray[np.int64]
    image_ids: npt.NDArray[np.int64]
    areas: npt.NDArray[np.float64]  # box area: the largest labelled face of an image anchors
    subjects: npt.NDArray[np.int64]  # subject id, NO_ID when unlabelled
    persons: npt.NDArray[np.int64]  # person id, NO_ID when the face has no person yet
    pinned: npt.NDArray[np.bool_]
    embeddings: npt.NDArray[np.float32] = field(repr=False)  # (n, dim), L2-normalised
    not_person: tuple[tuple[int, int], ...] = ()  # (face id, person id)
    built: bool = False  # the collection's people have been built once


@dataclass(frozen=True, eq=False)
class PeopleAssignment:
    """The outcome of a build or an attach: each face's group, and for each group the person
    it keeps (an existing id) or None for a new person."""

    face_ids: npt.NDArray[np.int64]
    groups: npt.NDArray[np.int64]  # per face: an index into ``persons``
    persons: tuple[int | None, ...]
    pinned: npt.NDArray[np.bool_]
    certainty: npt.NDArray[np.float32]
    # per face: its person in the snapshot the build read (NO_ID: none); a row changed since
    # is left as it is. None: no such check (an assignment made without a snapshot)
    previous: npt.NDArray[np.int64] | None = None


_SNAPSHOT = """SELECT f.id, f.image_id, f.w * f.h, f.subject_id, fp.person_id, fp.pinned,
        f.embedding
    FROM faces f
    JOIN images i ON i.id = f.image_id
    LEFT JOIN face_persons fp ON fp.face_id = f.id
    WHERE i.collection_id = ? AND f.model_id = ?
    ORDER BY f.id"""

_MEMBERS = """SELECT p.id, p.name, p.created, p.updated, c.name, fp.face_id, f.image_id,
        i.source, f.x, f.y, f.w, f.h, fp.certainty, fp.pinned
    FROM persons p
    JOIN collections c ON c.id = p.collection_id
    JOIN face_persons fp ON fp.person_id = p.id
    JOIN faces f ON f.id = fp.face_id
    JOIN images i ON i.id = f.image_id
    WHERE {where}
    ORDER BY p.id, fp.certainty, fp.face_id"""

# A row is written unless its face is gone (erased meanwhile), a reviewer pinned it since, a
# reviewer said since that the face is not the person the build (from its older snapshot)
# puts it in, or (given the snapshot's person of each face) the row is no longer as the build
# read it: ``not_person`` leaves the face unpinned in a person of its own, and a build from
# before it put the face back, or in with the other faces of the person it is not.
_UPSERT = """INSERT INTO face_persons (face_id, person_id, pinned, certainty)
    SELECT ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM faces WHERE id = ?)
    ON CONFLICT (face_id) DO UPDATE SET person_id = excluded.person_id,
        pinned = excluded.pinned, certainty = excluded.certainty
    WHERE face_persons.pinned = 0 AND NOT EXISTS (SELECT 1 FROM not_person n
        WHERE n.face_id = face_persons.face_id AND n.person_id = excluded.person_id)
    AND (? = 0 OR COALESCE(face_persons.person_id, -1) = ?)"""


class People(CatalogConnection):
    """Persons and the review of them (part of ``Catalog``)."""

    # -- what a build reads and writes -------------------------------------------------------

    def people_snapshot(self, collection: str, model_id: str) -> PeopleSnapshot:
        """The faces of ``model_id`` in ``collection`` with their labels, persons and pins.
        NotFoundError for an unknown collection."""
        with self._reading() as conn:
            cid = _collection(conn, collection)
            model = _read.model(conn, model_id)
            rows = [] if model is None else conn.execute(_SNAPSHOT, (cid, model[0])).fetchall()
            pairs = conn.execute(
                """SELECT n.face_id, n.person_id FROM not_person n
                JOIN persons p ON p.id = n.person_id WHERE p.collection_id = ?
                ORDER BY n.face_id, n.person_id""",
                (cid,),
            ).fetchall()
            built = conn.execute(
                "SELECT 1 FROM people_builds WHERE collection_id = ?", (cid,)
            ).fetchone()
        n, dim = len(rows), (0 if model is None else model[1])

        def ints(k: int) -> npt.NDArray[np.int64]:
            return np.fromiter((NO_ID if r[k] is None else r[k] for r in rows), np.int64, n)

        return PeopleSnapshot(
            collection=collection,
            face_ids=ints(0),
            image_ids=ints(1),
            areas=np.fromiter((r[2] for r in rows), np.float64, n),
            subjects=ints(3),
            persons=ints(4),
            pinned=ints(5) == 1,
            embeddings=_codec.decode_embeddings([r[6] for r in rows], dim),
            not_person=tuple((int(a), int(b)) for a, b in pairs),
            built=built is not None,
        )

    def write_people(
        self,
        collection: str,
        assignment: PeopleAssignment,
        *,
        build: tuple[str, float] | None = None,
    ) -> tuple[int, ...]:
        """Write an assignment in one transaction; the person id of each group.

        Rows pinned meanwhile, faces erased meanwhile and faces said meanwhile not to be the
        person they would go to are left alone; persons left without faces are removed. A
        group whose person is gone meanwhile (merged away, or its last face erased) goes to a
        new person.
        ``build``: (method, threshold) of a full build, recorded.
        """
        a = assignment
        with self._writing() as conn:
            cid = _collection(conn, collection)
            now = _codec.now_utc()
            live = _live_persons(conn, cid, [p for p in a.persons if p is not None])
            ids = tuple(pid if pid in live else _new_person(conn, cid, now) for pid in a.persons)
            checked = int(a.previous is not None)
            was = a.previous if a.previous is not None else np.full(len(a.face_ids), NO_ID)
            conn.executemany(
                _UPSERT,
                (
                    (int(f), ids[int(g)], int(p), float(c), int(f), checked, int(w))
                    for f, g, p, c, w in zip(
                        a.face_ids, a.groups, a.pinned, a.certainty, was, strict=True
                    )
                ),
            )
            _touch(conn, ids, now)
            conn.execute(
                """DELETE FROM persons WHERE collection_id = ? AND NOT EXISTS
                (SELECT 1 FROM face_persons WHERE person_id = persons.id)""",
                (cid,),
            )
            if build is not None:
                conn.execute(
                    """INSERT INTO people_builds (collection_id, built, method, threshold, faces)
                    VALUES (?, ?, ?, ?, ?) ON CONFLICT (collection_id) DO UPDATE SET
                    built = excluded.built, method = excluded.method,
                    threshold = excluded.threshold, faces = excluded.faces""",
                    (cid, now, build[0], float(build[1]), len(a.face_ids)),
                )
        return ids

    # -- reads ---------------------------------------------------------------------------------

    def persons(self, collection: str) -> list[StoredPerson]:
        """Every person of ``collection`` with its faces, by id. NotFoundError for an unknown
        collection."""
        with self._reading() as conn:
            cid = _collection(conn, collection)
            return _members(conn, "p.collection_id = ?", (cid,))

    def people_built(self, collection: str) -> bool:
        """Whether the people of ``collection`` have been built (NotFoundError if unknown)."""
        with self._reading() as conn:
            cid = _collection(conn, collection)
            row = conn.execute("SELECT 1 FROM people_builds WHERE collection_id = ?", (cid,))
            return row.fetchone() is not None

    def person(self, person_id: int) -> StoredPerson:
        with self._reading() as conn:
            return _person(conn, person_id)

    def persons_of(self, face_ids: Sequence[int]) -> dict[int, int]:
        """``{face id: person id}`` for those of ``face_ids`` that have a person."""
        out: dict[int, int] = {}
        with self._reading() as conn:
            for part in _read.chunks(sorted({int(i) for i in face_ids})):
                rows = conn.execute(
                    f"""SELECT face_id, person_id FROM face_persons
                    WHERE face_id IN ({_read.placeholders(len(part))})""",
                    part,
                )
                out.update((int(f), int(p)) for f, p in rows)
        return out

    def person_names(self, person_ids: Sequence[int]) -> dict[int, str | None]:
        """``{person id: name}`` (None: unnamed) for those of ``person_ids`` that exist."""
        out: dict[int, str | None] = {}
        with self._reading() as conn:
            for part in _read.chunks(sorted({int(i) for i in person_ids})):
                sql = f"SELECT id, name FROM persons WHERE id IN ({_read.placeholders(len(part))})"
                out.update((int(p), n) for p, n in conn.execute(sql, part))
        return out

    def person_collections(self, person_ids: Sequence[int]) -> dict[int, str]:
        """``{person id: its collection's name}`` for those of ``person_ids`` that exist: one
        query per chunk of ids, no face read."""
        out: dict[int, str] = {}
        with self._reading() as conn:
            for part in _read.chunks(sorted({int(i) for i in person_ids})):
                sql = f"""SELECT p.id, c.name FROM persons p
                    JOIN collections c ON c.id = p.collection_id
                    WHERE p.id IN ({_read.placeholders(len(part))})"""
                out.update((int(p), str(c)) for p, c in conn.execute(sql, part))
        return out

    # -- review: each pins the faces it decides on ------------------------------------------

    def name_person(self, person_id: int, name: str | None) -> tuple[StoredPerson, StoredPerson]:
        """Name a person (None: unname it) and pin its faces: a named person anchors them.
        Returns the person as it was (read in the same transaction: what the change
        replaced, even with another writer at it) and as it is."""
        if name is not None:
            _codec.check_name(name, "person")
        with self._writing() as conn:
            before = _person(conn, person_id)
            conn.execute(
                "UPDATE persons SET name = ?, updated = ? WHERE id = ?",
                (name, _codec.now_utc(), int(person_id)),
            )
            conn.execute("UPDATE face_persons SET pinned = 1 WHERE person_id = ?", (person_id,))
            return before, _person(conn, person_id)

    def merge_persons(self, keep: int, other: int) -> tuple[StoredPerson, StoredPerson]:
        """Move every face of ``other`` into ``keep`` (pinned) and remove ``other``; its
        name is kept when ``keep`` has none, and its not-this-person rows move along (those of the
        faces now in ``keep`` are dropped: the reviewer has just said they are ``keep``).
        InputError for two collections or two faces of one image. Returns ``other`` as it was
        merged (read in the same transaction) and ``keep`` as it is."""
        if int(keep) == int(other):
            raise InputError("a person cannot be merged with itself")
        with self._writing() as conn:
            first, second = _person(conn, keep), _person(conn, other)
            if first.collection != second.collection:
                raise InputError("persons of two collections cannot be merged")
            shared = {f.image_id for f in first.faces} & {f.image_id for f in second.faces}
            if shared:
                raise InputError(
                    f"persons {keep} and {other} both hold a face of image {min(shared)}: "
                    "two faces of one photo are never one person"
                )
            conn.execute(
                "UPDATE face_persons SET person_id = ?, pinned = 1 WHERE person_id IN (?, ?)",
                (keep, keep, other),
            )
            conn.execute(  # copied to ``keep``; ``other``'s own rows go with it below
                """INSERT INTO not_person (face_id, person_id) SELECT face_id, ? FROM not_person
                WHERE person_id = ? ON CONFLICT DO NOTHING""",
                (keep, other),
            )
            conn.execute(  # the reviewer now says these faces are ``keep``
                """DELETE FROM not_person WHERE person_id = ?
                AND face_id IN (SELECT face_id FROM face_persons WHERE person_id = ?)""",
                (keep, keep),
            )
            conn.execute(
                "UPDATE persons SET name = coalesce(name, ?), updated = ? WHERE id = ?",
                (second.name, _codec.now_utc(), keep),
            )
            conn.execute("DELETE FROM persons WHERE id = ?", (other,))
            _recertify(conn, (keep,))
            return second, _person(conn, keep)

    def split_person(self, person_id: int, face_ids: Sequence[int]) -> StoredPerson:
        """Move ``face_ids`` off ``person_id`` into a new person; both sides are pinned, so
        no build joins them again. Returns the new person."""
        chosen = sorted({int(i) for i in face_ids})
        with self._writing() as conn:
            person = _person(conn, person_id)
            held = {f.face_id for f in person.faces}
            _require_members(person_id, held, chosen)
            if len(chosen) == len(held):
                raise InputError("a split leaves at least one face with the person")
            new = _new_person(conn, _collection(conn, person.collection), _codec.now_utc())
            conn.execute("UPDATE face_persons SET pinned = 1 WHERE person_id = ?", (person_id,))
            for part in _read.chunks(chosen):
                conn.execute(
                    f"UPDATE face_persons SET person_id = ? "
                    f"WHERE face_id IN ({_read.placeholders(len(part))})",
                    (new, *part),
                )
            _touch(conn, (person_id, new), _codec.now_utc())
            _recertify(conn, (person_id, new))
            return _person(conn, new)

    def not_person(self, person_id: int, face_id: int) -> StoredPerson:
        """ "``face_id`` is not ``person_id``": remembered (no build puts it back) and the face
        moves to a new person of its own, unpinned. Returns that person."""
        with self._writing() as conn:
            person = _person(conn, person_id)
            held = {f.face_id for f in person.faces}
            _require_members(person_id, held, [int(face_id)])
            if len(held) == 1:
                raise InputError(f"face {face_id} is the only face of person {person_id}")
            conn.execute(
                "INSERT INTO not_person (face_id, person_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
                (face_id, person_id),
            )
            new = _new_person(conn, _collection(conn, person.collection), _codec.now_utc())
            conn.execute(
                "UPDATE face_persons SET person_id = ?, pinned = 0, certainty = 1.0 "
                "WHERE face_id = ?",
                (new, face_id),
            )
            _touch(conn, (person_id,), _codec.now_utc())
            _recertify(conn, (person_id, new))
            return _person(conn, new)


def _collection(conn: sqlite3.Connection, name: str) -> int:
    cid = _read.collection_id(conn, name)
    if cid is None:
        raise NotFoundError(f"no collection named {name!r}")
    return cid


def _live_persons(conn: sqlite3.Connection, cid: int, person_ids: Sequence[int]) -> set[int]:
    """Those of ``person_ids`` that exist in collection ``cid`` now."""
    out: set[int] = set()
    for part in _read.chunks(sorted({int(i) for i in person_ids})):
        sql = f"""SELECT id FROM persons WHERE collection_id = ?
            AND id IN ({_read.placeholders(len(part))})"""
        out.update(int(r[0]) for r in conn.execute(sql, (cid, *part)))
    return out


def _new_person(conn: sqlite3.Connection, cid: int, now: str) -> int:
    sql = "INSERT INTO persons (collection_id, created, updated) VALUES (?, ?, ?) RETURNING id"
    return _write.insert_id(conn, sql, (cid, now, now))


def _touch(conn: sqlite3.Connection, ids: Sequence[int], now: str) -> None:
    conn.executemany("UPDATE persons SET updated = ? WHERE id = ?", ((now, i) for i in ids))


def _recertify(conn: sqlite3.Connection, person_ids: Sequence[int]) -> None:
    """Recompute ``certainty`` (``core.clustering.certainty``) for every face of
    ``person_ids``, each person's faces of one model taken together."""
    for pid in person_ids:
        rows = conn.execute(
            """SELECT fp.face_id, f.model_id, m.dim, f.embedding FROM face_persons fp
            JOIN faces f ON f.id = fp.face_id JOIN models m ON m.id = f.model_id
            WHERE fp.person_id = ? ORDER BY f.model_id, fp.face_id""",
            (int(pid),),
        ).fetchall()
        for model in {int(r[1]) for r in rows}:
            mine = [r for r in rows if r[1] == model]
            x = _codec.decode_embeddings([r[3] for r in mine], int(mine[0][2]))
            sims = certainty(x, np.zeros(len(mine), np.int64))
            conn.executemany(
                "UPDATE face_persons SET certainty = ? WHERE face_id = ?",
                ((float(c), int(r[0])) for c, r in zip(sims, mine, strict=True)),
            )


def _require_members(person_id: int, held: set[int], face_ids: Sequence[int]) -> None:
    if not face_ids:
        raise InputError("name at least one face")
    missing = sorted(set(face_ids) - held)
    if missing:
        raise InputError(f"faces {missing} are not faces of person {person_id}")


def _members(conn: sqlite3.Connection, where: str, params: tuple[int, ...]) -> list[StoredPerson]:
    heads: dict[int, StoredPerson] = {}
    faces: dict[int, list[MemberFace]] = {}
    for row in conn.execute(_MEMBERS.format(where=where), params):
        pid = int(row[0])
        if pid not in heads:
            heads[pid] = StoredPerson(pid, row[4], row[1], row[2], row[3], ())
            faces[pid] = []
        bbox = BBox(row[8], row[9], row[10], row[11])
        faces[pid].append(MemberFace(row[5], row[6], row[7], bbox, float(row[12]), bool(row[13])))
    return [replace(head, faces=tuple(faces[pid])) for pid, head in heads.items()]


def _person(conn: sqlite3.Connection, person_id: int) -> StoredPerson:
    """Every lookup of a person by id; an id no SQLite integer can hold is one that does not
    exist."""
    found = _members(conn, "p.id = ?", (int(person_id),)) if 1 <= person_id <= MAX_ID else []
    if not found:
        raise NotFoundError(f"no person with id {person_id}")
    return found[0]
