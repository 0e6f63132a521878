"""The vector indexes of a home, derived from the catalog: one per collection.

Layout under ``HOME/index/``::

    manifest.json                  {"state": CatalogState.as_dict(), "collections": {name: dir}}
    c<collection id>/              one VectorIndex saved by its own backend (atomic)
    .lock                          serialises savers (exclusive) and loaders (shared)

The catalog is the source of truth; any number of processes may write it and the index files
at once. The rules that make that safe:

- **In memory, an IndexSet knows which catalog state it reflects** (``_synced``): its vectors
  are exactly the faces of that state, plus the faces it added itself since (``_recent``).
  ``sync()`` brings it up to the catalog's current state before every search and every save:
  faces committed since (by anyone) are fetched and added, faces erased since are read from
  the catalog's erasure log and removed; when anything else changed (another catalog, a log
  that does not cover the gap) the ids are compared with one catalog snapshot and the
  difference repaired. A face count that disagrees with the catalog's forces that repair. So
  a short or stale index is never searched.
- **On disk, the manifest records the state that the saved files hold**, never merely the
  catalog's current state; a save first syncs, then writes, under an exclusive lock, with
  unique temporary names. Loading checks the face count against the manifest, then syncs.

With ``vectors_url`` set, Milvus holds the vectors (``vectors.milvus_store``): a view per
collection on one Milvus collection per model, no files; ``save`` records the state the
vectors reflect there, an open syncs from it (none: a full repair). Every process writes the
same vectors, so sync, repair and rebuild add only the faces Milvus lacks (``_add``), never
failing on ids another process added meanwhile; two that race on one new id may both insert
it (Milvus 2.3), which a repair finds by the count and puts back once (``drop_repeated``),
and a search meanwhile still gets its ``k`` distinct faces. A search that meets the collection
``reindex`` is making anew waits once, opens it again (a repair, as the record is gone) and
searches again. ``remove`` is Milvus's proved erasure
(``last_erasure``).

A catalog whose PostgreSQL database is not the one it was made in (a copy of that database,
or a move: ``catalog._identity``) shares its ``catalog_id``, and so its Milvus collection,
with the catalog in the other database: ``_connect`` refuses it (ConfigError naming ``catalog
fork`` and ``catalog adopt``) before Milvus is touched. Index files are not refused: each
home has its own, and their manifest records the database with the catalog's state, so files
made from another database's catalog (a home shared by the original and its copy) are
rebuilt, never searched.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from facesearch.errors import ConfigError, FaceSearchError, IndexRebuildingError, VectorIndexError
from facesearch.gallery.catalog import Catalog, CatalogState, DatabaseChange
from facesearch.gallery.vectors import (
    MilvusIndex,
    MilvusIndexChoice,
    MilvusStore,
    PendingDeletion,
    VectorErasure,
    VectorIndex,
    load_index,
    make_index,
    open_milvus,
    vectors_target,
)
from facesearch.gallery.vectors.milvus_store import collection_name
from facesearch.private import file_lock, make_private_dir, tighten_tree, write_private

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
LOCK = ".lock"
REBUILD_WAIT_S = 2.0  # a search that meets a Milvus reindex opens it again after this


class IndexSet:
    def __init__(
        self,
        home: Path,
        catalog: Catalog,
        model_id: str,
        dim: int,
        threads: int = 0,
        kind: str = "auto",
        approx_threshold: int = 200_000,
        vectors_url: str | None = None,
        milvus_index: MilvusIndexChoice | None = None,
    ):
        self.root = Path(home) / "index"
        self.catalog = catalog
        self.model_id = model_id
        self.dim = dim
        self.threads = threads
        self.kind = kind
        self.approx_threshold = approx_threshold
        self._indexes: dict[str, VectorIndex] = {}
        self._folders: dict[str, str] = {}  # collection -> its folder under root
        self._dirty: set[str] = set()
        self._loaded = False
        self._synced: CatalogState | None = None  # the catalog state the vectors reflect
        self._recent: set[int] = set()  # ids this set added itself since ``_synced``
        self.target = vectors_target(vectors_url)  # a bad URL fails here, not at a search
        self.milvus_index = milvus_index  # the Milvus index type and its parameters
        self._milvus: MilvusStore | None = None
        self._cids: dict[str, int] = {}  # collection -> its catalog id (Milvus partition key)

    # -- opening -------------------------------------------------------------------------
    def ensure_loaded(self) -> None:
        if self._loaded:
            return
        if self.target.kind != "files":
            self._open_milvus()
            return
        manifest = None
        tighten_tree(self.root)  # index files written by an older facesearch were 0644
        with self._lock(shared=True):  # a folder that cannot be used is an error, not a rebuild
            try:
                manifest = self._read_manifest()
                if manifest is not None:
                    self._load_from(manifest)
            except (FaceSearchError, OSError, ValueError, KeyError, TypeError) as exc:
                log.warning("index files unusable (%s); rebuilding from the catalog", exc)
                manifest = None
        if manifest is None:
            self.rebuild()
            return
        self._loaded = True
        self.sync()

    @contextlib.contextmanager
    def _lock(self, *, shared: bool) -> Iterator[None]:
        """The index folder's file lock; VectorIndexError naming the folder where it cannot
        be made, opened or locked (a folder of another user, chmod 000)."""
        with contextlib.ExitStack() as stack:
            try:
                make_private_dir(self.root)
                stack.enter_context(file_lock(self.root / LOCK, shared=shared))
            except OSError as exc:
                raise VectorIndexError(
                    f"{self.root}: cannot use the index folder: {exc.strerror or exc}"
                ) from exc
            yield

    def _read_manifest(self) -> dict[str, Any] | None:
        try:
            raw = json.loads((self.root / MANIFEST).read_text())
        except (OSError, ValueError):
            return None
        return raw if isinstance(raw, dict) else None

    def _load_from(self, manifest: dict[str, Any]) -> None:
        saved = CatalogState.from_dict(manifest["state"])
        current = self.catalog.state(self.model_id)
        if (
            saved.catalog_id != current.catalog_id
            or saved.model_id != self.model_id
            or _other_database(saved, current)
        ):
            raise VectorIndexError("index belongs to another catalog, database or model")
        indexes: dict[str, VectorIndex] = {}
        folders: dict[str, str] = {}
        for name, folder in dict(manifest["collections"]).items():
            indexes[str(name)] = load_index(self.root / str(folder), threads=self.threads)
            folders[str(name)] = str(folder)
        held = sum(len(i) for i in indexes.values())
        if held != saved.face_count:
            raise VectorIndexError(
                f"index files hold {held} faces, their manifest says {saved.face_count}"
            )
        self._indexes, self._folders = indexes, folders
        self._synced, self._recent = saved, set()
        self._last = manifest

    def _connect(self) -> MilvusStore:
        if self._milvus is None:
            change = self.catalog.database_change()
            if change is not None:  # a copy: its collection is the original's
                raise ConfigError(copied_catalog_message(change, self.model_id))
            catalog_id = self.catalog.state(self.model_id).catalog_id
            self._milvus = open_milvus(
                self.target, self.model_id, self.dim, catalog_id, self.milvus_index
            )
        return self._milvus

    def _open_milvus(self) -> None:
        """Views on every catalog collection; sync starts at the state Milvus last reflected,
        unless Milvus holds another number of vectors than that state's (then: full repair)."""
        store = self._connect()
        raw = store.read_state()
        try:
            saved = None if raw is None else CatalogState.from_dict(raw)
        except (KeyError, TypeError, ValueError):
            saved = None
        if saved is not None and store.count() != saved.face_count:
            log.warning("Milvus holds another number of vectors than it recorded; repairing")
            saved = None
        self._indexes = {c.name: self._index_for(c.name) for c in self.catalog.collections()}
        self._synced, self._recent = saved, set()
        self._loaded = True
        self.sync()

    def rebuild(self) -> int:
        """Drop every index and build them again from the catalog."""
        with self._lock(shared=False):
            # Faces committed while streaming are left to the next sync (ids past the state's
            # maximum); faces erased meanwhile show as a count below the state's, repaired then.
            state = self.catalog.state(self.model_id)
            self._indexes, self._folders = {}, {}
            if self.target.kind != "files":
                self._connect().drop_all()
            for info in self.catalog.collections():
                for ids, vecs in self.catalog.face_vectors([info.name], self.model_id):
                    keep = ids <= state.max_face_id
                    if keep.any():
                        self._add(info.name, ids[keep], vecs[keep])
            self._synced, self._recent = state, set()
            self._dirty = set(self._indexes)
            self._loaded = True
            for child in self.root.iterdir() if self._milvus is None else ():
                if child.name == LOCK:
                    continue
                if child.is_dir():
                    shutil.rmtree(child)
                else:
                    child.unlink()
            self._save_locked()
        return self._held()

    # -- keeping up with the catalog -----------------------------------------------------
    def sync(self) -> None:
        """Make the vectors exactly the catalog's faces, whoever changed the catalog."""
        state = self.catalog.state(self.model_id)
        synced = self._synced
        if state == synced:
            return
        if (
            synced is None
            or state.catalog_id != synced.catalog_id
            or _other_database(synced, state)
            or state.erasure_generation < synced.erasure_generation
            or state.max_face_id < synced.max_face_id
        ):
            self._repair()
            return
        if state.erasure_generation > synced.erasure_generation:
            erased = self.catalog.erased_between(
                synced.erasure_generation, state.erasure_generation
            )
            if erased is None:
                self._repair()
                return
            self.remove(erased)
        added = 0
        for name, ids, vecs in self.catalog.face_vectors_between(
            self.model_id, synced.max_face_id, state.max_face_id
        ):
            keep = np.fromiter((int(i) not in self._recent for i in ids), bool, len(ids))
            self._index_for(name)
            n = self._add(name, ids[keep], vecs[keep]) if keep.any() else 0
            if n:
                self._dirty.add(name)
                added += n
        if self._held() == state.face_count:
            self._synced, self._recent = state, set()
            if added:
                log.info("index caught up with %d faces committed by another writer", added)
            return
        self._repair()

    def _repair(self) -> None:
        """Compare ids with one catalog snapshot; remove what is gone, add what is missing."""
        state, ids_by_collection = self.catalog.index_snapshot(self.model_id)
        removed = added = 0
        if self._milvus is not None:  # rows held twice: dropped here, put back once below
            removed += len(self._milvus.drop_repeated())
        for name in set(self._indexes) | set(ids_by_collection):
            want = ids_by_collection.get(name, np.empty(0, np.int64))
            index = self._indexes.get(name)
            have = index.ids() if index is not None else np.empty(0, np.int64)
            extra = np.setdiff1d(have, want, assume_unique=True)
            missing = np.setdiff1d(want, have, assume_unique=True)
            if len(extra) and index is not None:
                removed += index.remove(extra)
                self._dirty.add(name)
            if len(missing):
                found, vecs = self.catalog.vectors_of(self.model_id, missing)
                if len(found):
                    added += self._add(name, found, vecs)
                    self._dirty.add(name)
        if self._milvus is not None:  # vectors of collections the catalog no longer has
            wanted = np.concatenate([np.empty(0, np.int64), *ids_by_collection.values()])
            orphans = np.setdiff1d(self._milvus.ids(), wanted)
            removed += self._milvus.erase(orphans).faces if len(orphans) else 0
        self._synced, self._recent = state, set()
        log.info("index repaired against the catalog: %d removed, %d added", removed, added)

    def _held(self) -> int:
        if self._milvus is not None:
            return self._milvus.count(seen=self._synced)
        return sum(len(i) for i in self._indexes.values())

    # -- use -----------------------------------------------------------------------------
    def _index_for(self, collection: str) -> VectorIndex:
        index = self._indexes.get(collection)
        if index is None:
            if self._milvus is not None:
                index = MilvusIndex(self._milvus, self._cid(collection))
            else:  # numpy takes no parameters; only auto takes the threshold
                params = {"threads": self.threads} if self.kind != "numpy" else {}
                if self.kind == "auto":
                    params["approx_threshold"] = self.approx_threshold
                index = make_index(self.dim, self.kind, **params)
            self._indexes[collection] = index
        return index

    def _add(self, name: str, ids: npt.NDArray[np.int64], vecs: npt.NDArray[np.float32]) -> int:
        """Add faces to ``name``'s index; in Milvus only those not held yet (every process
        writes the same vectors: another may have added some meanwhile). How many were added."""
        index = self._index_for(name)
        if isinstance(index, MilvusIndex):
            return index.add_missing(ids, vecs)
        index.add(ids, vecs)
        return len(ids)

    def _cid(self, collection: str) -> int:
        if collection not in self._cids:
            self._cids[collection] = self.catalog.ensure_collection(collection)
        return self._cids[collection]

    def size(self, collections: Sequence[str] | None = None) -> int:
        self.ensure_loaded()
        self.sync()
        if collections is None:
            return self._held()
        return sum(len(self._indexes[n]) for n in collections if n in self._indexes)

    def add(
        self, collection: str, ids: npt.NDArray[np.int64], vectors: npt.NDArray[np.float32]
    ) -> None:
        """Add faces this process just committed to the catalog."""
        self.ensure_loaded()
        if len(ids):
            self._add(collection, ids, vectors)
            self._recent.update(int(i) for i in ids)
            self._dirty.add(collection)
            self.sync()

    def remove(self, ids: Iterable[int]) -> int:
        self.ensure_loaded()
        arr = np.fromiter(ids, dtype=np.int64)
        removed = 0
        if self._milvus is not None:  # one erasure over every collection, proved
            removed = self._milvus.erase(arr).faces
        for name, index in self._indexes.items() if self._milvus is None else ():
            n = index.remove(arr)
            if n:
                removed += n
                self._dirty.add(name)
        self._recent.difference_update(int(i) for i in arr)
        return removed

    def search(
        self, queries: npt.NDArray[np.float32], k: int, collections: Sequence[str] | None
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
        """Top ``k`` over the named collections (all when None), merged; padding id -1."""
        self.ensure_loaded()
        if self._milvus is not None:
            try:
                return self._search_milvus(queries, k, collections)
            except IndexRebuildingError:  # opened again: the new collection may be part-built
                log.warning("the Milvus index is being rebuilt; searching again shortly")
                time.sleep(REBUILD_WAIT_S)
                self._loaded = False
                self.ensure_loaded()
                return self._search_milvus(queries, k, collections)
        self.sync()
        names = list(self._indexes) if collections is None else list(collections)
        parts = [self._indexes[n].search(queries, k) for n in names if n in self._indexes]
        n = len(queries)
        if not parts:
            return (
                np.full((n, k), -np.inf, np.float32),
                np.full((n, k), -1, np.int64),
            )
        sims = np.concatenate([p[0] for p in parts], axis=1)
        ids = np.concatenate([p[1] for p in parts], axis=1)
        order = np.argsort(-sims, axis=1, kind="stable")[:, :k]
        return np.take_along_axis(sims, order, 1), np.take_along_axis(ids, order, 1)

    def _search_milvus(
        self, queries: npt.NDArray[np.float32], k: int, collections: Sequence[str] | None
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
        """One filtered search over the collections asked for."""
        assert self._milvus is not None
        self.sync()
        held = self._indexes
        cids = None if collections is None else [self._cid(n) for n in collections if n in held]
        return self._milvus.search(queries, k, cids, seen=self._synced)

    def save(self) -> None:
        """Bring the vectors up to the catalog, then save the changed indexes and the
        manifest naming them (the commit point), holding the exclusive lock."""
        self.ensure_loaded()
        with self._lock(shared=False):
            self._save_locked()

    def _save_locked(self) -> None:
        self.sync()
        assert self._synced is not None
        if self._milvus is not None:  # flush, then record the state the vectors reflect
            self._milvus.write_state(self._synced.as_dict())
            self._dirty.clear()
            return
        on_disk = self._read_manifest()
        disk_folders = dict(on_disk.get("collections", {})) if on_disk else {}
        collections = {}
        for name, index in self._indexes.items():
            if name not in self._folders:  # a collection indexed for the first time
                self._folders[name] = f"c{self.catalog.ensure_collection(name)}"
            folder = self._folders[name]
            # Another writer may have saved this folder since: our copy is the current one.
            if name in self._dirty or disk_folders.get(name) != folder or on_disk != self._last:
                index.save(self.root / folder)
            collections[name] = folder
        body = {"state": self._synced.as_dict(), "collections": collections}
        write_private(self.root / MANIFEST, json.dumps(body).encode())
        with contextlib.suppress(OSError):
            fd = os.open(self.root, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        self._last = body
        self._dirty.clear()

    _last: dict[str, Any] | None = None  # the manifest this set wrote last

    # -- erasure reports -------------------------------------------------------------------
    @property
    def last_erasure(self) -> VectorErasure | None:
        """What the last ``remove`` did in Milvus (None with files: see ``storage``)."""
        return None if self._milvus is None else self._milvus.last_erasure

    def pending_physical_deletions(self) -> list[PendingDeletion]:
        """Erased vectors gone from every search that the server still holds on disk."""
        self.ensure_loaded()
        return [] if self._milvus is None else self._milvus.pending_physical_deletions()


def _other_database(recorded: CatalogState, current: CatalogState) -> bool:
    """Whether vectors recorded at ``recorded`` were made from a catalog in another database
    than ``current``'s (a copy of it: same catalog_id). A state recorded before the database
    was kept (None) is taken as this one's."""
    return recorded.database_id is not None and recorded.database_id != current.database_id


def copied_catalog_message(change: DatabaseChange, model_id: str) -> str:
    """Why a catalog in a copied or moved database may not open its Milvus collection, and
    the two ways out."""
    return (
        f"{change}. Its vectors are the Milvus collection "
        f"{collection_name(model_id, change.catalog_id)}, which the catalog in the other "
        "database also uses: writing to it from here would remove that catalog's vectors or "
        "store other faces under its face ids, so it is not opened. If this database is a "
        "copy (staging, tests) run 'facesearch catalog fork': this catalog gets an id and a "
        "Milvus collection of its own, built from it. If the deployment moved here and the "
        "old database is no longer used by any facesearch, run 'facesearch catalog adopt': "
        "this database is recorded and the collection kept"
    )
