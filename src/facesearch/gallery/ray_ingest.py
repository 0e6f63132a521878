"""Ingest on a Ray cluster (``facesearch ingest PATH --ray [auto|ADDRESS]``): decode, detect,
align and embed run in a pool of Ray Data actors; everything else is the plain ingest's own
code (``gallery.ingest.Ingestor``), run by the driver.

``RayAnalyser`` stands where ``FacePipeline.run`` stands in ``Ingestor.run``: it takes the
images the ingest admitted and yields one ``ImageFaces`` or ``FaceSearchError`` per image, in
order. So listing, the sha256 skip, failures, the batched catalog transactions, the derived
vector index, progress and the run's record are unchanged, and only the driver writes: the
catalog stays the source of truth, and a driver killed at any moment leaves whole batches
committed, which the same command run again skips (the crash guarantee of the plain ingest).

Where the bytes are read: by the driver's ingest first, which hashes every image (the skip of
what the catalog holds needs the sha256 before any analysis, and only the driver touches the
catalog), then again by the actors themselves: a row of the Ray dataset carries a file's path
and sha256, not its bytes (an archive member, which exists only in the driver's memory,
carries its bytes). No Ray Data read task is needed: read tasks would need CPU slots of their
own (one each by default), which on 2 cores the actors hold, so reading would wait; a read
inside an actor uses the slot the actor already has and costs far less than the analysis.
An actor checks the sha256 of what it read: a file changed after it was hashed fails instead
of being stored under the wrong digest.

The images go to Ray in windows of ``WINDOW`` (one Ray dataset and actor pool each, models
loaded once per actor per window), so the driver's memory stays bounded on any run.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import os
import pickle
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np

from facesearch.errors import ConfigError, FaceSearchError, ImageError, ModelError
from facesearch.gallery.ray_cluster import AUTO, INSTALL, connected, first_line, import_ray
from facesearch.pipeline import Decodable, FacePipeline, Result, read_file
from facesearch.settings import Settings

__all__ = ["AUTO", "RayAnalyser", "RayOptions", "actor_settings", "actor_shape", "batch_failure"]

log = logging.getLogger(__name__)

WINDOW = 10_000  # images per Ray dataset
BATCH = 16  # images per actor call


@dataclass(frozen=True)
class RayOptions:
    """Where the analysis runs: ``address`` "auto" starts a local cluster of ``cpus`` CPUs
    (default: ``settings.models.threads``, else every core); any other address is an existing
    cluster's (``ray.init(address=...)``). ``actors``: the size of the actor pool (default:
    ``actor_shape``)."""

    address: str = AUTO
    actors: int | None = None
    cpus: int | None = None


def actor_shape(cpus: int, actors: int | None) -> tuple[int, int]:
    """(actors, CPUs per actor) for a cluster of ``cpus`` CPUs: by default one actor per two
    CPUs, each with two inference threads (one copy of the models per two cores; on 2 cores
    one actor and two were as fast within the noise: ``benchmarks/ray_ingest.py``); the CPUs
    are shared out evenly, at least one each."""
    if cpus < 1:
        raise ConfigError(f"the Ray cluster has no CPU to run the analysis on ({cpus})")
    if actors is not None and actors < 1:
        raise ConfigError(f"--ray-actors must be at least 1, not {actors}")
    n = actors if actors is not None else max(1, cpus // 2)
    return n, max(1, cpus // n)


def batch_failure(code: str, message: str) -> FaceSearchError:
    """An actor's failure of one image, as the driver sees it: its code and message."""
    error = FaceSearchError(message)
    error.code = code
    return error


@dataclass(frozen=True)
class _Failed:
    """An image's failure on its way back from an actor (exceptions do not all pickle)."""

    code: str
    message: str


class RayAnalyser:
    """``analyse`` for ``Ingestor.run`` (see the module docstring)."""

    def __init__(self, settings: Settings, options: RayOptions) -> None:
        self.settings = settings
        self.options = options

    def __call__(self, items: Iterable[Decodable]) -> Iterator[Result]:
        ray = _import_ray()
        with _connected(ray, self.options, self.settings) as cpus:
            actors, per_actor = actor_shape(cpus, self.options.actors)
            log.info("Ray: %d actor(s) of %d CPU(s) on a cluster of %d", actors, per_actor, cpus)
            worker_settings = actor_settings(self.settings, per_actor)
            iterator = iter(items)
            # a file's bytes are dropped as its row is made: the actors read them again
            while rows := [_row(n, item) for n, item in enumerate(islice(iterator, WINDOW))]:
                yield from _analysed(ray, rows, worker_settings, actors, per_actor)


def actor_settings(settings: Settings, per_actor: int) -> Settings:
    """The settings an actor is made with (they travel to the cluster, stored there): its
    threads, and neither the database's nor the vector store's URL, which an actor, that
    only analyses images, never opens, and whose passwords the cluster need not hold."""
    return settings.replace(threads=per_actor, database_url="", vectors_url="")


def _row(n: int, item: Decodable) -> dict[str, Any]:
    sha = hashlib.sha256(item.data).hexdigest()
    on_disk = os.path.isfile(item.source)
    data = b"" if on_disk else item.data
    return {"n": n, "source": item.source, "sha256": sha, "path": on_disk, "data": data}


def _analysed(
    ray: Any, rows: list[dict[str, Any]], settings: Settings, actors: int, per_actor: int
) -> Iterator[Result]:
    with warnings.catch_warnings():  # Ray 2.60 names no other way to pass max_restarts
        warnings.filterwarnings("ignore", "`ray_remote_args` is deprecated")
        dataset = ray.data.from_items(rows).map_batches(
            _Analyse,
            fn_constructor_args=(settings,),
            batch_size=BATCH,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=actors),
            num_cpus=per_actor,
            max_restarts=0,  # an actor lost ends the run; the same command then resumes it
        )
    expected = 0
    try:
        for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
            for n, blob in zip(batch["n"].tolist(), batch["result"], strict=True):
                if n != expected:  # preserve_order is set by _connected
                    raise RuntimeError(f"Ray returned image {n} where {expected} was due")
                expected += 1
                result = pickle.loads(blob)
                yield (
                    batch_failure(result.code, result.message)
                    if isinstance(result, _Failed)
                    else result
                )
    except ray.exceptions.RayError as exc:
        raise ModelError(
            f"the analysis on Ray failed: {first_line(exc)}. The batches written are kept: "
            "run the same command again to resume"
        ) from exc
    if expected != len(rows):
        raise RuntimeError(f"Ray returned {expected} results for {len(rows)} images")


class _Analyse:
    """One actor of the pool: a ``FacePipeline`` whose models are loaded once, here."""

    def __init__(self, settings: Settings) -> None:
        self.pipeline = FacePipeline(settings)
        self.pipeline.load_models()
        self.max_bytes = settings.limits.max_file_bytes

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        sources = batch["source"].tolist()
        read = [
            self._read(source, sha, on_disk, bytes(data))
            for source, sha, on_disk, data in zip(
                sources, batch["sha256"].tolist(), batch["path"].tolist(), batch["data"],
                strict=True,
            )
        ]  # fmt: skip
        readable = [item for item in read if isinstance(item, Decodable)]
        analysed = iter(self.pipeline.run(readable, chunk=max(1, len(readable))))
        results = [next(analysed) if isinstance(item, Decodable) else item for item in read]
        blobs = np.empty(len(results), dtype=object)
        blobs[:] = [pickle.dumps(_portable(r)) for r in results]
        return {"n": batch["n"], "result": blobs}

    def _read(
        self, source: str, sha: str, on_disk: bool, data: bytes
    ) -> Decodable | FaceSearchError:
        if not on_disk:
            return Decodable(source, data)
        try:
            item = read_file(Path(source), self.max_bytes)
        except FaceSearchError as exc:
            return exc
        if hashlib.sha256(item.data).hexdigest() != sha:
            return ImageError("the file changed while it was being ingested", source)
        return Decodable(source, item.data)


def _portable(result: Result) -> object:
    return _Failed(result.code, str(result)) if isinstance(result, FaceSearchError) else result


def _import_ray() -> Any:
    ray = import_ray()
    try:
        importlib.import_module("ray.data")  # the analysis runs as a Ray dataset
    except ImportError as exc:
        raise ConfigError(f"--ray needs Ray Data, which is not installed: {INSTALL}") from exc
    return ray


@contextmanager
def _connected(ray: Any, options: RayOptions, settings: Settings) -> Iterator[int]:
    """``ray_cluster.connected`` with Ray Data set up for the ingest: results in order, no
    progress bars of its own (the ingest shows its progress line)."""
    with connected(ray, options.address, options.cpus, settings) as cpus:
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True
        context.enable_progress_bars = False
        context.print_on_execution_start = False
        logging.getLogger("ray.data").setLevel(logging.ERROR)
        yield cpus
