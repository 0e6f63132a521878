"""The vector store's part of an erasure, and what its server finishes later.

``forget`` reports ``VectorStoreErasure`` (on the ``ErasureRecord``, in its JSON and in its
audit entry). With FAISS files in the home (the default) the erased vectors are removed from
the in-memory index by id, and the save that ends ``forget`` writes the changed index files
again without them, fsyncs them and deletes the earlier files (``gallery.vectors.storage``):
nothing is left for later, no search by embedding is run. With Milvus (Lite or a server) the
store deletes, flushes, requests a compaction where the server offers one, and proves the
vectors gone by searching their own embeddings; deleted rows stay in the server's files until
compaction (and, on a server, garbage collection) removes them.

``erasure_status`` (``facesearch erasure status``, ``GET /api/v1/erasure/status``) lists those
pending physical deletions; with FAISS there are none. It reads no personal data (counts, times
and compaction jobs), so, like ``stats`` and ``reindex``, it is not an audit entry; it needs the
erase permission, and an organisation's admin (at the machine too, with ``--org``) sees only
the erasures of faces in collections their organisation owns (every collection is recorded
with each erasure), not another organisation's.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from facesearch.accountability import AccountabilityStore, Actor, Permission
from facesearch.app.checks import allow
from facesearch.app.scope import Scope, reach_of
from facesearch.engine import Engine
from facesearch.gallery.vectors import PendingDeletion
from facesearch.results import ForgetResult
from facesearch.types import fields_dict

__all__ = ["ErasureStatus", "VectorStoreErasure", "erasure_status", "vector_part"]

FILES_DONE = (
    "removed from the in-memory FAISS index by id; the index files were written again without "
    "them (fsynced) and the earlier files deleted"
)
FILES_NOTHING = "nothing to remove: the FAISS index held none of these faces"
FILES_NO_COMPACTION = "not needed: FAISS index files are rewritten whole at each save"
PENDING_NOTE = {
    "files": (
        "FAISS files in the home: forget rewrites the index files without the erased vectors "
        "and deletes the earlier ones before it returns, so no physical deletion is left to a "
        "server"
    ),
    "milvus-lite": (
        "Milvus Lite: erased vectors are gone from every search at once; it drops their "
        "tombstoned rows from its files at its own next compaction (none can be requested)"
    ),
    "milvus": (
        "Milvus: erased vectors are gone from every search at once; the server removes them "
        "from its files later (compaction, then garbage collection of the old segment files)"
    ),
}


@dataclass(frozen=True)
class VectorStoreErasure:
    """What one erasure did in the vector store, and what its server finishes later."""

    store: str  # "files" (FAISS in the home), "milvus-lite" or "milvus" (a server)
    vectors_deleted: int
    done: str  # what was done, in words
    flushed: bool  # the deletion is on disk (files: written and fsynced; Milvus: flushed)
    compaction: str  # Milvus: "requested <job>" or why none; files: why none is needed
    proved_absent: bool | None  # Milvus: a search by their own embeddings; None: not searched
    left_to_server: str  # "" when nothing is

    def as_json(self) -> dict[str, Any]:
        return fields_dict(self)

    def lines(self) -> list[str]:
        """The text ``forget`` prints under its summary."""
        proof = {
            True: "yes (a query by id and a search by their own embeddings found none)",
            False: "NO",
            None: "not searched (FAISS removes by id)",
        }[self.proved_absent]
        out = [
            f"vector store ({self.store}): {self.done}",
            f"  flushed to disk: {'yes' if self.flushed else 'no'}",
            f"  compaction: {self.compaction}",
            f"  proved absent: {proof}",
        ]
        out.append(f"  left to the server: {self.left_to_server or 'nothing'}")
        return out


def vector_part(engine: Engine, result: ForgetResult) -> VectorStoreErasure:
    """The vector store's part of ``result`` (an ``Engine.forget`` just returned)."""
    store = engine.indexes.target.kind
    n = result.index_vectors_removed
    if store == "files":
        done = FILES_DONE if n else FILES_NOTHING
        return VectorStoreErasure(store, n, done, bool(n), FILES_NO_COMPACTION, None, "")
    m = result.milvus
    if m is None:  # none of the faces was held in Milvus
        done = "nothing to delete: Milvus held none of these faces"
        return VectorStoreErasure(store, 0, done, False, "none: nothing held", True, "")
    done = f"deleted in Milvus{', flushed' if m.flushed else ''}"
    return VectorStoreErasure(
        store, m.faces, done, m.flushed, m.compaction, m.proved_absent, m.left_to_server
    )


@dataclass(frozen=True)
class ErasureStatus:
    """Erased vectors gone from every search that the vector store may still hold on disk."""

    store: str  # as in VectorStoreErasure
    pending: tuple[PendingDeletion, ...]
    note: str  # why none can be pending (files), or what the server does (Milvus)

    def as_json(self) -> dict[str, Any]:
        return {
            "store": self.store,
            "faces_pending": sum(p.faces for p in self.pending),
            "pending": [fields_dict(p) | {"requested": _utc(p.requested_at)} for p in self.pending],
            "note": self.note,
        }

    def lines(self) -> list[str]:
        """The text ``facesearch erasure status`` prints."""
        total = sum(p.faces for p in self.pending)
        out = [f"vector store: {self.store}", self.note]
        out.append(f"{total} erased vector(s) in {len(self.pending)} erasure(s) pending on disk")
        for p in self.pending:
            job = f"compaction {p.compaction_job}" if p.compaction_job else "no compaction job"
            out.append(
                f"  {_utc(p.requested_at)}: {p.faces} face(s), {job} ({p.compaction_state}); "
                f"{p.note}"
            )
        return out


def erasure_status(engine: Engine, store: AccountabilityStore, actor: Actor) -> ErasureStatus:
    """The pending physical deletions of the vector store (not logged: no personal data):
    those of ``actor``'s organisation's collections, or every one for whom owns every
    collection (a single-organisation home) and for the host's CLI (``reach_of``; with
    ``--org X`` it acts as X: X's only)."""
    allow(actor, Permission.ERASE)
    kind = engine.indexes.target.kind
    pending = tuple(engine.indexes.pending_physical_deletions())
    if pending:
        scope = reach_of(store, engine.catalog, actor)
        if not scope.everything:
            names = engine.catalog.collection_names()
            pending = tuple(p for p in pending if _owned(p, names, scope))
    return ErasureStatus(kind, pending, PENDING_NOTE[kind])


def _owned(pending: PendingDeletion, names: dict[int, str], scope: Scope) -> bool:
    """Whether the organisation owns every collection the erased faces were in. One that names
    none (recorded before collections were) or a collection deleted since: only those who see
    everything see it."""
    return bool(pending.collections) and all(
        c in names and scope.owns(names[c]) for c in pending.collections
    )


def _utc(unix: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(unix))
