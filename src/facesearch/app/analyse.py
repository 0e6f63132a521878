"""The faces of image files, without the gallery: what ``detect`` and ``embed`` print; and the
models they are found with (``model_status``, ``runtimes``: what ``models`` prints).

Checked (``Permission.SEARCH``, as ``search.detect``) but not logged: nothing is read from or
written to the gallery, and nothing is kept. Files are read as the pipeline pulls them, a chunk
ahead, so memory stays bounded however many are named; results come in input order, one per
file, a file that cannot be read or decoded included.

    with open_pipeline(settings) as pipeline:
        for result in analyse_files(pipeline, local_actor(), paths, embed=True):
            ...
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from facesearch.accountability import Actor, Permission
from facesearch.accountability.permissions import allow
from facesearch.app.local import PipelineFactory
from facesearch.errors import FaceSearchError, ImageError
from facesearch.models.gpu import ProviderStatus, provider_status
from facesearch.models.registry import ModelRegistry, locate
from facesearch.models.runtime import available_runtimes, choose_runtime, onnxruntime_providers
from facesearch.pipeline import Decodable, FacePipeline, read_file
from facesearch.settings import Settings
from facesearch.types import ImageFaces

__all__ = [
    "FileFailure",
    "ModelStatus",
    "Runtimes",
    "analyse_files",
    "model_status",
    "open_pipeline",
    "providers",
    "runtimes",
]


@dataclass(frozen=True)
class FileFailure:
    """A file that could not be analysed (unreadable, not an image, too large ...)."""

    path: str | None
    error: FaceSearchError


@contextmanager
def open_pipeline(
    settings: Settings, *, pipelines: PipelineFactory | None = None
) -> Iterator[FacePipeline]:
    """A face pipeline with the settings' models (``pipelines``: its factory; default the
    real ``FacePipeline``), closed at the end. Models load when first used."""
    with (pipelines or FacePipeline)(settings) as pipeline:
        yield pipeline


def analyse_files(
    pipeline: FacePipeline,
    actor: Actor,
    paths: Sequence[str | Path],
    *,
    embed: bool = False,
    main_only: bool = False,
) -> Iterator[ImageFaces | FileFailure]:
    """The faces of each file (embedded with ``embed``; only the main face with
    ``main_only``), in input order."""
    allow(actor, Permission.SEARCH)
    max_bytes = pipeline.settings.limits.max_file_bytes
    read_errors: deque[ImageError | None] = deque()

    def feed() -> Iterable[Decodable]:
        for path in paths:
            try:
                item = read_file(Path(path), max_bytes)
            except ImageError as exc:
                read_errors.append(exc)
                yield Decodable(str(path), b"")  # placeholder: its result is replaced below
                continue
            read_errors.append(None)
            yield item

    for analysed in pipeline.run(feed(), embed=embed, main_only=main_only):
        result = read_errors.popleft() or analysed
        if isinstance(result, ImageFaces):
            yield result
        else:
            yield FileFailure(getattr(result, "path", None), result)


@dataclass(frozen=True)
class ModelStatus:
    """A registered model: its spec (``ModelSpec.as_dict``), its file, and whether the file
    is there with the registered sha256."""

    spec: Mapping[str, Any]
    path: str | None  # None: not found or its digest differs (``status`` says which)
    status: str

    def as_json(self) -> dict[str, Any]:
        return {**self.spec, **({"path": self.path} if self.path else {}), "status": self.status}


@dataclass(frozen=True)
class Runtimes:
    installed: tuple[str, ...]
    in_use: str


def model_status(settings: Settings) -> tuple[ModelStatus, ...]:
    """Every registered model, each file located and its sha256 checked (no model is
    loaded)."""
    out = []
    for spec in ModelRegistry(settings).specs():
        try:
            path: str | None = str(locate(spec))
            status = "ok (sha256 verified)"
        except FaceSearchError as exc:
            path, status = None, f"unavailable: {exc}"
        out.append(ModelStatus(spec.as_dict(), path, status))
    return tuple(out)


def runtimes(settings: Settings) -> Runtimes:
    """The inference runtimes installed and the one the settings choose."""
    return Runtimes(tuple(available_runtimes()), choose_runtime(settings))


def providers(settings: Settings) -> ProviderStatus:
    """ONNX Runtime's providers for the runtime in use: a GPU runtime's (cuda, tensorrt), or
    why they are not available; for a CPU runtime, which GPU providers are there."""
    in_use = choose_runtime(settings)
    return provider_status(in_use, onnxruntime_providers(), settings.cache_dir)
