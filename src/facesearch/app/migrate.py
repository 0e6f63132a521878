"""Moving house: an embedded home (SQLite + FAISS) into the distributed deployment.

    facesearch --home HOME migrate --database-url postgresql://... [--vectors-url milvus://...]

1. Both stores of the home are opened (which brings their SQLite files to the current schema)
   and then opened on PostgreSQL (which creates or migrates their schemas there).
2. The audit trail decides what may happen. The target's trail must be empty, a prefix of the
   home's (an interrupted or earlier run: the rest is copied), equal to it (a re-run: the
   copy is refreshed), or a continuation of it (the deployment has been used since: nothing
   is copied, the report says so). A trail that differs at any entry is refused: that target
   belongs to another deployment, or (the trails share their first entries) both it and the
   home have been used since a migration, and the error says which entry they part at.
3. Each store's rows are copied verbatim in one transaction that holds the store's write lock
   (``sqlstore.copy``): ids, hashes and MACs stay as they were, so the chain verifies on the
   other side with the same key. Rows the home no longer has (erased there since the last
   run) are deleted on the target first: moving house never undoes an erasure. One
   exception: the target's catalog keeps the ``catalog_id`` it was given when its schema was
   made, and records its own database (``catalog._identity``), so its vectors (a Milvus
   collection named from that id) are never the home's, which stays usable meanwhile.
4. The vectors are rebuilt from the copied catalog into ``vectors_url`` (Milvus, or FAISS
   files in each replica's home when it is unset): the index is derived, never copied.
5. The trail is verified on PostgreSQL and the figures are reported.

Nothing in the home is changed: it stays a working embedded deployment until the operator
retires it. Re-running is safe at any point.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from facesearch.accountability import AccountabilityStore
from facesearch.accountability.db import FILENAME as ACCOUNTABILITY_FILE
from facesearch.engine import Engine
from facesearch.errors import ConfigError, InputError
from facesearch.gallery.catalog import Catalog
from facesearch.gallery.catalog._connection import CATALOG_FILE
from facesearch.gallery.catalog._identity import catalog_id_of, keep_own_identity
from facesearch.settings import Settings
from facesearch.sqlstore import database_target
from facesearch.sqlstore.copy import TableCopy, copy_store
from facesearch.sqlstore.pg import PgConnection

ACCOUNTABILITY_SCHEMA = ("facesearch_accountability", 7302)
CATALOG_SCHEMA = ("facesearch_catalog", 7301)


@dataclass(frozen=True)
class MigrationReport:
    """What ``migrate`` did: per store and table, rows in the home and on the target."""

    database: str
    vectors: str
    trail: str  # empty / resumed / refreshed / continued
    tables: dict[str, tuple[TableCopy, ...]]
    vectors_indexed: int
    audit_ok: bool
    audit_head: int

    def as_json(self) -> dict[str, Any]:
        return {
            "database": self.database,
            "vectors": self.vectors,
            "trail": self.trail,
            "stores": {
                store: {t.table: {"home": t.source_rows, "target": t.target_rows} for t in rows}
                for store, rows in self.tables.items()
            },
            "vectors_indexed": self.vectors_indexed,
            "audit_ok": self.audit_ok,
            "audit_head": self.audit_head,
        }

    def lines(self) -> list[str]:
        out = [f"database: {self.database}", f"vectors:  {self.vectors}"]
        if self.trail == "continued":
            out.append(
                "the target already continues this home's audit trail (it has been used since "
                "the migration): nothing copied"
            )
        for store, rows in self.tables.items():
            copied = sum(t.source_rows for t in rows)
            out.append(f"{store}: {copied:,} rows in {len(rows)} tables copied")
        out.append(f"vectors indexed: {self.vectors_indexed:,}")
        verdict = "verifies" if self.audit_ok else "DOES NOT VERIFY"
        out.append(f"audit trail on the target: {verdict} (head {self.audit_head:,})")
        return out


def _head(conn: Any) -> tuple[int, str]:
    row = conn.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
    return (int(row[0]), str(row[1])) if row else (0, "")


def _hash_at(conn: Any, seq: int) -> str | None:
    row = conn.execute("SELECT hash FROM audit_log WHERE seq = ?", (seq,)).fetchone()
    return None if row is None else str(row[0])


def _last_shared(source: sqlite3.Connection, target: PgConnection, upto: int) -> int:
    """The last entry (at most ``upto``) that both trails hold alike; 0 if even the first
    differs. Each entry's hash covers the one before it: equal at k means equal up to k."""
    low, high = 0, upto  # equal at low (0: nothing), unequal at high
    while high - low > 1:
        mid = (low + high) // 2
        if _hash_at(source, mid) == _hash_at(target, mid):
            low = mid
        else:
            high = mid
    return low


def trail_relation(source: sqlite3.Connection, target: PgConnection) -> str:
    """How the target's audit trail stands to the home's (see the module docstring)."""
    (s_seq, _), (t_seq, _) = _head(source), _head(target)
    if t_seq == 0:
        return "empty"
    common = min(s_seq, t_seq)
    if _hash_at(source, common) != _hash_at(target, common):
        shared = _last_shared(source, target, common)
        if shared == 0:
            raise InputError(
                "the target database holds a different audit trail (entry 1 differs): it "
                "belongs to another deployment; migrate into an empty database"
            )
        raise InputError(
            f"the target database holds a different audit trail: it shares this home's up to "
            f"entry {shared}, then entry {shared + 1} differs: both have been used since they "
            "parted (the target after an earlier migrate and the home after that, or this home "
            "is a copy of the one migrated there); nothing was copied: what was done at home "
            "since (an erasure, say) must be done again on the distributed deployment"
        )
    if t_seq < s_seq:
        return "resumed"
    return "refreshed" if t_seq == s_seq else "continued"


def _copy(home_file: Path, url: str, schema: tuple[str, int]) -> tuple[str, list[TableCopy]]:
    with (
        closing(sqlite3.connect(f"file:{home_file}?mode=ro", uri=True)) as source,
        closing(PgConnection(url, *schema)) as target,
    ):
        target.execute("BEGIN IMMEDIATE")
        try:
            relation = trail_relation(source, target) if schema == ACCOUNTABILITY_SCHEMA else ""
            own_id = catalog_id_of(target) if schema == CATALOG_SCHEMA else ""
            rows = [] if relation == "continued" else copy_store(source, target)
            if own_id:  # the home's catalog_id came with its catalog_state row
                keep_own_identity(target, own_id)
            target.execute("COMMIT")
        except BaseException:
            target.execute("ROLLBACK")
            raise
    return relation, rows


def migrate(settings: Settings, database_url: str, vectors_url: str) -> MigrationReport:
    """Copy the home of ``settings`` into ``database_url`` (+ ``vectors_url``)."""
    target = database_target(database_url)
    if not target.is_postgres:
        raise ConfigError("migrate needs --database-url postgresql://USER@HOST[:PORT]/DATABASE")
    if database_target(settings.database_url).is_postgres:
        raise ConfigError("the source must be an embedded home: unset FACESEARCH_DATABASE_URL")
    home = settings.home
    if not (home / CATALOG_FILE).exists():
        raise InputError(f"{home} holds no catalog ({CATALOG_FILE}): nothing to migrate")
    dest = settings.replace(database_url=target.url, vectors_url=vectors_url)
    # Bring both sides to the current schema (creating the PostgreSQL schemas).
    for url in ("", target.url):
        Catalog.open_home(home, database_url=url).close()
        AccountabilityStore.from_settings(settings.replace(database_url=url)).close()
    relation, acct_rows = _copy(home / ACCOUNTABILITY_FILE, target.url, ACCOUNTABILITY_SCHEMA)
    tables: dict[str, tuple[TableCopy, ...]] = {"accountability": tuple(acct_rows)}
    if relation != "continued":
        _, cat_rows = _copy(home / CATALOG_FILE, target.url, CATALOG_SCHEMA)
        tables["catalog"] = tuple(cat_rows)
    with closing(Engine(dest)) as engine:
        indexed = engine.indexes.rebuild() if relation != "continued" else engine.indexes.size()
    with AccountabilityStore.from_settings(dest) as store:
        report = store.verify()
    return MigrationReport(
        database=target.redacted(),
        vectors=vectors_url or "FAISS files in each replica's home",
        trail=relation,
        tables=tables,
        vectors_indexed=indexed,
        audit_ok=report.ok,
        audit_head=report.head.seq,
    )


def mismatched(report: MigrationReport) -> Sequence[TableCopy]:
    """Tables whose target holds fewer rows than the home (a copy that lost rows)."""
    return [t for rows in report.tables.values() for t in rows if t.target_rows < t.source_rows]
