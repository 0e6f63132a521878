"""What the vector indexes read from the catalog: embeddings streamed in id order, the
catalog's state (to tell a stale index), its erasure log and id snapshots (to repair one)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence

import numpy as np
import numpy.typing as npt

from facesearch.errors import InputError, NotFoundError
from facesearch.gallery.catalog import _codec, _read
from facesearch.gallery.catalog._connection import CatalogConnection, sqlite_errors
from facesearch.gallery.catalog.records import CatalogState

IdRange = tuple[int, int]  # (after, upto): the face ids i with after < i <= upto


class VectorsView(CatalogConnection):
    """The vector index's view of the catalog (part of ``Catalog``)."""

    # -- the vector index's view ----------------------------------------------------------

    def face_vectors(
        self, collections: Sequence[str] | None, model_id: str, chunk: int = 50_000
    ) -> Iterator[tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]]:
        """Stream (ids, embeddings) of ``model_id``'s faces, ids ascending, ``chunk`` at a time.

        ``collections=None`` means all of them; a collection that does not exist raises
        NotFoundError (now, not at the first ``next``). Each chunk is its own read, so no
        transaction stays open between chunks: take ``state(model_id)`` *before* streaming and
        store that, so that any change made meanwhile shows the index as stale. The arrays are
        fresh and writable; the embeddings are (n, dim) float32.
        """
        if chunk <= 0:
            raise InputError("chunk must be positive")
        plan = self._scan_plan(collections, model_id)
        return iter(()) if plan is None else self._stream_vectors(*plan, chunk)

    def faces_at_least(
        self,
        collections: Sequence[str] | None,
        model_id: str,
        query: npt.NDArray[np.float32],
        threshold: float,
    ) -> list[int]:
        """The ids of ``model_id``'s faces in ``collections`` (None: all) whose embedding's
        inner product with ``query`` is at least ``threshold``, the most similar first (ties
        by id): one exact pass over the embeddings, whatever the vector index is.

        ``gallery.ray_scan`` runs the same pass split into id ranges on a Ray cluster:
        ``scores_at_least`` over each range, merged by ``most_similar_first``."""
        return most_similar_first(*self.scores_at_least(collections, model_id, query, threshold))

    def scores_at_least(
        self,
        collections: Sequence[str] | None,
        model_id: str,
        query: npt.NDArray[np.float32],
        threshold: float,
        within: IdRange | None = None,
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        """(ids, scores) of the faces ``faces_at_least`` selects, ids ascending; with
        ``within`` (after, upto), only those with ``after < id <= upto``.

        Each score is computed from its own embedding alone (``_scores``), so a face scores
        the same whatever chunk or range it is read in: the scan split into ranges and merged
        selects and orders exactly as the whole scan does."""
        query = np.asarray(query, dtype=np.float32)
        sims: list[npt.NDArray[np.float32]] = [np.empty(0, np.float32)]
        found: list[npt.NDArray[np.int64]] = [np.empty(0, np.int64)]
        plan = self._scan_plan(collections, model_id)
        if plan is not None:
            for ids, vectors in self._stream_vectors(*plan, 50_000, within):
                scores = _scores(vectors, query)
                keep = scores >= threshold
                sims.append(scores[keep])
                found.append(ids[keep])
        return np.concatenate(found), np.concatenate(sims)

    def face_id_span(self, collections: Sequence[str] | None, model_id: str) -> IdRange | None:
        """(first - 1, last): the id range holding every face of ``model_id`` (those of
        ``collections`` among them), in the form ``scores_at_least`` takes; None when there is
        nothing to scan. A collection that does not exist raises NotFoundError, as in
        ``face_vectors``. Two indexed lookups whatever the size of the catalog."""
        plan = self._scan_plan(collections, model_id)
        if plan is None:
            return None
        with self._reading() as conn:
            low, high = conn.execute(
                "SELECT min(id), max(id) FROM faces WHERE model_id = ?", (plan[0][0],)
            ).fetchone()
        return None if low is None else (int(low) - 1, int(high))

    def _scan_plan(
        self, collections: Sequence[str] | None, model_id: str
    ) -> tuple[tuple[int, int], list[int] | None] | None:
        """(model key and dim, collection keys or None for all) of a scan; None when there is
        nothing to scan; NotFoundError for a collection that does not exist."""
        with self._reading() as conn:
            model = _read.model(conn, model_id)
            cids: list[int] | None = None
            if collections is not None:
                cids = []
                for name in collections:
                    cid = _read.collection_id(conn, name)
                    if cid is None:
                        raise NotFoundError(f"no collection named {name!r}")
                    cids.append(cid)
        if model is None or cids == []:
            return None
        return model, cids

    def _stream_vectors(
        self,
        model: tuple[int, int],
        cids: list[int] | None,
        chunk: int,
        within: IdRange | None = None,
    ) -> Iterator[tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]]:
        key, dim = model
        last, upto = (0, None) if within is None else within
        bound = "" if upto is None else " AND f.id <= ?"
        if cids is None:
            sql = f"""SELECT f.id, f.embedding FROM faces f WHERE f.model_id = ? AND f.id > ?
                {bound} ORDER BY f.id LIMIT ?"""
        else:
            sql = f"""SELECT f.id, f.embedding FROM faces f
                JOIN images i ON i.id = f.image_id
                WHERE f.model_id = ? AND f.id > ?{bound}
                AND i.collection_id IN ({_read.placeholders(len(cids))})
                ORDER BY f.id LIMIT ?"""
        while True:
            params = (key, last, *(() if upto is None else (upto,)), *(cids or ()), chunk)
            with sqlite_errors():
                rows = self._live().execute(sql, params).fetchall()
            if not rows:
                return
            ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            yield ids, _codec.decode_embeddings([r[1] for r in rows], dim)
            last = int(ids[-1])
            if len(rows) < chunk:
                return

    def state(self, model_id: str) -> CatalogState:
        """What an index built from ``face_vectors(..., model_id)`` stores to detect staleness
        (with the database the catalog is in now, so that a copy's index is another's).

        Costs three indexed lookups whatever the size of the catalog.
        """
        with self._reading() as conn:
            return _state(conn, model_id, self.database_id)

    def index_snapshot(
        self, model_id: str
    ) -> tuple[CatalogState, dict[str, npt.NDArray[np.int64]]]:
        """The state and, per collection, the ids of ``model_id``'s faces, from one snapshot.

        What a vector index compares itself with to repair any difference (faces erased or
        added by another process): the ids are exactly the faces of that state."""
        out: dict[str, npt.NDArray[np.int64]] = {}
        with self._reading() as conn:
            state = _state(conn, model_id, self.database_id)
            model = _read.model(conn, model_id)
            if model is not None:
                for cid, name in conn.execute("SELECT id, name FROM collections").fetchall():
                    rows = conn.execute(
                        """SELECT f.id FROM faces f JOIN images i ON i.id = f.image_id
                        WHERE i.collection_id = ? AND f.model_id = ? ORDER BY f.id""",
                        (cid, model[0]),
                    )
                    ids = np.fromiter((r[0] for r in rows), dtype=np.int64)
                    if len(ids):
                        out[name] = ids
        return state, out

    def erased_between(self, after: int, upto: int) -> npt.NDArray[np.int64] | None:
        """Ids of the faces erased by generations ``after < g <= upto``; None when the log
        does not cover them all (a catalog from before the log)."""
        if upto <= after:
            return np.empty(0, np.int64)
        with self._reading() as conn:
            rows = conn.execute(
                "SELECT face_id FROM erased_faces WHERE generation > ? AND generation <= ?",
                (after, upto),
            ).fetchall()
        if len(rows) != upto - after:
            return None
        return np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))

    def face_vectors_between(
        self, model_id: str, after_id: int, upto_id: int, chunk: int = 50_000
    ) -> Iterator[tuple[str, npt.NDArray[np.int64], npt.NDArray[np.float32]]]:
        """Stream (collection, ids, embeddings) of faces with ``after_id < id <= upto_id``."""
        with self._reading() as conn:
            model = _read.model(conn, model_id)
        if model is None:
            return
        key, dim = model
        last = after_id
        while last < upto_id:
            with sqlite_errors():
                rows = (
                    self._live()
                    .execute(
                        """SELECT c.name, f.id, f.embedding FROM faces f
                    JOIN images i ON i.id = f.image_id
                    JOIN collections c ON c.id = i.collection_id
                    WHERE f.model_id = ? AND f.id > ? AND f.id <= ? ORDER BY f.id LIMIT ?""",
                        (key, last, upto_id, chunk),
                    )
                    .fetchall()
                )
            if not rows:
                return
            by_collection: dict[str, list[tuple[int, bytes]]] = {}
            for name, face_id, blob in rows:
                by_collection.setdefault(name, []).append((face_id, blob))
            for name, part in by_collection.items():
                ids = np.fromiter((r[0] for r in part), dtype=np.int64, count=len(part))
                yield name, ids, _codec.decode_embeddings([r[1] for r in part], dim)
            last = int(rows[-1][1])
            if len(rows) < chunk:
                return

    def vectors_of(
        self, model_id: str, ids: npt.NDArray[np.int64]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        """(ids, embeddings) of those of ``ids`` that still exist, ids ascending."""
        with self._reading() as conn:
            model = _read.model(conn, model_id)
            if model is None or not len(ids):
                return np.empty(0, np.int64), np.empty(
                    (0, 0 if model is None else model[1]), np.float32
                )
            key, dim = model
            rows: list[tuple[int, bytes]] = []
            for part in _read.chunks([int(i) for i in ids]):
                rows.extend(
                    conn.execute(
                        f"SELECT id, embedding FROM faces WHERE model_id = ? "
                        f"AND id IN ({_read.placeholders(len(part))})",
                        (key, *part),
                    ).fetchall()
                )
        rows.sort()
        found = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        return found, _codec.decode_embeddings([r[1] for r in rows], dim)


def most_similar_first(ids: npt.NDArray[np.int64], scores: npt.NDArray[np.float32]) -> list[int]:
    """``ids`` ordered by their ``scores``, highest first, ties by id (ascending)."""
    return [int(i) for i in ids[np.lexsort((ids, -scores))]]


def _scores(
    vectors: npt.NDArray[np.float32], query: npt.NDArray[np.float32]
) -> npt.NDArray[np.float32]:
    """Each row's inner product with ``query``, computed from that row alone. Not ``vectors @
    query``: BLAS's matrix-vector product may round a row differently by where it falls in
    the matrix (in its last bit: OpenBLAS did for some rows in ten thousand, at 128-d and
    512-d), so a face could score otherwise in another chunk or range; einsum runs the same
    loop over every row (and was faster here, 2 ms against 9 ms for 20,000 x 128)."""
    scores: npt.NDArray[np.float32] = np.einsum("ij,j->i", vectors, query)
    return scores


def _state(conn: sqlite3.Connection, model_id: str, database_id: str | None) -> CatalogState:
    catalog_id, generation = conn.execute(
        "SELECT catalog_id, erasure_generation FROM catalog_state"
    ).fetchone()
    row = conn.execute(
        "SELECT id, dim, face_count FROM models WHERE name = ?", (model_id,)
    ).fetchone()
    max_id = 0
    if row is not None:
        found = conn.execute("SELECT max(id) FROM faces WHERE model_id = ?", (row[0],)).fetchone()[
            0
        ]
        max_id = int(found or 0)
    return CatalogState(
        catalog_id=catalog_id,
        model_id=model_id,
        dim=None if row is None else int(row[1]),
        face_count=0 if row is None else int(row[2]),
        max_face_id=max_id,
        erasure_generation=int(generation),
        database_id=database_id,
    )
