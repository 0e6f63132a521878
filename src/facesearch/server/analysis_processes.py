"""Probe analyses in child processes: the server's Python work and the analyses' run side by
side instead of taking turns under one interpreter lock.

A search's probe analysis (decode, detect, align, embed) is mostly Python and numpy around
the model calls. On the server's analysis threads it competed for the interpreter lock with the
event loop, the engine thread and every other thread, and each of them waited for it many times
per request. Here each analysis process holds its own models (loaded once, from the compiled
model cache) and analyses one photo at a time; the server sends it the upload's bytes and gets
the faces back (``ImageFaces``: a few kilobytes). ``server_analysis_processes`` says how many
(``auto``: one fewer than the cores where there are at least two, since the server process
takes about one core itself; none on a GPU runtime, whose one context the analysis threads
share; 0: the analysis threads, in-process). On 2 cores, side by side, one process gave 67.8
and 72.1 searches/s (p99 0.93 s), two gave 63.3 and 65.8 (p99 1.09 and 1.12 s).

The processes are started with ``spawn`` (never ``fork``: the server has threads and model
runtimes that a fork would copy mid-use) when the server starts. A process that dies (killed,
out of memory) breaks the pool: the analyses it held fail with 503 ``busy`` and a new pool is
started for the next. An error raised in a process (no face, a corrupt image ...) arrives whole
(``FaceSearchError.__reduce__``). Each process decodes one image at a time, within the
pipeline's pixel budget, so the memory bound of ``workers.py`` holds per process.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from facesearch.settings import Settings
from facesearch.types import ImageFaces

__all__ = ["AnalysisProcesses", "processes_for"]

log = logging.getLogger(__name__)

# the pipeline of this analysis process (set by ``_start`` in the child)
_PIPELINE = None


def processes_for(settings: Settings, cores: int | None = None) -> int:
    """How many analysis processes ``settings`` asks for on a machine with ``cores`` cores
    (0: analyse on threads in the server process)."""
    wanted = settings.server.analysis_processes.strip().lower()
    cores = cores or os.cpu_count() or 1
    if wanted == "auto":  # a GPU runtime: one process and one GPU context (threads feed it)
        gpu = settings.models.runtime in ("cuda", "tensorrt")
        return cores - 1 if cores >= 2 and not gpu else 0
    return int(wanted)


def _start(settings: Settings, block_bytes: int, nice: int) -> None:
    """In a new analysis process: lower its priority by ``nice``, load the models (one
    inference thread each: the processes are the parallelism)."""
    global _PIPELINE
    from PIL import Image as PILImage

    from facesearch.app import handles

    if nice:
        os.nice(nice)
    PILImage.core.set_block_size(block_bytes)  # type: ignore[attr-defined]
    one_thread = settings.replace(threads=1) if not settings.models.threads else settings
    pipeline = handles.DEFAULT_PIPELINES(one_thread)
    pipeline.load_models()
    _PIPELINE = pipeline


def _analyse(data: bytes, name: str) -> ImageFaces:
    from facesearch.app import handles

    if _PIPELINE is None:  # pragma: no cover - the initializer always ran first
        raise RuntimeError("analysis process without models")
    return handles.analyse(_PIPELINE, data, name)


def _ready() -> int:
    return os.getpid()


class AnalysisProcesses:
    """A pool of ``count`` analysis processes, started again when one dies. The server keeps
    two: the photos of up to ``workers.HEAVY_PIXELS`` in one (one fewer processes than cores),
    bigger ones in another, one process at a lower CPU priority (``HEAVY_NICE``), so that a
    big photo neither waits in front of the small ones nor takes the cores they need."""

    def __init__(self, settings: Settings, count: int, block_bytes: int, nice: int = 0) -> None:
        """``nice``: how much lower than the server's the processes' CPU priority is."""
        if count < 1:
            raise ValueError("at least one analysis process")
        self.count = count
        self.nice = nice
        self._settings = settings
        self._block_bytes = block_bytes
        self._lock = threading.Lock()
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            self.count,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start,
            initargs=(self._settings, self._block_bytes, self.nice),
        )

    def submit(self, data: bytes, name: str) -> Future[ImageFaces]:
        """Analyse ``data`` in a process; a pool broken by a dead process is replaced first."""
        with self._lock:
            try:
                return self._pool.submit(_analyse, data, name)
            except BrokenProcessPool:
                log.warning("an analysis process died: starting the analysis processes again")
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = self._new_pool()
                return self._pool.submit(_analyse, data, name)

    def warm_up(self) -> list[int]:
        """Start every process and load its models now (they start together); their pids."""
        with self._lock:
            futures = [self._pool.submit(_ready) for _ in range(self.count)]
        for future in futures:
            future.result()
        return self.pids()

    def pids(self) -> list[int]:
        with self._lock:
            return sorted(int(p) for p in (self._pool._processes or {}))

    def close(self) -> None:
        with self._lock:
            self._pool.shutdown(wait=True, cancel_futures=True)
