"""The faces of image files, without the gallery: what ``detect`` and ``embed`` print.

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
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from facesearch.accountability import Actor, Permission
from facesearch.app.checks import allow
from facesearch.app.local import PipelineFactory
from facesearch.errors import FaceSearchError, ImageError
from facesearch.pipeline import Decodable, FacePipeline, read_file
from facesearch.settings import Settings
from facesearch.types import ImageFaces

__all__ = ["FileFailure", "analyse_files", "open_pipeline"]


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
