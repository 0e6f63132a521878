"""Which database holds the catalog, and what to do when it is not the one it was made in.

A catalog's ``catalog_id`` names its derived vectors: the Milvus collection
(``vectors.milvus_store.collection_name``) and the state that index files record. A PostgreSQL
database copied whole (``CREATE DATABASE staging TEMPLATE prod``, ``pg_dump prod | psql
staging``, ``pg_restore`` into a new database or another cluster) keeps that id, so the copy
and the original would share one Milvus collection: the copy's erasures would remove vectors
the original still holds, and its ingests would store other people's faces under face ids
that the original gives to its own faces (a search of the original would show its photo and
name for another person's vector).

So a PostgreSQL catalog records, beside its ``catalog_id``, the database it is in
(``database_id``, catalog migration 6: ``SYSTEM/OID``, the cluster's system identifier from
``pg_control_system()`` where the role may read it, else ``?``, and the database's oid, which
any role may read; ``database_identity()`` in the catalog's schema). Each opening reads the
live one (``CatalogConnection.database_id``). When they differ the catalog is a copy or a
move, ``database_change`` says so, and ``IndexSet`` refuses to open its Milvus collection
until one of:

- ``fork``: a copy becomes a catalog of its own: a new ``catalog_id`` (so a new Milvus
  collection, which ``reindex`` builds from this catalog) and this database recorded;
- ``adopt``: a move (a restore, ``pg_upgrade``, another cluster) of the one deployment, the
  old database no longer used: this database is recorded and the collection kept (repaired
  against this catalog when it is next opened: ``CatalogState.database_id`` changed).

The oid alone repeats across clusters (the first database made in a fresh cluster is 16384
in each), hence the system identifier, which a physical standby shares with its primary (a
failover is no move). What cannot be told apart: two databases copied from each other before
migration 6 (each records the database it is in then), and a copy made by a physical backup
(``pg_basebackup``) started as another cluster.

Both refuse a catalog in the database it was made in. Index files are not refused: they lie
in each home, and their manifest records ``database_id`` with the rest of the state, so files
made for another database (a home shared by the original and its copy) are rebuilt, never
searched. A SQLite catalog records nothing (a copied home copies its index files too): NULL.
"""

from __future__ import annotations

import secrets
import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING

from facesearch.errors import InputError
from facesearch.gallery.catalog._connection import CatalogConnection

if TYPE_CHECKING:
    from facesearch.sqlstore.pg import PgConnection

UNKNOWN_SYSTEM = "?"  # the cluster's system identifier, where the role may not read it


@dataclass(frozen=True)
class DatabaseChange:
    """A catalog that is not in the database it was made in: a copy or a move."""

    catalog_id: str
    recorded: str | None  # the database the catalog was made in (None: none recorded)
    live: str  # the database it is in now

    def __str__(self) -> str:
        made = "an unrecorded database" if self.recorded is None else describe(self.recorded)
        return (
            f"this catalog (id {self.catalog_id}) was made in {made} and is now in "
            f"{describe(self.live)}: this database is a copy of that one (CREATE DATABASE ... "
            "TEMPLATE, pg_dump and restore) or the deployment moved here"
        )


def describe(database_id: str) -> str:
    """``SYSTEM/OID`` in words."""
    system, _, oid = database_id.partition("/")
    cluster = "an unknown cluster" if system == UNKNOWN_SYSTEM else f"cluster {system}"
    return f"database oid {oid} of {cluster}"


def same_database(recorded: str, live: str) -> bool:
    """Whether two ``database_id``s name one database: the same oid, and the same cluster
    unless one of them could not read it."""
    r_system, _, r_oid = recorded.partition("/")
    l_system, _, l_oid = live.partition("/")
    return r_oid == l_oid and (r_system == l_system or UNKNOWN_SYSTEM in (r_system, l_system))


def keep_own_identity(conn: PgConnection, catalog_id: str) -> None:
    """After another catalog's rows were copied over this database's (``facesearch
    migrate``), inside that transaction: this catalog keeps its ``catalog_id`` (its own
    vectors, apart from those of the home it was copied from, which stays usable) and records
    this database."""
    conn.execute(
        "UPDATE catalog_state SET catalog_id = ?, database_id = database_identity()",
        (catalog_id,),
    )


def catalog_id_of(conn: PgConnection) -> str:
    """The ``catalog_id`` of the catalog ``conn`` is connected to."""
    row = conn.execute("SELECT catalog_id FROM catalog_state").fetchone()
    return "" if row is None else str(row[0])


def _change(conn: sqlite3.Connection, live: str | None) -> DatabaseChange | None:
    catalog_id, recorded = conn.execute(
        "SELECT catalog_id, database_id FROM catalog_state"
    ).fetchone()
    if live is None or (recorded is not None and same_database(str(recorded), live)):
        return None
    return DatabaseChange(str(catalog_id), None if recorded is None else str(recorded), live)


class Identity(CatalogConnection):
    """The catalog's database identity (part of ``Catalog``)."""

    def database_change(self) -> DatabaseChange | None:
        """None when the catalog is in the database it was made in (or is SQLite's); else
        what changed: a copy or a move, to ``fork`` or ``adopt``."""
        with self._reading() as conn:
            return _change(conn, self.database_id)

    def fork(self) -> tuple[DatabaseChange, str]:
        """Make a copied catalog a catalog of its own: a new ``catalog_id`` (so new vectors,
        to build from this catalog) and this database recorded. What changed and the new id;
        InputError for a catalog in the database it was made in."""
        catalog_id = secrets.token_hex(16)
        with self._writing() as conn:
            change = self._required(conn, "fork")
            conn.execute(
                "UPDATE catalog_state SET catalog_id = ?, database_id = ?",
                (catalog_id, change.live),
            )
        return change, catalog_id

    def adopt(self) -> DatabaseChange:
        """Record this database as the catalog's, keeping its ``catalog_id`` (and so its
        vectors): a move of the one deployment. InputError for a catalog in the database it
        was made in."""
        with self._writing() as conn:
            change = self._required(conn, "adopt")
            conn.execute("UPDATE catalog_state SET database_id = ?", (change.live,))
        return change

    def _required(self, conn: sqlite3.Connection, verb: str) -> DatabaseChange:
        if self.database_id is None:
            raise InputError(
                f"nothing to {verb}: a SQLite catalog records no database (its home is "
                "copied or moved whole)"
            )
        change = _change(conn, self.database_id)
        if change is None:
            raise InputError(
                f"nothing to {verb}: this catalog is in the database it was made in "
                f"({describe(self.database_id)}), not a copy or a move"
            )
        return change
