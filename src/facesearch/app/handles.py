"""The handles the application layer's operations take, opened and looked after here.

An adapter (the CLI, the server's worker lanes) opens its handles with these functions, holds
them, and hands them back to ``app`` operations; it never calls them itself. The names below are
the types it annotates them with: ``Store`` (the accountability store: accounts, the audit
trail, decisions, kept probes), ``Gallery`` (a catalog connection, one per thread) and
``Pipeline`` (the face models); ``Engine`` is the engine.
"""

from __future__ import annotations

from facesearch.accountability import AccountabilityStore
from facesearch.app.abandoned_runs import log_abandoned
from facesearch.app.local import PipelineFactory
from facesearch.core.calibration import CalibrationTable
from facesearch.engine import Engine
from facesearch.errors import ConfigError
from facesearch.gallery.catalog import Catalog
from facesearch.pipeline import Decodable, FacePipeline
from facesearch.settings import Settings
from facesearch.types import ImageFaces

__all__ = [
    "DEFAULT_PIPELINES",
    "Gallery",
    "Pipeline",
    "PipelineFactory",
    "Store",
    "analyse",
    "check_calibration",
    "close_gallery",
    "load",
    "load_models",
    "log_abandoned_runs",
    "model_of",
    "open_engine",
    "open_gallery",
    "purge_expired_probes",
]

Store = AccountabilityStore
Gallery = Catalog
Pipeline = FacePipeline
DEFAULT_PIPELINES: PipelineFactory = FacePipeline


def model_of(settings: Settings, pipelines: PipelineFactory) -> tuple[str, CalibrationTable]:
    """The embedder's model id and calibration table (no weights are loaded)."""
    probe = Engine(settings, open_catalog=False, pipeline=pipelines(settings))
    try:
        return probe.pipeline.model_id, probe.calibration
    finally:
        probe.close()


def check_calibration(settings: Settings, pipelines: PipelineFactory) -> str | None:
    """Read the calibration tables a server prices its answers with, before it starts
    (no weights are loaded): ConfigError when the first model's cannot be read
    (``FACESEARCH_CALIBRATION_FILE`` missing, not a table, of another model), since no
    search could be answered; the reason, returned, when verify will refuse (a second model
    is on and the file has no fused table), since searches still can."""
    probe = Engine(settings, open_catalog=False, pipeline=pipelines(settings))
    try:
        probe.calibration  # noqa: B018 -- read now: ConfigError
        try:
            probe.scoring  # noqa: B018
        except ConfigError as exc:
            return str(exc)
        return None
    finally:
        probe.close()


def open_engine(settings: Settings, pipeline: FacePipeline) -> Engine:
    return Engine(settings, pipeline=pipeline)


def load_models(pipeline: FacePipeline) -> None:
    """Load the models now (before sharing the pipeline between threads), the second
    embedder too where one is configured (verify fuses both)."""
    pipeline.load_models(second=True)


def load(engine: Engine) -> None:
    """Load the models and the vector indexes now, so the first search is quick."""
    engine.pipeline.load_models(second=True)
    engine.indexes.ensure_loaded()


def close_gallery(engine: Engine) -> None:
    """Close an engine's catalog but not the models it shares with the next one."""
    engine.catalog.close()


def open_gallery(settings: Settings) -> Catalog:
    """A catalog connection (one per thread: connections are not shared)."""
    return Catalog.open_home(settings.home, settings.database_url)


def analyse(pipeline: FacePipeline, data: bytes, name: str) -> ImageFaces:
    """Detect and embed the faces of an uploaded photo (not logged: the search that uses
    them is)."""
    return pipeline.analyse_one(Decodable(name, data))


def purge_expired_probes(store: AccountabilityStore) -> int:
    """Delete the kept probe photos whose retention period is over; how many."""
    return store.probes.purge_expired()


def log_abandoned_runs(settings: Settings, store: AccountabilityStore) -> int:
    """Log the end of the ingest runs whose process died before it could (``abandoned_runs``),
    on a catalog connection of the caller's thread; how many."""
    with open_gallery(settings) as catalog:
        return len(log_abandoned(catalog, store))
