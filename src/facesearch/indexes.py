"""The vector indexes of a home, derived from the catalog: one per collection.

Layout under ``HOME/index/``::

    manifest.json                  {"state": CatalogState.as_dict(), "collections": {name: dir}}
    c<collection id>/              one VectorIndex saved by its own backend (atomic)

The catalog is the source of truth. ``manifest.json`` is written last, after every index it
names was saved, and records the catalog state the indexes reflect. On open, the manifest is
compared with ``catalog.state()``: equal -> load the files; only new faces since (no erasure)
-> load and add the missing faces from the catalog; anything else (erasure, missing or damaged
files, another model) -> rebuild from the catalog. So an index can be stale on disk after a
crash but never serves stale answers.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from facesearch.catalog import Catalog, CatalogState
from facesearch.errors import FaceSearchError, VectorIndexError
from facesearch.index import VectorIndex, load_index, make_index

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"


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
    ):
        self.root = home / "index"
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
        self.rebuilt = False

    # -- opening -------------------------------------------------------------------------
    def ensure_loaded(self) -> None:
        if self._loaded:
            return
        state = self.catalog.state(self.model_id)
        manifest = self._read_manifest()
        try:
            if manifest is not None:
                self._load_from(manifest, state)
                self._loaded = True
                return
        except (FaceSearchError, OSError, ValueError, KeyError) as exc:
            log.warning("index files unusable (%s); rebuilding from the catalog", exc)
        self.rebuild()

    def _read_manifest(self) -> dict[str, Any] | None:
        try:
            raw = json.loads((self.root / MANIFEST).read_text())
        except (OSError, ValueError):
            return None
        return raw if isinstance(raw, dict) else None

    def _load_from(self, manifest: dict[str, Any], state: CatalogState) -> None:
        saved = CatalogState.from_dict(manifest["state"])
        if saved.catalog_id != state.catalog_id or saved.model_id != self.model_id:
            raise VectorIndexError("index belongs to another catalog or model")
        if saved.erasure_generation != state.erasure_generation:
            raise VectorIndexError("faces were erased since the index was saved")
        if saved.max_face_id > state.max_face_id:
            raise VectorIndexError("index holds faces the catalog does not")
        names = [c.name for c in self.catalog.collections()]
        for name, folder in manifest["collections"].items():
            if name in names:
                self._indexes[name] = load_index(self.root / folder, threads=self.threads)
                self._folders[name] = folder
        if saved == state:
            return
        # Catch up: faces committed after the last save (e.g. an ingest killed mid-run).
        added = 0
        for name in names:
            held = self._indexes[name].ids() if name in self._indexes else None
            for ids, vecs in self.catalog.face_vectors([name], self.model_id):
                keep = ids > saved.max_face_id
                if held is not None and len(held):
                    keep &= ~np.isin(ids, held)
                if keep.any():
                    self._index_for(name).add(ids[keep], vecs[keep])
                    self._dirty.add(name)
                    added += int(keep.sum())
        total = sum(len(i) for i in self._indexes.values())
        if total != state.face_count:
            raise VectorIndexError(f"index holds {total} faces, the catalog {state.face_count}")
        log.info("index caught up with %d faces committed after its last save", added)
        self.save(state)

    def rebuild(self) -> int:
        """Drop every index and build them again from the catalog."""
        state = self.catalog.state(self.model_id)
        self._indexes = {}
        self._folders = {}
        for info in self.catalog.collections():
            for ids, vecs in self.catalog.face_vectors([info.name], self.model_id):
                self._index_for(info.name).add(ids, vecs)
        self._dirty = set(self._indexes)
        self._loaded = True
        self.rebuilt = True
        if self.root.exists():
            shutil.rmtree(self.root)
        self.save(state)
        return sum(len(i) for i in self._indexes.values())

    # -- use -----------------------------------------------------------------------------
    def _index_for(self, collection: str) -> VectorIndex:
        index = self._indexes.get(collection)
        if index is None:
            if self.kind == "numpy":
                index = make_index(self.dim, "numpy")
            elif self.kind == "auto":
                index = make_index(
                    self.dim, "auto", threads=self.threads, approx_threshold=self.approx_threshold
                )
            else:
                index = make_index(self.dim, self.kind, threads=self.threads)
            self._indexes[collection] = index
        return index

    def size(self, collections: Sequence[str] | None = None) -> int:
        self.ensure_loaded()
        names = self._indexes if collections is None else collections
        return sum(len(self._indexes[n]) for n in names if n in self._indexes)

    def add(
        self, collection: str, ids: npt.NDArray[np.int64], vectors: npt.NDArray[np.float32]
    ) -> None:
        self.ensure_loaded()
        if len(ids):
            self._index_for(collection).add(ids, vectors)
            self._dirty.add(collection)

    def remove(self, ids: Iterable[int]) -> int:
        self.ensure_loaded()
        arr = np.fromiter(ids, dtype=np.int64)
        removed = 0
        for name, index in self._indexes.items():
            n = index.remove(arr)
            if n:
                removed += n
                self._dirty.add(name)
        return removed

    def search(
        self, queries: npt.NDArray[np.float32], k: int, collections: Sequence[str] | None
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
        """Top ``k`` over the named collections (all when None), merged; padding id -1."""
        self.ensure_loaded()
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

    def save(self, state: CatalogState | None = None) -> None:
        """Save changed indexes, then the manifest naming them (the commit point)."""
        state = state or self.catalog.state(self.model_id)
        self.root.mkdir(parents=True, exist_ok=True)
        collections = {}
        for name, index in self._indexes.items():
            if name not in self._folders:  # a collection indexed for the first time
                self._folders[name] = f"c{self.catalog.ensure_collection(name)}"
            folder = self._folders[name]
            if name in self._dirty or not (self.root / folder).exists():
                index.save(self.root / folder)
            collections[name] = folder
        tmp = self.root / (MANIFEST + ".tmp")
        tmp.write_text(json.dumps({"state": state.as_dict(), "collections": collections}))
        with tmp.open("rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, self.root / MANIFEST)
        self._dirty.clear()

    def index_files(self) -> list[Path]:
        return sorted(p for p in self.root.rglob("*") if p.is_file()) if self.root.exists() else []
