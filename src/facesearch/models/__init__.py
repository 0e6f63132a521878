"""Model registry, inference runtimes, and the detector and embedder built from them."""

from __future__ import annotations

from pathlib import Path

from facesearch.models.detector import DetectorConfig, FaceDetector
from facesearch.models.dlib_resnet import convert, converted_path
from facesearch.models.embedder import EmbedderConfig, FaceEmbedder
from facesearch.models.gpu import detect_batch_size, embed_batch_size
from facesearch.models.int8 import PrecisionChoice
from facesearch.models.prepare import prepare_model, prepared_path
from facesearch.models.registry import ModelRegistry, ModelSpec, locate
from facesearch.models.runtime import choose_runtime, open_session, precision_for
from facesearch.settings import Settings
from facesearch.settings.groups import ModelSettings

__all__ = [
    "FaceDetector",
    "FaceEmbedder",
    "ModelRegistry",
    "ModelSpec",
    "load_detector",
    "load_embedder",
    "model_file",
    "running_precisions",
]


def _prepared(spec: ModelSpec, settings: Settings, spatial: bool) -> str:
    source = locate(spec)
    target = prepared_path(settings.cache_dir, spec.name, spec.sha256)
    return str(prepare_model(source, target, dynamic_batch=True, dynamic_spatial=spatial))


def load_detector(settings: Settings, registry: ModelRegistry | None = None) -> FaceDetector:
    spec = (registry or ModelRegistry(settings)).get(settings.models.detector, "detector")
    session = open_session(Path(_prepared(spec, settings, spatial=True)), settings, "detector")
    config = DetectorConfig(
        max_side=settings.models.detect_max_side,
        score_threshold=settings.models.det_score_threshold,
        nms_threshold=settings.models.nms_threshold,
        min_face_size=settings.models.min_face_size,
        channel_order=spec.channel_order,
        mean=spec.mean,
        std=spec.std,
        batch_size=detect_batch_size(choose_runtime(settings)),
    )
    return FaceDetector(session, config)


def _runnable(spec: ModelSpec, settings: Settings) -> Path:
    """The ONNX file to run for ``spec``: a dlib network is converted once into the cache
    (named by its digest and the converter's version); an ONNX file is prepared."""
    if spec.family == "dlib":
        source = locate(spec)
        return convert(source, converted_path(settings.cache_dir, spec.name, spec.sha256))
    return Path(_prepared(spec, settings, spatial=False))


def model_file(spec: ModelSpec, settings: Settings) -> Path:
    """The float32 file a session for ``spec`` runs (its int8 build sits beside it)."""
    if spec.task == "detector":
        return Path(_prepared(spec, settings, spatial=True))
    return _runnable(spec, settings)


def running_precisions(
    settings: Settings, registry: ModelRegistry | None = None
) -> dict[str, PrecisionChoice]:
    """The precision the configured detector, embedder and second embedder run at, by model
    name (no file is read or prepared: the choice depends on the CPU, the settings and which
    int8 builds are in the cache)."""
    registry = registry or ModelRegistry(settings)
    out = {}
    m = settings.models
    models = [(m.detector, "detector"), (m.embedder, "embedder")]
    if m.second_embedder != "none":
        models.append((m.second_embedder, "embedder"))
    for name, task in models:
        spec = registry.get(name, task)
        if spec.family == "dlib":
            planned = converted_path(settings.cache_dir, spec.name, spec.sha256)
        else:
            planned = prepared_path(settings.cache_dir, spec.name, spec.sha256)
        out[name] = precision_for(planned, settings, task)[0]
    return out


def load_embedder(
    settings: Settings, registry: ModelRegistry | None = None, name: str | None = None
) -> tuple[FaceEmbedder, ModelSpec]:
    """The embedder ``name`` (default ``settings.models.embedder``) and its spec. Its
    ``embed`` takes aligned RGB crops of ``spec.input_size`` (``core.align.align_for``)."""
    registry = registry or ModelRegistry(settings)
    spec = registry.get(name or settings.models.embedder, "embedder")
    session = open_session(_runnable(spec, settings), settings)
    config = EmbedderConfig(
        input_size=spec.input_size,
        embedding_dim=int(spec.embedding_dim or 0),
        channel_order=spec.channel_order,
        mean=spec.mean,
        std=spec.std,
        batch_size=embed_batch_size(
            settings.models.batch_size, ModelSettings().batch_size, choose_runtime(settings)
        ),
        # dlib's ResNet always: on LFW it lifts its TAR at FAR 1e-3 from 95.6 to 97.9 %
        flip_average=settings.models.flip_average or spec.family == "dlib",
    )
    return FaceEmbedder(session, config), spec
