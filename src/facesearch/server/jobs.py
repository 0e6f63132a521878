"""Ingest by upload: files land under ``HOME/uploads/<job>/``, a background job ingests them.

An upload (images and/or zip and tar archives) is saved as it arrives to
``HOME/uploads/<job>/incoming/``; each file's type is read from its bytes (415 otherwise).
The job, on the ingest lane, then

1. unpacks archives with the same guarded reader as the CLI (``sources.iter_sources``: no
   member name ever becomes a path, size limits, no links): each image becomes its own file,
   ``labelled/<folder>/NNNNNN-name`` when labels come from folder names, else
   ``plain/NNNNNN-name``. The archives are then deleted, so erasing an image can delete its
   file;
2. ingests ``labelled/`` with labels from folder names and ``plain/`` without, each through
   ``app.uploads.ingest_job`` (one audit entry each), reporting progress as it goes. A job
   of which nothing at all came (every file failed or was blocklisted, no image found: what
   the CLI exits 2 for) ends ``failed``, its ``error`` saying why (``app.ingest.nothing_ingested``).

Archive members skipped on purpose (links, devices, pipes, archives inside the archive, files
that are not images) are listed in the job with their reason (``skipped``).

The files of the images added stay as the gallery's source images (crops and the source image
are read from them); an erasure deletes the file of an image left without faces. **Everything
else goes** when the job ends, whether it completed or failed: files that failed, duplicates,
unpacked junk, archives never unpacked, empty folders. While a job lives it holds a lock on
``HOME/uploads/<job>/.job.lock``, a file it removes when it ends; when the server starts, the
folders that still have that file and whose lock no process holds (a server that was stopped
or killed mid-job, jobs queued but never run) are cleaned the same way. Folders without it
(finished jobs, anything a person put there) are never touched.

A file is kept when it is the source of an image of the catalog, matched by **where it lies
below the job's folder** (the catalog's source ends in ``/<job>/<that path>``) or by **its
sha256** (that of an image whose source lies in a folder of that job): never by its absolute
path, so a home moved or restored to another path keeps its uploads (the catalog still names
the old path; ``sources.read_source`` finds the file at the new one). Jobs are kept in memory:
their ids mean nothing after a restart (the audit trail and the catalog's ingest runs keep the
record).
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from facesearch.accountability import Actor
from facesearch.app.handles import Store
from facesearch.app.ingest import IngestRecord, nothing_ingested
from facesearch.app.limits import JobBoard
from facesearch.app.uploads import (
    FROM_UPLOADS,
    finish_job,
    ingest_job,
    lock_job,
    log_job_without_run,
    log_nothing_unpacked,
    release_job,
    remove_leftover_jobs,
)
from facesearch.engine import Engine
from facesearch.errors import FaceSearchError
from facesearch.gallery.ingest import FailedSource, IngestSummary
from facesearch.gallery.sources import is_image_name, iter_sources
from facesearch.gallery.uploads import UPLOADS
from facesearch.server.upload_names import label_folder, original_name, safe_name

log = logging.getLogger(__name__)

MAX_LISTED_FAILURES = 50
MAX_LISTED_SKIPPED = 200
MAX_JOBS_KEPT = 200
PUBLISH_EVERY_S = 1.0


class JobStatus(StrEnum):
    QUEUED = "queued"
    UNPACKING = "unpacking"
    INGESTING = "ingesting"
    CLEANING_UP = "cleaning up"
    COMPLETED = "completed"
    FAILED = "failed"


COUNTS = ("images_added", "duplicates", "faces_added", "faces_blocked")


@dataclass
class IngestJob:
    """An upload being ingested. Its counts are those of its finished ingest runs
    (``runs``); ``images_seen`` follows the run in progress too."""

    id: str
    actor: str
    collection: str
    label_from_dir: bool
    subject: str | None
    folder: Path
    files: int = 0
    bytes: int = 0
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    status: JobStatus = JobStatus.QUEUED
    images_total: int = 0
    runs: list[IngestSummary] = field(default_factory=list)
    images_seen: int = 0
    failures: list[dict[str, str]] = field(default_factory=list)  # unpacking and ingest
    unpack_failed: int = 0
    audit_seqs: list[int] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    skipped_count: int = 0
    files_removed: int = 0  # leftovers deleted when the job ended
    error: str | None = None
    finished: str | None = None
    lock_fd: int | None = field(default=None, repr=False)
    org: str | None = None  # its actor's organisation: whose MAX_JOBS_KEPT it counts in

    def skip(self, path: str, reason: str) -> None:
        """An archive member not ingested on purpose."""
        self.skipped_count += 1
        if len(self.skipped) < MAX_LISTED_SKIPPED:
            self.skipped.append({"path": path, "reason": reason})

    def fail(self, path: str, reason: str) -> None:
        """A file that could not be unpacked."""
        self.unpack_failed += 1
        if len(self.failures) < MAX_LISTED_FAILURES:
            self.failures.append({"path": path, "reason": reason})

    def total(self, name: str) -> int:
        return sum(getattr(s, name) for s in self.runs)

    @property
    def failed(self) -> int:
        return self.unpack_failed + sum(len(s.failed) for s in self.runs)

    def view(self) -> dict[str, Any]:
        total = self.images_total
        done = self.status is JobStatus.COMPLETED
        progress = 1.0 if done else (min(1.0, self.images_seen / total) if total else 0.0)
        return {
            "id": self.id,
            "status": self.status.value,
            "actor": self.actor,
            "collection": self.collection,
            "label_from_dir": self.label_from_dir,
            "subject": self.subject,
            "files": self.files,
            "bytes": self.bytes,
            "created": self.created,
            "finished": self.finished,
            "progress": round(progress, 4),
            "images_total": total,
            "images_seen": self.images_seen,
            **{name: self.total(name) for name in COUNTS},
            "failed": self.failed,
            "failures": list(self.failures),
            "skipped": list(self.skipped),
            "skipped_count": self.skipped_count,
            "files_removed": self.files_removed,
            "audit_seqs": list(self.audit_seqs),
            "error": self.error,
        }


class Jobs:
    """The ingest jobs of this server process. Made at server start: cleans up after the
    jobs of servers that are gone (``remove_leftovers``)."""

    def __init__(
        self,
        home: Path,
        max_file_bytes: int,
        database_url: str = "",
        board: JobBoard | None = None,
    ) -> None:
        self.home = home
        self.database_url = database_url
        self.board = board  # replicas: where every replica's jobs are seen (app.limits)
        self._published = 0.0
        self.root = home / UPLOADS
        self.max_file_bytes = max_file_bytes
        self._jobs: dict[str, IngestJob] = {}
        self._lock = threading.Lock()
        self.remove_leftovers()

    def remove_leftovers(self) -> int:
        """Clean the folders of jobs that died unfinished (``app.uploads``); files removed."""
        return remove_leftover_jobs(self.home, self.max_file_bytes, self.database_url)

    def new(
        self,
        actor: str,
        collection: str,
        label_from_dir: bool,
        subject: str | None,
        *,
        org: str | None = None,
    ) -> IngestJob:
        """A new job of ``actor`` (of organisation ``org``). Each organisation keeps its
        MAX_JOBS_KEPT newest jobs: another's never push its finished ones out of its list
        (which would tell it how many jobs others started)."""
        job_id = secrets.token_hex(8)
        folder = self.root / job_id
        folder.mkdir(parents=True)
        fd = lock_job(folder)
        (folder / "incoming").mkdir()
        job = IngestJob(job_id, actor, collection, label_from_dir, subject, folder, org=org)
        job.lock_fd = fd
        self.publish(job, force=True)
        with self._lock:
            self._jobs[job_id] = job
            same = [j for j in self._jobs.values() if j.org == org]
            if len(same) > MAX_JOBS_KEPT:
                done = [j for j in same if j.finished]
                for old in done[: len(same) - MAX_JOBS_KEPT]:
                    del self._jobs[old.id]
        return job

    def get(self, job_id: str) -> IngestJob | None:
        with self._lock:
            return self._jobs.get(job_id)

    def all(self) -> list[IngestJob]:
        with self._lock:
            return sorted(self._jobs.values(), key=lambda j: j.created, reverse=True)

    def view(self, job_id: str) -> dict[str, Any] | None:
        """A job's view: this server's own, else (replicas) as its replica last published it."""
        job = self.get(job_id)
        if job is not None:
            return job.view()
        return None if self.board is None else self.board.get(job_id)

    def views(self) -> list[dict[str, Any]]:
        """Every job's view, newest first: this server's, and (replicas) the others'."""
        mine = [j.view() for j in self.all()]
        if self.board is None:
            return mine
        seen = {v["id"] for v in mine}
        others = [v for v in self.board.recent(MAX_JOBS_KEPT) if v["id"] not in seen]
        return sorted(mine + others, key=lambda v: str(v["created"]), reverse=True)

    def publish(self, job: IngestJob, *, force: bool = False) -> None:
        """Show ``job`` to the other replicas (at most once a second unless ``force``)."""
        if self.board is None:
            return
        now = time.monotonic()
        if not force and now - self._published < PUBLISH_EVERY_S:
            return
        self._published = now
        try:
            self.board.publish(job.view())
        except Exception:  # the job goes on; the other replicas see it late
            log.exception("publishing ingest job %s failed", job.id)

    def discard(self, job: IngestJob) -> None:
        """Forget a job whose upload failed, and its files."""
        with self._lock:
            self._jobs.pop(job.id, None)
        shutil.rmtree(job.folder, ignore_errors=True)
        if job.lock_fd is not None:
            os.close(job.lock_fd)
            job.lock_fd = None

    # --- the job, on the ingest lane -------------------------------------------------------

    def run(
        self,
        job: IngestJob,
        engine: Engine,
        store: Store,
        actor: Actor,
        on_summary: Any = None,
    ) -> None:
        outcome: tuple[JobStatus, str | None] = (JobStatus.FAILED, "interrupted")

        def progress(before: int, summary: IngestSummary) -> None:
            job.images_seen = before + summary.images_seen
            self.publish(job)

        def done(record: IngestRecord) -> None:
            job.runs.append(record.summary)
            room = MAX_LISTED_FAILURES - len(job.failures)
            failed = record.summary.failed[: max(room, 0)]
            job.failures += [_shorter(f, job.folder) for f in failed]
            job.audit_seqs.append(record.id)
            if on_summary is not None:
                on_summary(record.summary)

        try:
            job.status = JobStatus.UNPACKING
            self.publish(job, force=True)
            labelled, plain = self._unpack(job, engine.settings.server.min_free_bytes)
            job.status = JobStatus.INGESTING
            self.publish(job, force=True)
            runs = [(labelled, True), (plain, False)]
            ingest_job(
                engine,
                store,
                actor,
                job.id,
                job.collection,
                runs,
                progress,
                done,
                unpack_failed=job.unpack_failed,
            )
            if not job.runs:  # no image came out of the files: no run, so its own entry
                entry = log_nothing_unpacked(
                    store,
                    actor,
                    job.id,
                    job.collection,
                    failures=job.failures,
                    unpack_failed=job.unpack_failed,
                    skipped=job.skipped_count,
                    source=FROM_UPLOADS,
                )
                job.audit_seqs.append(entry.seq)
            # failed when nothing at all came of the uploads, as the CLI exits 2 (each run's
            # end entry says nothing_ingested)
            nothing = nothing_ingested(*job.runs, unreadable=job.unpack_failed, source=FROM_UPLOADS)
            outcome = (JobStatus.COMPLETED if nothing is None else JobStatus.FAILED, nothing)
        except FaceSearchError as exc:
            outcome = (JobStatus.FAILED, str(exc))
            self._log_failed(job, store, actor, exc.code, str(exc))
        except Exception as exc:
            log.exception("ingest job %s failed", job.id)
            outcome = (JobStatus.FAILED, "internal error; it was logged")
            self._log_failed(job, store, actor, "error", f"{type(exc).__name__}: {exc}")
        finally:
            # the job is done only once its leftovers are gone (a client polling for
            # "completed" must find the folder clean)
            job.status = JobStatus.CLEANING_UP
            self._clean(job, engine)
            job.status, job.error = outcome
            job.finished = datetime.now(UTC).isoformat(timespec="seconds")
            self.publish(job, force=True)

    def _log_failed(
        self, job: IngestJob, store: Store, actor: Actor, code: str, error: str
    ) -> None:
        """The entry of a job that failed before any run wrote one (unpacking on a full disk,
        the organisation's quota reached, ...): the upload is recorded all the same. A run's
        own failure is its entry's (``app.ingest``). One that cannot be written is logged."""
        if job.audit_seqs:
            return
        try:
            entry = log_job_without_run(
                store,
                actor,
                job.id,
                job.collection,
                outcome=code,
                error=error,
                failures=job.failures,
                unpack_failed=job.unpack_failed,
                skipped=job.skipped_count,
            )
        except Exception:
            log.exception("the failure of ingest job %s could not be logged", job.id)
            return
        job.audit_seqs.append(entry.seq)

    def _clean(self, job: IngestJob, engine: Engine) -> None:
        """Delete every file of the job that is not the source of an image in the catalog."""
        try:
            job.files_removed = finish_job(engine, job.folder)
        except Exception:  # cleaning must not hide the job's own outcome
            log.exception("cleaning up after ingest job %s failed", job.id)
        finally:
            if job.lock_fd is not None:
                release_job(job.folder, job.lock_fd)
                job.lock_fd = None

    def _unpack(self, job: IngestJob, min_free_bytes: int) -> tuple[Path, Path]:
        """Each upload as images under ``labelled/`` and ``plain/``. A member that would leave
        the disk less than ``min_free_bytes`` free is not written (it fails): an archive of
        members that compress 1000 to 1 (2 MB of them made 2 GB here) filled the disk."""
        incoming = job.folder / "incoming"
        labelled, plain = job.folder / "labelled", job.folder / "plain"
        count = 0
        for upload in sorted(incoming.iterdir()):
            if is_image_name(upload.name):
                count += 1
                name = f"{count:06d}-{safe_name(original_name(upload))}"
                if job.subject:
                    target = labelled / label_folder(job.subject) / name
                else:
                    target = plain / name
                target.parent.mkdir(parents=True, exist_ok=True)
                upload.replace(target)
                continue

            def skipped(source_id: str, reason: str) -> None:
                job.skip(source_id.rpartition("!")[2], reason)

            for source in iter_sources([upload], self.max_file_bytes, on_skip=skipped):
                # a member ("ARCHIVE!name"), or the archive itself when it cannot be read
                member = source.id.rpartition("!")[2] if "!" in source.id else original_name(upload)
                try:
                    data = source.read()
                except FaceSearchError as exc:
                    job.fail(member, source.problem or str(exc).removeprefix(f"{source.id}: "))
                    continue
                if shutil.disk_usage(job.folder).free - len(data) < min_free_bytes:
                    job.fail(member, _disk_full(min_free_bytes))
                    continue
                count += 1
                name = f"{count:06d}-{safe_name(member)}"
                if job.label_from_dir and source.label:
                    target = labelled / label_folder(source.label) / name
                else:
                    target = plain / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
                job.images_total = count
            upload.unlink()
        job.images_total = count
        shutil.rmtree(incoming, ignore_errors=True)
        return labelled, plain


def _disk_full(min_free_bytes: int) -> str:
    return (
        f"not unpacked: the disk would have less than {min_free_bytes:,} bytes free "
        "(FACESEARCH_SERVER_MIN_FREE_BYTES)"
    )


def _shorter(failure: FailedSource, folder: Path) -> dict[str, str]:
    """A failure of an ingest run, its path shown below the job's folder, and so the paths
    its reason names ("the same bytes as /srv/home/uploads/<job>/plain/... , which failed"
    showed the server's folders)."""
    path, reason = failure.source, failure.reason
    prefix = str(folder.resolve()) + "/"
    return {
        "path": path[len(prefix) :] if path.startswith(prefix) else path,
        "reason": reason.replace(prefix, ""),
    }
