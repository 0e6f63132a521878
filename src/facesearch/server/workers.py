"""Where the server's work runs: never on the event loop, in lanes of threads.

Four lanes, each a thread pool:

- **analysis** (one thread per core): decode, detect and embed a photo with the engine's
  models, shared (their sessions take concurrent calls; each OpenVINO call gets its own
  request). Detection runs here whole; a search runs its probe analysis here, in parallel
  with others, and only the index search, the catalog lookups and the audit entry on the
  engine thread.
- **engine** (one thread): the serving ``Engine`` (its catalog connection, its vector
  indexes) and what needs it: a search's index search and audit entry, a verification (its
  two photos are analysed there, under an analysis slot), an erasure. One thread means the
  engine and its SQLite connection are only ever used by one thread.
- **catalog** (a few threads): read-only catalog lookups and face crops, each thread with its
  own ``Catalog`` connection (SQLite in WAL mode lets them read while another writes).
- **ingest** (one thread): ingest jobs, with their own ``Engine`` and their own models, so a
  long ingest does not stop searches. Ingest and erasure exclude each other
  (``gallery_write``): an erasure during an ingest is refused with 409, since the ingest's
  in-memory index would otherwise save the erased faces back to disk.

**The interpreter lock.** The lanes are threads of one Python process: each SQLite call, each
model run, each socket read gives the interpreter lock away and must win it back, and a thread
that wants it back waits until the holder is made to let go, after the switch interval (5 ms
by default). A search's checks, index search and audit entry make some fifty SQLite calls on
the engine thread while the event loop runs Python: measured alone, the engine's part of a
search took 5 ms; beside one busy Python thread, 41 ms. The server sets the interval to
``SWITCH_INTERVAL_S`` (0.5 ms): beside the busy thread, 26 ms. The probe analyses, the
Python-heaviest work, run in processes of their own (``analysis_processes.py``).

The serving engine is opened once. Its vector index follows the catalog by itself
(``IndexSet.sync`` before every search): faces that an ingest job here, the CLI or an
erasure anywhere committed are caught up from the catalog without reloading the index files.

Awaiting a lane is cancellable: a request that times out drops the work it queued.

**Admission** (``AnalysisSlots``): a probe analysis (search, detect, verify) takes a slot
before it is queued and gives it back when its thread is done with it (not when a timed-out
request stops waiting). At most ``server_max_analyses`` (0 = ``QUEUED_PER_CORE`` per core)
are running or queued at once; past that the server answers 503 ``busy``, and past
``server_max_analyses_per_user`` for one user 429 ``rate_limited``, both with Retry-After.
With images decoded at reduced size (``decode.py``) and the pipeline's pixel budget (at most
``max_pixels`` full-size pixels decoded at once, 4 bytes each) this bounds the memory of
analyses (per analysis process: each decodes one photo at a time); the queued ones hold only
their upload (``server_max_upload_bytes``), which the request held in memory already while it
was read, before it asked for a slot: the slots bound the queue's length, not its memory. A
queue of 32 per core keeps 50 clients searching at once from being turned away while the server
could answer them within a second (measured on 2 cores, 50 clients: 793 of 2,620 requests
refused in 30 s with 4 slots, 466 of 2,738 with 32, none with 64).
Pillow is set to allocate big images in blocks of ``PILLOW_BLOCK_BYTES``, which glibc takes
straight from mmap and gives back on free: with its default 16 MiB blocks, freed pixels stay in
the arena of the thread that decoded them, and each analysis thread keeps its own full-size
image's worth (measured: 4 threads decoding 8,944 x 8,944 PNGs in turn peaked at 677 MiB, 409
MiB with 64 MiB blocks, as one thread does).
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

from PIL import Image as PILImage

from facesearch.app import handles
from facesearch.app.handles import Gallery, Pipeline, PipelineFactory
from facesearch.engine import Engine
from facesearch.server.analysis_processes import AnalysisProcesses, processes_for
from facesearch.server.errors import OverloadedError, RateLimitedError
from facesearch.settings import Settings
from facesearch.types import ImageFaces

log = logging.getLogger(__name__)

T = TypeVar("T")
CATALOG_THREADS = 3
SWITCH_INTERVAL_S = 0.0005
HEAVY_PIXELS = 4_000_000  # photos analysed in the heavy process, beside the others' queue
HEAVY_NICE = 10  # how much lower the heavy process's CPU priority is
QUEUED_PER_CORE = 32  # analyses running or queued per core (``server_max_analyses`` 0)
PILLOW_BLOCK_BYTES = 64 << 20


class AnalysisSlots:
    """How many probe analyses run or wait at once, in all and per user."""

    def __init__(self, total: int, per_user: int, threads: int) -> None:
        self.total = total
        self.per_user = per_user
        self.threads = max(1, threads)
        self._lock = threading.Lock()
        self._held: dict[str, int] = {}
        self._in_flight = 0
        self._seconds = 1.0  # running mean of how long an analysis holds its slot

    def take(self, user: str) -> float:
        """Take a slot for ``user`` (raises 429/503 when none is free); returns the time taken,
        to hand back to ``give``."""
        with self._lock:
            if self.per_user > 0 and self._held.get(user, 0) >= self.per_user:
                raise RateLimitedError(
                    f"you have {self._held[user]} photo analyses running; "
                    f"at most {self.per_user} at once",
                    retry_after=self._retry(self._held[user]),
                )
            if self.total > 0 and self._in_flight >= self.total:
                raise OverloadedError(
                    "the server is analysing as many photos as it can; try again shortly",
                    retry_after=self._retry(self._in_flight),
                )
            self._held[user] = self._held.get(user, 0) + 1
            self._in_flight += 1
        return time.monotonic()

    def give(self, user: str, taken: float) -> None:
        with self._lock:
            left = self._held.get(user, 0) - 1
            if left > 0:
                self._held[user] = left
            else:
                self._held.pop(user, None)
            self._in_flight = max(0, self._in_flight - 1)
            self._seconds = 0.8 * self._seconds + 0.2 * (time.monotonic() - taken)

    def in_flight(self, user: str | None = None) -> int:
        with self._lock:
            return self._in_flight if user is None else self._held.get(user, 0)

    def _retry(self, ahead: int) -> int:
        return max(1, math.ceil(self._seconds * max(1, ahead) / self.threads))


class Workers:
    def __init__(self, settings: Settings, pipelines: PipelineFactory = Pipeline) -> None:
        """``pipelines`` makes each lane's pipeline (tests give a fake one)."""
        self.settings = settings
        self._pipelines = pipelines
        PILImage.core.set_block_size(PILLOW_BLOCK_BYTES)  # type: ignore[attr-defined]
        sys.setswitchinterval(SWITCH_INTERVAL_S)  # the process's: see the module's docstring
        self._engine_pool = ThreadPoolExecutor(1, thread_name_prefix="fs-engine")
        cores = max(1, os.cpu_count() or 1)
        self._analysis_pool = ThreadPoolExecutor(cores, thread_name_prefix="fs-analysis")
        self.slots = AnalysisSlots(
            settings.server.max_analyses or QUEUED_PER_CORE * cores,
            settings.server.max_analyses_per_user,
            cores,
        )
        self._pipeline_lock = threading.Lock()
        self._catalog_pool = ThreadPoolExecutor(CATALOG_THREADS, thread_name_prefix="fs-catalog")
        self._ingest_pool = ThreadPoolExecutor(1, thread_name_prefix="fs-ingest")
        self.gallery_write = threading.Lock()
        self._local = threading.local()
        self._catalogs: list[Gallery] = []
        self._catalogs_lock = threading.Lock()
        # touched on the engine thread only
        self._engine: Engine | None = None
        self._pipeline: Pipeline | None = None
        # touched on the ingest thread only
        self._ingest_pipeline: Pipeline | None = None
        self.model_id, self.calibration = handles.model_of(settings, pipelines)
        # searches' probe analyses in processes of their own (``analysis_processes.py``);
        # only with the real models: a pipeline factory given by a test stays in-process
        # (small photos, big photos at a lower priority), or none
        count = processes_for(settings) if pipelines is handles.DEFAULT_PIPELINES else 0
        self._pools: tuple[AnalysisProcesses, ...] = (
            (
                AnalysisProcesses(settings, count, PILLOW_BLOCK_BYTES),
                AnalysisProcesses(settings, 1, PILLOW_BLOCK_BYTES, nice=HEAVY_NICE),
            )
            if count
            else ()
        )

    # --- lanes ---------------------------------------------------------------------------

    async def on_engine(self, fn: Callable[[Engine], T], *, analysis_by: str | None = None) -> T:
        """Run ``fn(engine)`` on the engine thread; ``analysis_by``: ``fn`` analyses photos
        for that user, so it takes an analysis slot (429/503 when none is free)."""
        if analysis_by is None:
            return await _wait(self._engine_pool.submit(self._with_engine, fn))
        return await self._admitted(
            analysis_by, lambda: self._engine_pool.submit(self._with_engine, fn)
        )

    async def on_analysis(self, fn: Callable[[Pipeline], T], *, user: str = "") -> T:
        """Run ``fn(pipeline)`` on an analysis thread, with the shared, loaded models, once
        ``user`` has an analysis slot (429/503 when none is free)."""
        return await self._admitted(
            user, lambda: self._analysis_pool.submit(lambda: fn(self._shared_pipeline()))
        )

    async def analyse(
        self, data: bytes, name: str, *, user: str = "", pixels: int = 0
    ) -> ImageFaces:
        """Detect and embed the faces of an uploaded image in an analysis process (on an
        analysis thread where there are none). A big image (``pixels``, width x height, over
        ``HEAVY_PIXELS``: an 8,944 x 8,944 PNG takes about 0.6 s to analyse, and would hold up
        every small photo queued behind it) goes to the heavy process, which runs at a lower
        CPU priority."""
        if not self._pools:
            return await self.on_analysis(lambda p: handles.analyse(p, data, name), user=user)
        small, heavy = self._pools
        pool = heavy if pixels > HEAVY_PIXELS else small
        try:
            return await self._admitted(user, lambda: pool.submit(data, name))
        except BrokenProcessPool as exc:
            raise OverloadedError(
                "a photo analysis process stopped; try again shortly", retry_after=1
            ) from exc

    async def _admitted(self, user: str, submit: Callable[[], Future[T]]) -> T:
        taken = self.slots.take(user)
        try:
            future = submit()
        except BaseException:
            self.slots.give(user, taken)
            raise
        # given back when the thread is done with it, not when a timed-out request stops
        # waiting: the memory is held until then
        future.add_done_callback(lambda _: self.slots.give(user, taken))
        return await _wait(future)

    def _shared_pipeline(self) -> Pipeline:
        with self._pipeline_lock:
            if self._pipeline is None:
                self._pipeline = self._pipelines(self.settings)
            handles.load_models(self._pipeline)
            return self._pipeline

    async def on_catalog(self, fn: Callable[[Gallery], T]) -> T:
        """Run ``fn(catalog)`` on a catalog thread (read-only use)."""
        return await _wait(self._catalog_pool.submit(self._with_catalog, fn))

    async def faces_held(self) -> int:
        """How many faces the catalog holds (a count for the metrics, nothing personal)."""
        stats = await self.on_catalog(lambda catalog: catalog.stats())
        return int(stats.get("faces", 0))

    def submit_ingest(self, fn: Callable[[Engine], T]) -> Future[T]:
        """Queue ``fn(engine)`` on the ingest thread, holding ``gallery_write`` while it runs."""
        return self._ingest_pool.submit(self._with_ingest_engine, fn)

    def warm_up(self) -> Future[None]:
        """Load the models and the index in the background, so the first search is quick
        (and start the analysis processes)."""

        def load(engine: Engine) -> None:
            handles.load(engine)
            for pool in self._pools:
                pool.warm_up()

        return self._engine_pool.submit(self._with_engine, load)

    # --- inside the lanes ------------------------------------------------------------------

    def _with_engine(self, fn: Callable[[Engine], T]) -> T:
        return fn(self._current_engine())

    def _current_engine(self) -> Engine:
        """The engine thread's engine, opened once. Its vector index follows the catalog by
        itself (IndexSet.sync before every search): faces that the server's ingest, a CLI
        ingest or an erasure anywhere committed are caught up without reloading the files."""
        pipeline = self._shared_pipeline()
        engine = self._engine
        if engine is None:
            engine = handles.open_engine(self.settings, pipeline)
            handles.load(engine)
            self._engine = engine
        return engine

    def _with_catalog(self, fn: Callable[[Gallery], T]) -> T:
        catalog: Gallery | None = getattr(self._local, "gallery", None)
        if catalog is None:
            catalog = handles.open_gallery(self.settings)
            self._local.gallery = catalog
            with self._catalogs_lock:
                self._catalogs.append(catalog)
        return fn(catalog)

    def _with_ingest_engine(self, fn: Callable[[Engine], T]) -> T:
        if self._ingest_pipeline is None:
            self._ingest_pipeline = self._pipelines(self.settings)
        with self.gallery_write:
            engine = handles.open_engine(self.settings, self._ingest_pipeline)
            try:
                return fn(engine)
            finally:
                _drop(engine)

    # --- shutdown ------------------------------------------------------------------------

    def close(self) -> None:
        self._ingest_pool.shutdown(wait=True, cancel_futures=True)

        def stop_engine() -> None:
            if self._engine is not None:
                _drop(self._engine)
            if self._pipeline is not None:
                self._pipeline.close()

        self._analysis_pool.shutdown(wait=True, cancel_futures=True)
        for pool in self._pools:
            pool.close()
        self._engine_pool.submit(stop_engine).result()
        self._engine_pool.shutdown(wait=True, cancel_futures=True)
        self._catalog_pool.shutdown(wait=True, cancel_futures=True)
        with self._catalogs_lock:
            for catalog in self._catalogs:
                catalog.close()
            self._catalogs.clear()
        if self._ingest_pipeline is not None:
            self._ingest_pipeline.close()


def _drop(engine: Engine) -> None:
    """Close an engine's catalog but not the models it shares with the next one."""
    try:
        handles.close_gallery(engine)
    except Exception:  # closing a connection that is already gone
        log.debug("closing a catalog failed", exc_info=True)


async def _wait(future: Future[T]) -> T:
    return await asyncio.wrap_future(future)
