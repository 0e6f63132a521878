"""The catalog's schema, as an ordered list of forward migrations.

The version of a database is SQLite's ``PRAGMA user_version``: 0 for a new file, N once the
first N migrations have run (in PostgreSQL, ``sqlstore.pg`` keeps it in the catalog schema's
``schema_version`` table, and ``_schema_pg`` holds the same migrations in PostgreSQL's DDL).
``migrate`` applies the missing ones, in order, inside one ``BEGIN IMMEDIATE`` transaction, so
a crash or a concurrent opener never sees half a migration, and refuses a database written by a
newer facesearch. Never edit a released migration: append
a new one.

Tables (integer ids are AUTOINCREMENT, so an id deleted is never handed out again and a stale
vector index can never mistake a new face for an erased one):

    collections      id, name (unique), created; image_count and face_count kept by triggers
    subjects         id, name (unique)
    models           id, name (unique, the embedder's model id), dim; face_count kept by triggers
    images           id, collection_id, sha256 (unique within a collection), source, size_bytes,
                     width, height, added (UTC ISO 8601), metadata (JSON object or NULL)
    faces            id, image_id, face_index (unique within an image), bbox x y w h,
                     landmarks (ten little-endian float64: five (x, y) points), det_score,
                     quality (JSON object), model_id, dim, embedding (dim little-endian
                     float32), subject_id (NULL: unlabelled)
    ingest_runs      id, started, finished, arguments (JSON), summary (JSON), status;
                     images_added, faces_added (committed so far, with each batch), owner
                     (JSON: the process holding the run), renewed (its last sign of life;
                     NULL: nobody holds the run)                                    (version 7)
    ingest_failures  id, run_id, source, reason
    blocklist        id, model_id, dim, embedding, added, note                    (version 2);
                     org: the organisation whose erasure made it, whose ingests alone
                     skip faces like it (NULL: the host's, deployment-wide)     (version 8);
                     pending: the process of the erasure that made it (JSON, a RunOwner)
                     until the erasure's audit entry is written, then NULL     (version 9)
    catalog_state    one row: catalog_id (random, per file), erasure_generation  (version 2);
                     database_id: the database the catalog is in (version 6; PostgreSQL
                     only, NULL in SQLite: see ``_identity``)
    erased_faces     generation (primary key), face_id: which id each erasure removed (version 3)
    persons          id, collection_id, name (NULL: unnamed), created, updated          (version 4)
    face_persons     face_id (primary key; erasing the face removes it), person_id, pinned
                     (1: set by a reviewer or a label, a build never moves it), certainty
    not_person       face_id, person_id: "this face is not this person", said by a reviewer
    people_builds    collection_id (primary key), built, method, threshold, faces: the last
                     build of the collection's people (a collection with a row is "built")

The counters exist so that ``Catalog.state`` and ``Catalog.collections`` stay O(1) at 10^7 faces.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from facesearch.errors import CatalogError


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


_V1 = (
    """CREATE TABLE collections (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL UNIQUE,
        created TEXT NOT NULL,
        image_count INTEGER NOT NULL DEFAULT 0,
        face_count INTEGER NOT NULL DEFAULT 0
    )""",
    """CREATE TABLE subjects (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL UNIQUE
    )""",
    """CREATE TABLE models (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL UNIQUE,
        dim INTEGER NOT NULL CHECK (dim > 0),
        face_count INTEGER NOT NULL DEFAULT 0
    )""",
    """CREATE TABLE images (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        collection_id INTEGER NOT NULL REFERENCES collections (id),
        sha256 TEXT NOT NULL CHECK (length(sha256) = 64),
        source TEXT NOT NULL,
        size_bytes INTEGER NOT NULL CHECK (size_bytes >= 0),
        width INTEGER NOT NULL CHECK (width >= 0),
        height INTEGER NOT NULL CHECK (height >= 0),
        added TEXT NOT NULL,
        metadata TEXT,
        UNIQUE (collection_id, sha256)
    )""",
    """CREATE TABLE faces (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        image_id INTEGER NOT NULL REFERENCES images (id),
        face_index INTEGER NOT NULL CHECK (face_index >= 0),
        x REAL NOT NULL,
        y REAL NOT NULL,
        w REAL NOT NULL,
        h REAL NOT NULL,
        landmarks BLOB NOT NULL CHECK (length(landmarks) = 80),
        det_score REAL NOT NULL,
        quality TEXT NOT NULL,
        model_id INTEGER NOT NULL REFERENCES models (id),
        dim INTEGER NOT NULL,
        embedding BLOB NOT NULL CHECK (length(embedding) = 4 * dim),
        subject_id INTEGER REFERENCES subjects (id),
        UNIQUE (image_id, face_index)
    )""",
    # faces(image_id) is served by the UNIQUE (image_id, face_index) index.
    "CREATE INDEX faces_by_model ON faces (model_id, id)",
    "CREATE INDEX faces_by_subject ON faces (subject_id) WHERE subject_id IS NOT NULL",
    """CREATE TABLE ingest_runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        started TEXT NOT NULL,
        finished TEXT,
        arguments TEXT NOT NULL,
        summary TEXT,
        status TEXT NOT NULL
    )""",
    """CREATE TABLE ingest_failures (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        run_id INTEGER NOT NULL REFERENCES ingest_runs (id),
        source TEXT NOT NULL,
        reason TEXT NOT NULL
    )""",
    "CREATE INDEX ingest_failures_by_run ON ingest_failures (run_id)",
    """CREATE TRIGGER images_count_insert AFTER INSERT ON images BEGIN
        UPDATE collections SET image_count = image_count + 1 WHERE id = NEW.collection_id;
    END""",
    """CREATE TRIGGER images_count_delete AFTER DELETE ON images BEGIN
        UPDATE collections SET image_count = image_count - 1 WHERE id = OLD.collection_id;
    END""",
    """CREATE TRIGGER faces_count_insert AFTER INSERT ON faces BEGIN
        UPDATE models SET face_count = face_count + 1 WHERE id = NEW.model_id;
        UPDATE collections SET face_count = face_count + 1
            WHERE id = (SELECT collection_id FROM images WHERE id = NEW.image_id);
    END""",
    """CREATE TRIGGER faces_count_delete AFTER DELETE ON faces BEGIN
        UPDATE models SET face_count = face_count - 1 WHERE id = OLD.model_id;
        UPDATE collections SET face_count = face_count - 1
            WHERE id = (SELECT collection_id FROM images WHERE id = OLD.image_id);
    END""",
)

_V2 = (
    """CREATE TABLE blocklist (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        model_id INTEGER NOT NULL REFERENCES models (id),
        dim INTEGER NOT NULL,
        embedding BLOB NOT NULL CHECK (length(embedding) = 4 * dim),
        added TEXT NOT NULL,
        note TEXT NOT NULL
    )""",
    "CREATE INDEX blocklist_by_model ON blocklist (model_id)",
    """CREATE TABLE catalog_state (
        singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
        catalog_id TEXT NOT NULL,
        erasure_generation INTEGER NOT NULL
    )""",
    "INSERT INTO catalog_state VALUES (1, lower(hex(randomblob(16))), 0)",
    """CREATE TRIGGER faces_erasure AFTER DELETE ON faces BEGIN
        UPDATE catalog_state SET erasure_generation = erasure_generation + 1;
    END""",
)

_V3 = (
    # One row per erased face: which generation erased which id. A long-lived vector index
    # (the server's) removes exactly those ids instead of comparing every id with the
    # catalog. Ids only: the face itself is gone.
    """CREATE TABLE erased_faces (
        generation INTEGER PRIMARY KEY,
        face_id INTEGER NOT NULL
    )""",
    "DROP TRIGGER faces_erasure",
    """CREATE TRIGGER faces_erasure AFTER DELETE ON faces BEGIN
        UPDATE catalog_state SET erasure_generation = erasure_generation + 1;
        INSERT INTO erased_faces (generation, face_id)
            SELECT erasure_generation, OLD.id FROM catalog_state;
    END""",
)

_V4 = (
    """CREATE TABLE persons (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        collection_id INTEGER NOT NULL REFERENCES collections (id),
        name TEXT,
        created TEXT NOT NULL,
        updated TEXT NOT NULL
    )""",
    "CREATE INDEX persons_by_collection ON persons (collection_id)",
    """CREATE TABLE face_persons (
        face_id INTEGER PRIMARY KEY REFERENCES faces (id) ON DELETE CASCADE,
        person_id INTEGER NOT NULL REFERENCES persons (id) ON DELETE CASCADE,
        pinned INTEGER NOT NULL DEFAULT 0 CHECK (pinned IN (0, 1)),
        certainty REAL NOT NULL
    )""",
    "CREATE INDEX face_persons_by_person ON face_persons (person_id)",
    """CREATE TABLE not_person (
        face_id INTEGER NOT NULL REFERENCES faces (id) ON DELETE CASCADE,
        person_id INTEGER NOT NULL REFERENCES persons (id) ON DELETE CASCADE,
        PRIMARY KEY (face_id, person_id)
    )""",
    "CREATE INDEX not_person_by_person ON not_person (person_id)",
    """CREATE TABLE people_builds (
        collection_id INTEGER PRIMARY KEY REFERENCES collections (id),
        built TEXT NOT NULL,
        method TEXT NOT NULL,
        threshold REAL NOT NULL,
        faces INTEGER NOT NULL
    )""",
    # A person left without faces by an erasure goes too: its name may name someone.
    """CREATE TRIGGER face_persons_last_face AFTER DELETE ON face_persons
        WHEN NOT EXISTS (SELECT 1 FROM face_persons WHERE person_id = OLD.person_id)
    BEGIN
        DELETE FROM persons WHERE id = OLD.person_id;
    END""",
)

# A SQLite file has no identity that a copy of it would not share (the home's index files are
# copied with it); the column keeps the two schemas alike and stays NULL.
_V6 = ("ALTER TABLE catalog_state ADD COLUMN database_id TEXT",)

_V7 = (
    # What a run added, counted in the transaction of each batch, so that a run killed
    # outright still says what it added; NULL for the runs from before.
    "ALTER TABLE ingest_runs ADD COLUMN images_added INTEGER",
    "ALTER TABLE ingest_runs ADD COLUMN faces_added INTEGER",
    # Who answers for a run until its end is recorded, and when it last showed it was alive
    # (``gallery.run_lease``).
    "ALTER TABLE ingest_runs ADD COLUMN owner TEXT",
    "ALTER TABLE ingest_runs ADD COLUMN renewed TEXT",
    "CREATE INDEX ingest_runs_held ON ingest_runs (id) WHERE renewed IS NOT NULL",
)

_V8 = (
    # An organisation's erasure like a photo blocklists the person for its own ingests only;
    # the entries from before, all the host's, stay deployment-wide (NULL).
    "ALTER TABLE blocklist ADD COLUMN org TEXT",
)

_V9 = (
    # An erasure's entry goes in before its scan and is recorded once the erasure's audit
    # entry is written; one whose process was killed in between stays pending, for someone to
    # keep or take back (``app.blocklist_pending``). The entries from before: NULL, recorded.
    "ALTER TABLE blocklist ADD COLUMN pending TEXT",
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "images, faces, subjects, collections, models, ingest runs", _V1),
    Migration(2, "erasure: blocklist, catalog id and erasure generation", _V2),
    Migration(3, "erasure log: the face id each erasure generation removed", _V3),
    Migration(4, "people: persons, the person of each face, not-this-person, builds", _V4),
    # SQLite keeps no column statistics unless ANALYZE runs, which the catalog never does.
    Migration(5, "no column statistics of personal data (PostgreSQL only)", ()),
    Migration(6, "the identity of the database holding the catalog (PostgreSQL only)", _V6),
    Migration(7, "ingest runs: counts committed so far, the process holding the run", _V7),
    Migration(8, "blocklist: the organisation an entry applies to (NULL: every one)", _V8),
    Migration(9, "blocklist: the erasure process of an entry its audit entry awaits", _V9),
)

SCHEMA_VERSION = MIGRATIONS[-1].version


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, target: int | None = None) -> int:
    """Bring the database up to ``target`` (default: the latest); return the version before.

    ``conn`` must be in autocommit mode (``isolation_level=None``) with no open transaction.
    """
    migrations = MIGRATIONS
    if getattr(conn, "dialect", "sqlite") == "postgresql":
        from facesearch.gallery.catalog._schema_pg import MIGRATIONS as migrations
    latest = migrations[-1].version
    target = latest if target is None else target
    if not 0 <= target <= latest:
        raise CatalogError(f"no schema version {target}; this code knows 0..{latest}")
    conn.execute("BEGIN IMMEDIATE")
    try:
        before = schema_version(conn)
        if before > latest:
            raise CatalogError(
                f"the catalog has schema version {before}, newer than this facesearch "
                f"understands ({latest}); upgrade facesearch"
            )
        for migration in migrations:
            if before < migration.version <= target:
                for statement in migration.statements:
                    conn.execute(statement)
        if target > before:
            # PRAGMA takes no parameters; target is an int checked above.
            conn.execute(f"PRAGMA user_version = {int(target)}")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return before
