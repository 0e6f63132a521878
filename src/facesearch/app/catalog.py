"""A catalog whose PostgreSQL database is a copy or a move of the one it was made in
(``gallery.catalog._identity``): make it a catalog of its own, or adopt the new database.

    fork   a copy (staging, tests): a new catalog id, so its own vectors (a new Milvus
           collection), built from this catalog (``reindex``); the original's are untouched
    adopt  a move of the one deployment (a restore, pg_upgrade, another cluster), the old
           database no longer used: this database recorded, the vectors kept, repaired
           against this catalog

Each refuses a catalog in the database it was made in (and a SQLite one), and is one audit
entry (``catalog_fork``, ``catalog_adopt``), written once the catalog records the change and
before the vectors are built or repaired, so that a rebuild cut short leaves the change
logged (any later opening, or ``reindex``, completes it from the catalog).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from facesearch.accountability import AccountabilityStore, Action, Actor, Permission
from facesearch.app.checks import allow, entry_missing, log
from facesearch.engine import Engine
from facesearch.errors import FaceSearchError
from facesearch.gallery.catalog import DatabaseChange

__all__ = ["CatalogMove", "adopt", "fork"]


@dataclass(frozen=True)
class CatalogMove:
    """What ``fork`` or ``adopt`` did."""

    action: str  # "fork" or "adopt"
    change: DatabaseChange
    catalog_id: str  # the catalog's id now (fork: a new one)
    vectors: str  # "milvus" or "files"
    faces: int  # faces in the vectors after the build (fork) or the repair (adopt)
    seq: int  # the audit entry

    def payload(self) -> dict[str, Any]:
        """The audit entry's payload (ids of databases and catalogs, a count)."""
        out: dict[str, Any] = {"catalog_id": self.catalog_id}
        if self.catalog_id != self.change.catalog_id:
            out["previous_catalog_id"] = self.change.catalog_id
        return out | {
            "made_in": self.change.recorded,
            "database": self.change.live,
            "vectors": self.vectors,
        }

    def lines(self) -> list[str]:
        if self.action == "fork":
            done = (
                f"this database is now a catalog of its own: catalog id {self.catalog_id} "
                f"(was {self.change.catalog_id}); the other database's vectors are untouched"
            )
            built = f"vectors built from this catalog: {self.faces:,} faces"
        else:
            done = (
                f"this database is now recorded as the catalog's (id {self.catalog_id}, "
                "vectors kept)"
            )
            built = f"vectors repaired against this catalog: {self.faces:,} faces"
        return [done, built, f"recorded as audit entry {self.seq}"]


def fork(engine: Engine, store: AccountabilityStore, actor: Actor) -> CatalogMove:
    """Make a copied catalog a catalog of its own and build its vectors from it."""
    allow(actor, Permission.MANAGE_ORGS)  # the whole deployment's: the platform operator's
    change, catalog_id = engine.catalog.fork()
    move = _logged(engine, store, actor, CatalogMove("fork", change, catalog_id, "", 0, 0))
    return replace(move, faces=engine.reindex())


def adopt(engine: Engine, store: AccountabilityStore, actor: Actor) -> CatalogMove:
    """Record the database a catalog moved to as its own, keeping (and repairing) its
    vectors."""
    allow(actor, Permission.MANAGE_ORGS)
    change = engine.catalog.adopt()
    move = _logged(engine, store, actor, CatalogMove("adopt", change, change.catalog_id, "", 0, 0))
    indexes = engine.indexes
    indexes.ensure_loaded()  # the state the vectors recorded names the old database: a repair
    indexes.save()
    return replace(move, faces=indexes.size())


def _logged(
    engine: Engine, store: AccountabilityStore, actor: Actor, move: CatalogMove
) -> CatalogMove:
    """``move`` with its vectors' kind, logged (its entry's seq)."""
    move = replace(move, vectors="files" if engine.indexes.target.kind == "files" else "milvus")
    action = Action.CATALOG_FORK if move.action == "fork" else Action.CATALOG_ADOPT
    try:
        entry = log(store, actor, action, None, None, move.payload())
    except FaceSearchError as exc:
        raise entry_missing(exc, f"the catalog was changed ({move.action})") from exc
    return replace(move, seq=entry.seq)
