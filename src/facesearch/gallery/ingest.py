"""Bulk ingest: sources -> pipeline -> catalog (batched transactions) -> indexes.

Crash safety: every batch of images and their faces is one catalog transaction, and an image
is identified by its content sha256 within its collection. A run killed at any moment leaves
whole batches committed and nothing half-written, and its run's record counts them (the
counts grow in each batch's transaction); running the same command again skips what is
committed (counted as duplicates) and does the rest. The vector index is derived: its
manifest records the catalog state it reflects, and the next open catches it up (see
``indexes``). Failures (unreadable files, non-images, images without a face) are recorded
with their reason in the run's record and never stop the run.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypedDict

import numpy as np
import numpy.typing as npt

from facesearch.core.text import shown_name
from facesearch.errors import BlocklistChangedError, FaceSearchError, InputError, NoFaceError
from facesearch.gallery.catalog import (
    EVERY_FACE_BLOCKED,
    AddedImage,
    BlocklistSeen,
    Catalog,
    NewFace,
    NewImage,
    check_name,
)
from facesearch.gallery.collections import IndexSet
from facesearch.gallery.sources import Source, iter_sources
from facesearch.pipeline import Decodable, FacePipeline, Result
from facesearch.types import ImageFaces

log = logging.getLogger(__name__)

COMMIT_EVERY = 128  # images per catalog transaction
SAVE_INDEX_EVERY_S = 600.0
MAX_SKIPPED_LISTED = 1000  # skipped archive members listed in a summary
BLOCKLISTED = "blocklisted"  # the code of an image whose every face is on the blocklist


@dataclass(frozen=True)
class FailedSource:
    """A source that was not ingested, why, and the error code of that reason (``bad_image``,
    ``corrupt_image``, ``image_too_large``, ``no_face``, ``blocklisted``, ...)."""

    source: str  # the source's id: a file path or ARCHIVE!member
    code: str
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"path": self.source, "code": self.code, "reason": self.reason}


@dataclass
class IngestSummary:
    """The counts of one ingest run so far (``progress`` sees it grow) and its failures."""

    run_id: int
    images_seen: int = 0
    images_added: int = 0
    duplicates: int = 0
    faces_added: int = 0
    faces_blocked: int = 0
    # archive members skipped on purpose (links, devices, nested archives, not images), with
    # their reason; the first MAX_SKIPPED_LISTED are listed, skipped_count counts them all
    skipped: list[dict[str, str]] = field(default_factory=list)
    skipped_count: int = 0
    seconds: float = 0.0
    _failed: list[FailedSource] = field(default_factory=list, init=False, repr=False)

    @property
    def failed(self) -> tuple[FailedSource, ...]:
        """The sources that failed, in the order they failed."""
        return tuple(self._failed)

    @property
    def blocklisted(self) -> tuple[FailedSource, ...]:
        """Of ``failed``, the sources skipped on purpose: every face matches an entry of the
        erasure blocklist (an opt-out), not broken."""
        return tuple(f for f in self._failed if f.code == BLOCKLISTED)

    @property
    def broken(self) -> tuple[FailedSource, ...]:
        """Of ``failed``, the sources that could not be ingested (not ``blocklisted``)."""
        return tuple(f for f in self._failed if f.code != BLOCKLISTED)

    def fail(self, failure: FailedSource) -> None:
        self._failed.append(failure)

    def skip(self, source: str, reason: str) -> None:
        self.skipped_count += 1
        if len(self.skipped) < MAX_SKIPPED_LISTED:
            self.skipped.append({"path": source, "reason": reason})

    def as_dict(self) -> dict[str, Any]:
        return {
            "images_seen": self.images_seen,
            "images_added": self.images_added,
            "duplicates": self.duplicates,
            "faces_added": self.faces_added,
            "faces_blocked": self.faces_blocked,
            "failed": [f.as_dict() for f in self._failed],
            "skipped": self.skipped,
            "skipped_count": self.skipped_count,
            "run_id": self.run_id,
            "seconds": round(self.seconds, 2),
        }


@dataclass(frozen=True)
class _Pending:
    source: Source
    sha256: str
    size: int


ProgressFn = Callable[[IngestSummary], None]
# What analyses the admitted images: one result per image, in order (FacePipeline.run; a pool
# of Ray actors: ray_ingest.RayAnalyser)
Analyse = Callable[[Iterable[Decodable]], Iterator[Result]]


class IngestOptions(TypedDict, total=False):
    """What an ingest takes besides its paths (``Ingestor.run``, ``Engine.ingest``)."""

    collection: str  # the collection the faces join; "default" if not given
    label_from_dir: bool  # name each image's subject after its folder; False if not given
    progress: ProgressFn | None  # called with the summary as it grows
    analyse: Analyse | None  # who analyses the images; the engine's pipeline if not given
    # called with the run's id once its catalog row exists, before anything else; what it
    # raises ends the run (failed) and is raised
    on_start: Callable[[int], None] | None
    # the organisation owning the collection: its own erasure-blocklist entries apply besides
    # the deployment-wide ones, never another organisation's; None: the deployment-wide only
    org: str | None


class _Copies:
    """The photos of one run by sha256, and the later copies of each still being analysed: a
    copy counts as a duplicate once its photo is added, and as a failure, for the same
    reason, if it fails (copies of a damaged file were counted as duplicates, listed
    nowhere)."""

    def __init__(self) -> None:
        self._waiting: dict[str, list[str]] = {}  # sha256 -> later copies, photo not decided
        self._failed: dict[str, FailedSource] = {}  # sha256 -> why its photo failed

    def seen(self, sha: str, source: str) -> bool:
        """Whether ``sha`` came before in this run (``source`` then noted as its copy)."""
        if sha in self._waiting:
            self._waiting[sha].append(source)
            return True
        if sha in self._failed:
            return True
        self._waiting[sha] = []
        return False

    def done(self, sha: str) -> None:
        """Its photo is added: the copies stay duplicates."""
        if sha in self._waiting:
            self._waiting[sha] = []

    def failed(self, sha: str, source: str, failure: FailedSource) -> FailedSource:
        """Its photo (``source``) failed: why its copies fail (``copies_of``, later ones)."""
        why = FailedSource(
            "", failure.code, f"the same bytes as {source}, which failed: {failure.reason}"
        )
        self._failed[sha] = why
        return why

    def copies_of(self, sha: str) -> list[str]:
        """The copies that waited on a failed photo (each returned once)."""
        return self._waiting.pop(sha, [])

    def failure(self, sha: str) -> FailedSource | None:
        return self._failed.get(sha)


@dataclass(frozen=True)
class _Blocklist:
    """The erasure-blocklist entries an ingest screens new faces against, the similarity at
    or above which a face matches one, and what they were read as (for ``add_images``)."""

    entries: npt.NDArray[np.float32]  # (n, dim)
    threshold: float
    seen: BlocklistSeen

    def unblocked(self, faces: list[NewFace], summary: IngestSummary) -> list[NewFace]:
        """``faces`` less those matching an entry, counted in ``summary.faces_blocked``."""
        if not len(self.entries):
            return faces
        kept = [f for f in faces if float((self.entries @ f.embedding).max()) < self.threshold]
        summary.faces_blocked += len(faces) - len(kept)
        return kept


class Ingestor:
    def __init__(
        self,
        catalog: Catalog,
        indexes: IndexSet,
        pipeline: FacePipeline,
        *,
        blocklist_threshold: Callable[[int], float],
    ) -> None:
        """``blocklist_threshold(K)``: the similarity at or above which a new face matches
        one of K blocklist entries (``gallery.blocklist``: stricter as K grows, so that the
        whole blocklist skips a bounded share of other people's new faces)."""
        self.catalog = catalog
        self.indexes = indexes
        self.pipeline = pipeline
        self.blocklist_threshold = blocklist_threshold

    def run(
        self,
        paths: Sequence[str | Path],
        *,
        collection: str = "default",
        label_from_dir: bool = False,
        progress: ProgressFn | None = None,
        analyse: Analyse | None = None,
        on_start: Callable[[int], None] | None = None,
        org: str | None = None,
    ) -> IngestSummary:
        started = time.monotonic()
        check_name(collection, "collection")
        run_id = self.catalog.start_run(
            {
                "paths": [shown_name(str(p)) for p in paths],  # a path may not be UTF-8
                "collection": collection,
                "label_from_dir": label_from_dir,
                "model_id": self.pipeline.model_id,
            }
        )
        summary = IngestSummary(run_id=run_id)
        pending: deque[_Pending] = deque()
        in_run = _Copies()
        batch: list[tuple[NewImage, _Pending]] = []
        status = "failed"
        try:
            if on_start is not None:
                on_start(run_id)
            self.catalog.ensure_collection(collection)
            self.indexes.ensure_loaded()
            blocklist = self._blocklist(org)
            last_save = time.monotonic()
            feed = self._feed(paths, collection, summary, pending, in_run, run_id)
            for result in (analyse or self.pipeline.run)(feed):
                item = pending.popleft()
                new = self._to_record(result, item, label_from_dir, blocklist, summary, run_id)
                if new is not None:
                    batch.append((new, item))
                    in_run.done(item.sha256)
                else:  # the copies of a photo that failed fail alike: they were no duplicates
                    why = in_run.failed(item.sha256, item.source.id, summary.failed[-1])
                    for copy in in_run.copies_of(item.sha256):
                        summary.duplicates -= 1
                        self._fail(summary, run_id, copy, why.code, why.reason)
                if len(batch) >= COMMIT_EVERY:
                    blocklist = self._commit(collection, batch, summary, run_id, blocklist)
                    batch = []
                    if time.monotonic() - last_save > SAVE_INDEX_EVERY_S:
                        self.indexes.save()
                        last_save = time.monotonic()
                if progress is not None:
                    progress(summary)
            self._commit(collection, batch, summary, run_id, blocklist)
            self.indexes.save()
            status = "completed"
        except KeyboardInterrupt:
            status = "interrupted"
            raise
        finally:
            summary.seconds = time.monotonic() - started
            self.catalog.finish_run(run_id, summary.as_dict(), status)  # type: ignore[arg-type]
        return summary

    def _feed(
        self,
        paths: Sequence[str | Path],
        collection: str,
        summary: IngestSummary,
        pending: deque[_Pending],
        in_run: _Copies,
        run_id: int,
    ) -> Iterator[Decodable]:
        limit = self.pipeline.settings.limits.max_file_bytes
        for source in iter_sources(paths, limit, on_skip=summary.skip):
            summary.images_seen += 1
            try:
                data = source.read()
            except FaceSearchError as exc:
                self._fail(summary, run_id, source.id, exc.code, str(exc))
                continue
            sha = hashlib.sha256(data).hexdigest()
            earlier = in_run.failure(sha)
            if earlier is not None:  # the same bytes as a photo of this run that failed
                self._fail(summary, run_id, source.id, earlier.code, earlier.reason)
                continue
            if in_run.seen(sha, source.id) or self.catalog.has_image(sha, collection):
                summary.duplicates += 1
                continue
            pending.append(_Pending(source, sha, len(data)))
            yield Decodable(source.id, data)

    def _fail(
        self, summary: IngestSummary, run_id: int, source: str, code: str, reason: str
    ) -> None:
        prefix = f"{source}: "
        reason = reason[len(prefix) :] if reason.startswith(prefix) else reason
        summary.fail(FailedSource(source, code, reason))
        self.catalog.record_failure(run_id, source, reason)

    def _to_record(
        self,
        result: ImageFaces | FaceSearchError,
        item: _Pending,
        label_from_dir: bool,
        blocklist: _Blocklist,
        summary: IngestSummary,
        run_id: int,
    ) -> NewImage | None:
        if not isinstance(result, ImageFaces):
            self._fail(summary, run_id, item.source.id, result.code, str(result))
            return None
        if not result.faces:
            self._fail(summary, run_id, item.source.id, NoFaceError.code, "no face found")
            return None
        model_id = self.pipeline.model_id
        found = []
        for face in result.faces:
            assert face.embedding is not None
            found.append(
                NewFace(
                    face_index=face.index,
                    bbox=face.bbox,
                    landmarks=face.detection.landmarks,
                    det_score=face.detection.score,
                    quality=face.quality.as_dict(),
                    model_id=model_id,
                    embedding=face.embedding,
                )
            )
        faces = blocklist.unblocked(found, summary)
        if not faces:
            self._fail(summary, run_id, item.source.id, BLOCKLISTED, EVERY_FACE_BLOCKED)
            return None
        subject = item.source.label if label_from_dir else None
        if subject is not None:
            try:  # a folder name that cannot be a subject fails its photos, not the run
                check_name(subject, "subject")
            except InputError as exc:
                reason = f"its folder's name cannot be a subject name: {exc}"
                self._fail(summary, run_id, item.source.id, exc.code, reason)
                return None
        return NewImage(
            sha256=item.sha256,
            source=item.source.id,
            size_bytes=item.size,
            width=result.width,
            height=result.height,
            subject=subject,
            faces=tuple(faces),
            # the folder names the person the photo is of (its main face), not a bystander;
            # none when that face is on the blocklist
            label_faces=None
            if subject is None
            else tuple(f.face_index for f in faces if f.face_index == result.main),
        )

    def _blocklist(self, org: str | None) -> _Blocklist:
        """The erasure-blocklist entries that apply to an ingest of ``org``, as they are now,
        with the threshold for that many."""
        entries, seen = self.catalog.blocklist_screen(self.pipeline.model_id, org)
        # K: the people on it (two erasures of one photo each keep their own entry)
        people = len(np.unique(entries, axis=0)) if len(entries) else 0
        return _Blocklist(entries, self.blocklist_threshold(people), seen)

    def _commit(
        self,
        collection: str,
        batch: list[tuple[NewImage, _Pending]],
        summary: IngestSummary,
        run_id: int,
        blocklist: _Blocklist,
    ) -> _Blocklist:
        """Write ``batch``; the blocklist it was screened against, read again and the batch
        screened again, whenever an erasure changed it meanwhile (``Catalog.add_images``
        checks in its write transaction, so that no face of an erased person escapes both
        the erasure and this screen)."""
        if not batch:
            return blocklist
        while True:
            try:
                added = self.catalog.add_images(
                    collection, [new for new, _ in batch], run_id=run_id, screened=blocklist.seen
                )
                break
            except BlocklistChangedError:
                blocklist = self._blocklist(blocklist.seen.org)
                batch = self._screen_again(batch, blocklist, summary, run_id)
        self._write_vectors(collection, batch, added, summary)
        return blocklist

    def _screen_again(
        self,
        batch: list[tuple[NewImage, _Pending]],
        blocklist: _Blocklist,
        summary: IngestSummary,
        run_id: int,
    ) -> list[tuple[NewImage, _Pending]]:
        """``batch`` screened against ``blocklist``: faces matching it dropped, an image left
        without a face failed as blocklisted."""
        kept = []
        for new, item in batch:
            faces = blocklist.unblocked(list(new.faces), summary)
            if not faces:
                self._fail(summary, run_id, item.source.id, BLOCKLISTED, EVERY_FACE_BLOCKED)
                continue
            indexes = {f.face_index for f in faces}
            labels = (
                None
                if new.label_faces is None
                else tuple(i for i in new.label_faces if i in indexes)
            )
            kept.append((replace(new, faces=tuple(faces), label_faces=labels), item))
        return kept

    def _write_vectors(
        self,
        collection: str,
        batch: list[tuple[NewImage, _Pending]],
        added: Sequence[AddedImage],
        summary: IngestSummary,
    ) -> None:
        ids: list[int] = []
        vectors: list[npt.NDArray[np.float32]] = []
        for result, (new, _) in zip(added, batch, strict=True):
            if result.duplicate:
                summary.duplicates += 1
                continue
            summary.images_added += 1
            summary.faces_added += len(result.face_ids)
            ids.extend(result.face_ids)
            vectors.extend(f.embedding for f in new.faces)
        if ids:
            self.indexes.add(collection, np.asarray(ids, np.int64), np.stack(vectors))
