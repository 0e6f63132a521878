"""Milvus holds the vectors: one Milvus collection per embedding model (pymilvus ``MilvusClient``).

The collection's name (``collection_name``) is derived from the model id and the catalog's id,
so two homes pointed at one server never share vectors. Schema: ``id`` INT64 primary key (the
face id), ``collection`` INT64 partition key (the facesearch collection's id), ``vector``
FLOAT_VECTOR searched by inner product. A search over some facesearch collections is one
filtered search (``collection in [...]``).

The index on ``vector`` is the type of ``milvus_index`` (``milvus_index.choose``: ``auto`` by
the number of vectors held). It is checked when the store opens and at every ``write_state``
(``IndexSet.save``); when the choice differs from the index the server holds, the index is
rebuilt (release, drop_index, create_index, load: searches wait meanwhile).

Consistency: Strong for every read within ``FRESH_S`` of a write by this store or of a change
of the catalog state its caller reports (``seen``: every writer commits to the catalog before
Milvus, and every reader syncs with the catalog before searching), so a search right after an
insert or a delete, by any process, sees it; Session otherwise. A Strong read waits for the
server's next time tick: 200 ms per search on Milvus 2.3, against 2 ms at Session.

``facesearch_meta`` (one small collection for every model) keeps, per model, the catalog state
the vectors last reflected (written by ``IndexSet.save``), the index built (Milvus Lite does
not report index parameters) and the erasures whose physical removal the server finishes
later. Milvus requires a vector field there too: a dummy one.

Erasure (``erase``): fetch the vectors of the ids held, delete them, flush, ask for a
compaction, then prove they are gone: a query by id finds nothing and a search with each
erased vector's own embedding does not return its id. Milvus keeps deleted rows in sealed
segments until compaction rewrites them, and the old segment files until garbage collection
drops them (``dataCoord.gc.dropTolerance``, 3 h by default); Milvus Lite hides deleted rows
behind tombstones and drops them when its automatic compaction merges their file (it offers
no manual compaction). ``VectorErasure`` says what was done and what is left to the server;
``pending_physical_deletions`` lists the latter.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from facesearch.errors import ConfigError, IndexRebuildingError, VectorIndexError
from facesearch.gallery.vectors.base import (
    PAD_ID,
    Ids,
    Vectors,
    check_ids,
    check_k,
    check_vectors,
    padded,
    sort_hits,
)
from facesearch.gallery.vectors.milvus_index import (
    MilvusIndexChoice,
    choose,
    keep_lists,
    supported_types,
)
from facesearch.types import fields_dict

log = logging.getLogger(__name__)

META = "facesearch_meta"
MAX_TOPK = 16_384  # Milvus's largest limit for one search or query
BATCH = 2_000  # rows per insert, ids per filter expression
GC_DROP_TOLERANCE_S = 3 * 3600  # Milvus's default dataCoord.gc.dropTolerance
FRESH_S = 10.0  # seconds after a write or a catalog change during which reads are Strong
REPEAT_RANGE = 64  # drop_repeated re-puts the ids of a range this small whole
SEGMENT_ROWS = 1_000_000  # Milvus indexes each sealed segment apart: 512 MB, ~10^6 128-d rows


def collection_name(model_id: str, catalog_id: str) -> str:
    """The Milvus collection of ``model_id`` in the catalog ``catalog_id``: readable (the
    model id) and unique (a digest of both ids)."""
    slug = re.sub(r"[^A-Za-z0-9_]", "_", model_id)[:48]
    digest = hashlib.sha256(f"{catalog_id}\0{model_id}".encode()).hexdigest()[:12]
    return f"faces_{slug}_{digest}"


@dataclass(frozen=True)
class VectorErasure:
    """What one erasure did in Milvus, and what the server finishes later."""

    faces: int  # vectors deleted
    flushed: bool
    compaction: str  # "requested <job id>", or why none was requested
    proved_absent: bool  # a query by id and a search by their own embeddings found none
    left_to_server: str  # "" when nothing is; else what and when

    def as_dict(self) -> dict[str, Any]:
        return fields_dict(self)


@dataclass(frozen=True)
class PendingDeletion:
    """Deleted vectors that are gone from every search but still on the server's disk."""

    faces: int
    requested_at: float  # unix time of the erasure
    compaction_job: int  # 0: none could be requested (Milvus Lite compacts by itself)
    compaction_state: str  # the server's word: Executing, Completed, automatic
    note: str
    collections: tuple[int, ...] = ()  # catalog ids of the erased faces' collections


class MilvusStore:
    """The vectors of one embedding model in a Milvus collection; see the module docstring."""

    def __init__(
        self,
        uri: str,
        model_id: str,
        dim: int,
        catalog_id: str,
        *,
        token: str = "",
        index: MilvusIndexChoice | None = None,
    ) -> None:
        from pymilvus import MilvusClient  # the distributed extra; the embedded default lacks it

        if dim < 1:
            raise VectorIndexError(f"dim must be positive, got {dim}")
        self.uri, self.model_id, self.dim = uri, model_id, dim
        self.name = collection_name(model_id, catalog_id)
        self.lite = uri.endswith(".db")
        self.wanted = index or MilvusIndexChoice()
        try:
            self.client = MilvusClient(uri=uri, token=token)
            self.version = str(self.client.get_server_version())
        except Exception as exc:
            raise VectorIndexError(f"cannot open Milvus at {uri}: {exc}") from exc
        self.supported = supported_types(self.version, self.lite)
        self.index = choose(self.wanted, 0, self.supported)  # a type it lacks: ConfigError
        try:
            self._ensure_collections()
        except ConfigError:
            raise
        except Exception as exc:
            raise VectorIndexError(f"cannot open Milvus at {uri}: {exc}") from exc
        self.last_erasure: VectorErasure | None = None
        self._changed = time.monotonic()  # the last write, or change of ``seen``
        self._seen: object = None

    def _level(self, seen: object = None) -> str:
        """Strong right after a change (see the module docstring), Session otherwise."""
        if seen is not None and seen != self._seen:
            self._seen, self._changed = seen, time.monotonic()
            return "Strong"
        return "Strong" if time.monotonic() - self._changed < FRESH_S else "Session"

    # -- schema ----------------------------------------------------------------------------
    def _ensure_collections(self) -> None:
        from pymilvus import DataType, MilvusClient

        c = self.client
        created = not c.has_collection(self.name)
        if created:
            schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
            schema.add_field("id", DataType.INT64, is_primary=True)
            schema.add_field("collection", DataType.INT64, is_partition_key=True)
            schema.add_field("vector", DataType.FLOAT_VECTOR, dim=self.dim)
            self._create(self.name, schema, self._index_params(self.index))
        if not c.has_collection(META):
            schema = MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)
            schema.add_field("key", DataType.VARCHAR, is_primary=True, max_length=512)
            schema.add_field("value", DataType.VARCHAR, max_length=65_535)
            schema.add_field("unused", DataType.FLOAT_VECTOR, dim=2)
            params = c.prepare_index_params()
            params.add_index(field_name="unused", index_type="FLAT", metric_type="L2")
            self._create(META, schema, params)
        c.load_collection(self.name)
        c.load_collection(META)
        held = self._held_dim()
        if held != self.dim:
            raise VectorIndexError(f"Milvus collection {self.name} holds {held}-wide vectors")
        if created:
            self._meta_put(f"{self.name}:index", fields_dict(self.index))
        self.ensure_index()

    def _index_params(self, choice: MilvusIndexChoice) -> Any:
        p, build = self.client.prepare_index_params(), choice.build_params(self.dim)
        p.add_index(field_name="vector", index_type=choice.type, metric_type="IP", params=build)
        return p

    def ensure_index(self) -> MilvusIndexChoice:
        """The index ``milvus_index`` asks for at the current size, rebuilt if the server holds
        another (see the module docstring); returns it."""
        want = choose(self.wanted, min(self.count_where(""), SEGMENT_ROWS), self.supported)
        held_type = str(self.client.describe_index(self.name, "vector").get("index_type", ""))
        record = self._meta_get(f"{self.name}:index")
        held = (
            MilvusIndexChoice(**record)
            if isinstance(record, dict) and record.get("type") == held_type
            else MilvusIndexChoice(held_type)  # made before records were kept: FLAT
        )
        want = keep_lists(self.wanted, want, held)
        if held.type != want.type or held.build_params(self.dim) != want.build_params(self.dim):
            log.info("Milvus %s: rebuilding the index, %s -> %s", self.name, held, want)
            c = self.client
            c.release_collection(self.name)
            c.drop_index(self.name, "vector")
            c.create_index(self.name, self._index_params(want))
            c.load_collection(self.name)
        if want != held:
            self._meta_put(f"{self.name}:index", fields_dict(want))
        self.index = want
        return want

    def _create(self, name: str, schema: Any, params: Any) -> None:
        """Create a collection and its index without pymilvus's wait for the index (half a
        second at least; the load that follows waits for what it needs)."""
        self.client.create_collection(name, schema=schema, consistency_level="Strong")
        self.client.create_index(name, params, sync=False)

    def _held_dim(self) -> int:
        for f in self.client.describe_collection(self.name)["fields"]:
            if f["name"] == "vector":
                return int(f["params"]["dim"])
        raise VectorIndexError(f"Milvus collection {self.name} has no vector field")

    def drop_all(self) -> None:
        """Drop this model's vectors and records (``rebuild``), and make the collection anew."""
        self.client.drop_collection(self.name)
        self.client.delete(META, filter=f'key like "{self.name}%"')
        self._ensure_collections()

    # -- the state record ------------------------------------------------------------------
    def _meta_get(self, key: str) -> Any:
        rows = self.client.query(META, filter=f'key == "{key}"', output_fields=["value"])
        return json.loads(rows[0]["value"]) if rows else None

    def _meta_put(self, key: str, value: Any) -> None:
        row = {"key": key, "value": json.dumps(value), "unused": [0.0, 0.0]}
        self.client.upsert(META, [row])

    def read_state(self) -> dict[str, Any] | None:
        """The catalog state (``CatalogState.as_dict``) the vectors last reflected."""
        state = self._meta_get(f"{self.name}:state")
        return state if isinstance(state, dict) else None

    def write_state(self, state: dict[str, Any]) -> None:
        self.client.flush(self.name)
        self.ensure_index()
        self._meta_put(f"{self.name}:state", state)

    # -- reads -----------------------------------------------------------------------------
    def _where(self, collections: list[int] | None, ids: Ids | None = None) -> str:
        parts = []
        if collections is not None:
            parts.append(f"collection in {[int(c) for c in collections]}")
        if ids is not None:
            parts.append(f"id in {ids.tolist()}")
        return " and ".join(parts)

    def count(self, collections: list[int] | None = None, seen: object = None) -> int:
        return self.count_where(self._where(collections), self._level(seen))

    def count_where(self, where: str, level: str = "Strong") -> int:
        with self._rebuilding():
            rows = self.client.query(
                self.name, filter=where, output_fields=["count(*)"], consistency_level=level
            )
        return int(rows[0]["count(*)"]) if rows else 0

    @contextlib.contextmanager
    def _rebuilding(self) -> Iterator[None]:
        """A read while ``reindex`` (``drop_all``) has dropped the collection and not loaded
        it again yet fails with IndexRebuildingError, not the server's words."""
        try:
            yield
        except Exception as exc:
            words = str(exc).lower()
            if "collection not found" in words or "not loaded" in words:
                raise IndexRebuildingError("the index is being rebuilt; try again") from exc
            raise

    def ids(self, collections: list[int] | None = None) -> Ids:
        """Every id held in ``collections`` (all when None), ascending. Fetched by id ranges
        of at most ``MAX_TOPK`` ids each (a query returns no more)."""
        where = self._where(collections)
        found: list[int] = []
        ranges = [(0, 2**63 - 1)]
        while ranges:
            lo, hi = ranges.pop()
            part = f"id >= {lo} and id < {hi}" + (f" and {where}" if where else "")
            n = self.count_where(part)
            if n > MAX_TOPK and hi - lo > 1:
                mid = lo + (hi - lo) // 2
                ranges += [(lo, mid), (mid, hi)]
            elif n:
                found.extend(self._ids_in(part, n))
        return np.unique(np.asarray(found, dtype=np.int64))

    def _ids_in(self, where: str, n: int) -> list[int]:
        """The distinct ids of ``where`` (which holds ``n`` <= MAX_TOPK rows), ascending."""
        with self._rebuilding():
            rows = self.client.query(self.name, filter=where, output_fields=["id"], limit=n)
        return sorted(int(r["id"]) for r in rows)

    def drop_repeated(self) -> Ids:
        """Delete every row of the ids held more than once (and of ids near them), and
        return those ids: the caller puts each back once. Two writers racing on one new id
        insert it twice on Milvus 2.3 (``put``); a query returns an id once, ``count(*)``
        counts its rows: an id range whose count exceeds its distinct ids is halved at its
        middle id until it holds at most ``REPEAT_RANGE`` ids, all of them taken."""
        twice: list[int] = []
        ranges = [(0, 2**63 - 1)]
        while ranges:
            lo, hi = ranges.pop()
            part = f"id >= {lo} and id < {hi}"
            n = self.count_where(part)
            have = self._ids_in(part, n) if 0 < n <= MAX_TOPK else []
            if n > MAX_TOPK:
                mid = lo + (hi - lo) // 2
                ranges += [(lo, mid), (mid, hi)]
            elif len(have) >= n:  # none held twice here
                continue
            elif len(have) <= REPEAT_RANGE:
                twice.extend(have)
            else:
                mid = have[len(have) // 2]
                ranges += [(lo, mid), (mid, hi)]
        gone = np.asarray(sorted(twice), dtype=np.int64)
        self._changed = time.monotonic()
        for start in range(0, len(gone), BATCH):
            self.client.delete(self.name, filter=f"id in {gone[start : start + BATCH].tolist()}")
        return gone

    def _rows(self, ids: Ids, fields: list[str], collections: list[int] | None) -> Iterator[Any]:
        for start in range(0, len(ids), BATCH):
            part = ids[start : start + BATCH]
            where = self._where(collections, part)
            with self._rebuilding():
                yield from self.client.query(self.name, filter=where, output_fields=fields)

    def held(self, ids: Ids, collections: list[int] | None = None) -> Ids:
        """Those of ``ids`` held (in ``collections``), ascending."""
        found = [int(r["id"]) for r in self._rows(check_ids(ids), ["id"], collections)]
        return np.unique(np.asarray(found, dtype=np.int64))

    def search(
        self, queries: Vectors, k: int, collections: list[int] | None, seen: object = None
    ) -> tuple[Vectors, Ids]:
        """Top ``k`` by inner product over ``collections`` (all when None), padded, best first;
        equal scores by ascending id. ``k`` past Milvus's limit (16 384) is padded. ``seen``:
        the catalog state the caller synced to (see the module docstring). Each face is kept
        once: rows held twice (``drop_repeated``) until a repair removes them take no place of
        another face (twice ``k`` are asked for, four times more while a row is short and the
        collections hold more)."""
        level = self._level(seen)
        k = check_k(k)
        queries = check_vectors(queries, self.dim)
        sims, ids = padded(len(queries), k)
        if not len(queries) or collections == []:
            return sims, ids
        where = self._where(collections)
        for start in range(0, len(queries), 256):
            batch, limit = queries[start : start + 256], min(2 * k, MAX_TOPK)
            while True:
                part = self._search_once(batch, k, limit, where, level)
                sims[start : start + 256], ids[start : start + 256] = part
                short = (part[1] == PAD_ID).any()
                if not short or limit == MAX_TOPK or limit >= self.count_where(where, level):
                    break
                limit = min(4 * limit, MAX_TOPK)
        return sort_hits(sims, ids)

    def _search_once(
        self, batch: Vectors, k: int, limit: int, where: str, level: str
    ) -> tuple[Vectors, Ids]:
        """The first ``k`` distinct faces of Milvus's top ``limit`` for each query, padded."""
        sims, ids = padded(len(batch), k)
        with self._rebuilding():
            hits = self.client.search(
                self.name,
                data=batch.tolist(),
                limit=limit,
                filter=where,
                output_fields=["id"],
                search_params={"metric_type": "IP", "params": self.index.search_params(limit)},
                consistency_level=level,
            )
        for row, found in enumerate(hits):
            taken: set[int] = set()
            for hit in found:  # best first
                if len(taken) < k and int(hit["id"]) not in taken:
                    col = len(taken)
                    ids[row, col], sims[row, col] = int(hit["id"]), float(hit["distance"])
                    taken.add(int(hit["id"]))
        return sims, ids

    # -- writes ----------------------------------------------------------------------------
    def put(self, collection: int, ids: Ids, vectors: Vectors) -> None:
        """Upsert: writing an id again replaces its row (idempotent; never a duplicate). Milvus
        2.3 routes upserted rows past their partition key (seen on 2.3.5): there, an insert,
        which two writers racing on the same new id can duplicate (callers add only the ids
        not held; a repair finds the rest by their count, ``drop_repeated``)."""
        write = self.client.insert if self.version.startswith("v2.3") else self.client.upsert
        self._changed = time.monotonic()
        for start in range(0, len(ids), BATCH):
            rows = [
                {"id": int(i), "collection": int(collection), "vector": v.tolist()}
                for i, v in zip(
                    ids[start : start + BATCH], vectors[start : start + BATCH], strict=True
                )
            ]
            write(self.name, rows)

    def erase(self, ids: Ids, collections: list[int] | None = None) -> VectorErasure:
        """Delete, flush, compact and prove gone (see the module docstring)."""
        rows = list(self._rows(check_ids(ids), ["id", "vector", "collection"], collections))
        if not rows:
            return VectorErasure(0, False, "none: nothing held", True, "")
        gone = np.asarray([int(r["id"]) for r in rows], dtype=np.int64)
        own = np.asarray([r["vector"] for r in rows], dtype=np.float32)
        self._changed = time.monotonic()  # the proof below reads at Strong
        for start in range(0, len(gone), BATCH):
            self.client.delete(self.name, filter=f"id in {gone[start : start + BATCH].tolist()}")
        self.client.flush(self.name)
        job = 0 if self.lite else int(self.client.compact(self.name))
        self._prove_absent(gone, own)
        if job:
            compaction = f"requested {job}"
            later = (
                "the server rewrites the segments (compaction), then drops the old segment "
                f"files by garbage collection after dataCoord.gc.dropTolerance "
                f"({GC_DROP_TOLERANCE_S // 3600} h by default)"
            )
        else:
            compaction = "automatic: Milvus Lite compacts by itself (no manual compaction)"
            later = "Milvus Lite drops the tombstoned rows from its files at its next compaction"
        record = VectorErasure(len(gone), True, compaction, True, later)
        pending = self._meta_get(f"{self.name}:pending") or []
        held_in = sorted({int(r["collection"]) for r in rows})
        pending.append({"faces": len(gone), "at": time.time(), "job": job, "collections": held_in})
        self._meta_put(f"{self.name}:pending", pending)
        self.last_erasure = record
        return record

    def _prove_absent(self, gone: Ids, own: Vectors) -> None:
        still = self.held(gone)
        _, found = self.search(own, min(16, MAX_TOPK), None)
        if len(still) or np.isin(found, gone).any():
            raise VectorIndexError(f"Milvus still returns erased faces: {still[:5].tolist()}")

    def pending_physical_deletions(self) -> list[PendingDeletion]:
        """Erasures gone from search whose physical removal the server may not have finished;
        server entries past compaction plus the GC tolerance are forgotten here."""
        entries = self._meta_get(f"{self.name}:pending") or []
        out: list[PendingDeletion] = []
        keep: list[dict[str, Any]] = []
        for entry in entries:
            job = int(entry["job"])
            if job:
                state = str(self.client.get_compaction_state(job))
                done_by = float(entry["at"]) + GC_DROP_TOLERANCE_S + 3600  # + one GC interval
                if state == "Completed" and time.time() > done_by:
                    continue
                note = "compaction, then garbage collection of the old segment files"
            else:
                state = "automatic"
                note = "tombstoned; removed from the files at Milvus Lite's next compaction"
            keep.append(entry)
            held_in = tuple(int(c) for c in entry.get("collections", ()))
            out.append(
                PendingDeletion(int(entry["faces"]), float(entry["at"]), job, state, note, held_in)
            )
        if len(keep) != len(entries):
            self._meta_put(f"{self.name}:pending", keep)
        return out

    def close(self) -> None:
        self.client.close()
