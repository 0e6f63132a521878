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
   ``usage.audited_ingest`` (one audit entry each), reporting progress as it goes.

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

import contextlib
import fcntl
import logging
import os
import re
import secrets
import shutil
import threading
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from facesearch.accountability import AccountabilityStore, Actor
from facesearch.app.usage import audited_ingest
from facesearch.engine import Engine
from facesearch.errors import FaceSearchError
from facesearch.gallery.catalog import Catalog
from facesearch.gallery.ingest import IngestSummary
from facesearch.gallery.sources import is_image_name, iter_sources
from facesearch.gallery.uploads import JOB_ID, UPLOADS, job_parts
from facesearch.models.registry import sha256_file

log = logging.getLogger(__name__)

MAX_LISTED_FAILURES = 50
MAX_LISTED_SKIPPED = 200
MAX_JOBS_KEPT = 200
LOCK = ".job.lock"
_JOB_GLOB = "[0-9a-f]" * 16  # a job's folder name, as a GLOB pattern
_UNSAFE = re.compile(r"[^\w.\- ]+")


def safe_name(name: str, fallback: str = "file") -> str:
    """A file or folder name that is only ever a name: no separators, no leading dot."""
    base = PurePosixPath(name.replace("\\", "/")).name
    cleaned = _UNSAFE.sub("_", base).strip(" .")[:80]
    return cleaned or fallback


@dataclass
class IngestJob:
    id: str
    actor: str
    collection: str
    label_from_dir: bool
    subject: str | None
    files: int
    bytes: int
    folder: Path
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    status: str = "queued"  # queued, unpacking, ingesting, cleaning up, completed, failed
    images_total: int = 0
    images_done: int = 0  # images of finished runs, for progress across runs
    images_seen: int = 0
    images_added: int = 0
    duplicates: int = 0
    faces_added: int = 0
    faces_blocked: int = 0
    failures: list[dict[str, str]] = field(default_factory=list)
    failed: int = 0
    audit_seqs: list[int] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    skipped_count: int = 0
    files_removed: int = 0  # leftovers deleted when the job ended
    error: str | None = None
    finished: str | None = None
    lock_fd: int | None = field(default=None, repr=False)

    def skip(self, path: str, reason: str) -> None:
        """An archive member not ingested on purpose."""
        self.skipped_count += 1
        if len(self.skipped) < MAX_LISTED_SKIPPED:
            self.skipped.append({"path": path, "reason": reason})

    def view(self) -> dict[str, Any]:
        total = self.images_total
        progress = (
            1.0
            if self.status == "completed"
            else (min(1.0, self.images_seen / total) if total else 0.0)
        )
        return {
            "id": self.id,
            "status": self.status,
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
            "images_added": self.images_added,
            "duplicates": self.duplicates,
            "faces_added": self.faces_added,
            "faces_blocked": self.faces_blocked,
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

    def __init__(self, home: Path, max_file_bytes: int) -> None:
        self.home = home
        self.root = home / UPLOADS
        self.max_file_bytes = max_file_bytes
        self._jobs: dict[str, IngestJob] = {}
        self._lock = threading.Lock()
        self.remove_leftovers()

    def remove_leftovers(self) -> int:
        """Clean the folder of every job that died unfinished (it still has its lock file)
        and that no process runs any more; files removed."""
        if not self.root.is_dir():
            return 0
        folders = [
            folder
            for folder in sorted(self.root.iterdir())
            if JOB_ID.fullmatch(folder.name)
            and folder.is_dir()
            and not folder.is_symlink()
            and (folder / LOCK).is_file()
            and not (folder / LOCK).is_symlink()
        ]
        locked: list[tuple[Path, int]] = []
        removed = 0
        try:
            for folder in folders:
                fd = _try_lock(folder, create=False)
                if fd is not None:  # else a live job of another server on this home
                    locked.append((folder, fd))
            if not locked:
                return 0
            # read the catalog only now that no other process can be adding to these jobs
            with Catalog.open_home(self.home) as catalog:
                kept = _kept_files(catalog, _JOB_GLOB, {f.name for f, _ in locked})
            for folder, _ in locked:
                removed += _sweep(folder, kept.get(folder.name, {}), self.max_file_bytes)
        finally:
            for folder, fd in locked:
                _release(folder, fd)
        if removed:
            log.info("removed %d file(s) left behind by ingest jobs that did not finish", removed)
        return removed

    def new(
        self, actor: str, collection: str, label_from_dir: bool, subject: str | None
    ) -> IngestJob:
        job_id = secrets.token_hex(8)
        folder = self.root / job_id
        folder.mkdir(parents=True)
        fd = _try_lock(folder)
        (folder / "incoming").mkdir()
        job = IngestJob(job_id, actor, collection, label_from_dir, subject, 0, 0, folder)
        job.lock_fd = fd
        with self._lock:
            self._jobs[job_id] = job
            if len(self._jobs) > MAX_JOBS_KEPT:
                done = [j for j in self._jobs.values() if j.finished]
                for old in done[: len(self._jobs) - MAX_JOBS_KEPT]:
                    del self._jobs[old.id]
        return job

    def get(self, job_id: str) -> IngestJob | None:
        with self._lock:
            return self._jobs.get(job_id)

    def all(self) -> list[IngestJob]:
        with self._lock:
            return sorted(self._jobs.values(), key=lambda j: j.created, reverse=True)

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
        store: AccountabilityStore,
        actor: Actor,
        on_summary: Any = None,
    ) -> None:
        outcome: tuple[str, str | None] = ("failed", "interrupted")
        try:
            job.status = "unpacking"
            labelled, plain = self._unpack(job)
            job.status = "ingesting"
            runs = [(labelled, True), (plain, False)]
            for folder, from_dir in runs:
                if not folder.is_dir() or not any(folder.iterdir()):
                    continue
                done_before = job.images_seen

                def progress(summary: IngestSummary, base: int = done_before) -> None:
                    job.images_seen = base + summary.images_seen

                summary, entry = audited_ingest(
                    engine,
                    store,
                    actor,
                    [folder],
                    collection=job.collection,
                    label_from_dir=from_dir,
                    progress=progress,
                    extra={"upload_job": job.id},
                )
                job.images_seen = done_before + summary.images_seen
                job.images_added += summary.images_added
                job.duplicates += summary.duplicates
                job.faces_added += summary.faces_added
                job.faces_blocked += summary.faces_blocked
                job.failed += len(summary.failed)
                room = MAX_LISTED_FAILURES - len(job.failures)
                job.failures += [_shorter(f, job.folder) for f in summary.failed[: max(room, 0)]]
                job.audit_seqs.append(entry.seq)
                if on_summary is not None:
                    on_summary(summary)
            outcome = ("completed", None)
        except FaceSearchError as exc:
            outcome = ("failed", str(exc))
        except Exception:
            log.exception("ingest job %s failed", job.id)
            outcome = ("failed", "internal error; it was logged")
        finally:
            # the job is done only once its leftovers are gone (a client polling for
            # "completed" must find the folder clean)
            job.status = "cleaning up"
            self._clean(job, engine.catalog)
            job.status, job.error = outcome
            job.finished = datetime.now(UTC).isoformat(timespec="seconds")

    def _clean(self, job: IngestJob, catalog: Catalog) -> None:
        """Delete every file of the job that is not the source of an image in the catalog."""
        try:
            name = job.folder.name
            kept = _kept_files(catalog, name, {name}).get(name, {})
            job.files_removed = _sweep(job.folder, kept, self.max_file_bytes)
        except Exception:  # cleaning must not hide the job's own outcome
            log.exception("cleaning up after ingest job %s failed", job.id)
        finally:
            if job.lock_fd is not None:
                _release(job.folder, job.lock_fd)
                job.lock_fd = None

    def _unpack(self, job: IngestJob) -> tuple[Path, Path]:
        incoming = job.folder / "incoming"
        labelled, plain = job.folder / "labelled", job.folder / "plain"
        count = 0
        for upload in sorted(incoming.iterdir()):
            if is_image_name(upload.name):
                count += 1
                name = f"{count:06d}-{safe_name(upload.name[7:])}"
                if job.subject:
                    target = labelled / safe_name(job.subject, "unnamed") / name
                else:
                    target = plain / name
                target.parent.mkdir(parents=True, exist_ok=True)
                upload.replace(target)
                continue

            def skipped(source_id: str, reason: str) -> None:
                job.skip(source_id.rpartition("!")[2], reason)

            for source in iter_sources([upload], self.max_file_bytes, on_skip=skipped):
                # a member ("ARCHIVE!name"), or the archive itself when it cannot be read
                member = source.id.rpartition("!")[2] if "!" in source.id else upload.name[7:]
                try:
                    data = source.read()
                except FaceSearchError as exc:
                    job.failed += 1
                    if len(job.failures) < MAX_LISTED_FAILURES:
                        reason = source.problem or str(exc).removeprefix(f"{source.id}: ")
                        job.failures.append({"path": member, "reason": reason})
                    continue
                count += 1
                name = f"{count:06d}-{safe_name(member)}"
                if job.label_from_dir and source.label:
                    target = labelled / safe_name(source.label, "unnamed") / name
                else:
                    target = plain / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
                job.images_total = count
            upload.unlink()
        job.images_total = count
        shutil.rmtree(incoming, ignore_errors=True)
        return labelled, plain


def _try_lock(folder: Path, *, create: bool = True) -> int | None:
    """Lock a job folder (its lock file): the descriptor, or None if a live process holds it
    (or, with ``create=False``, if the folder has no lock file)."""
    flags = os.O_RDWR | os.O_NOFOLLOW | (os.O_CREAT if create else 0)
    try:
        fd = os.open(folder / LOCK, flags, 0o600)
    except OSError:
        if create:
            raise
        return None  # gone, or not a plain file: not a job's lock
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if not create and os.fstat(fd).st_ino != os.stat(folder / LOCK).st_ino:
            raise BlockingIOError  # its job ended and removed it while we were locking it
    except OSError:
        os.close(fd)
        return None
    return fd


def _release(folder: Path, fd: int) -> None:
    """Unlock a job folder: remove its lock file, and the folder if nothing else is left."""
    with contextlib.suppress(OSError):
        (folder / LOCK).unlink()
        folder.rmdir()  # only ever succeeds on an empty folder
    os.close(fd)


def _kept_files(
    catalog: Catalog, folder_glob: str, names: Collection[str]
) -> dict[str, dict[str, str]]:
    """``{job: {path below the job's folder: sha256}}`` of the catalog's images whose source
    lies in the folder of one of the jobs ``names`` (``folder_glob`` matches them all).

    The source's path above the job's folder is ignored: it is the home's path when the image
    was ingested, which moving or restoring the home changes.
    """
    kept: dict[str, dict[str, str]] = {}
    for source, sha256 in catalog.sources_under(folder_glob).items():
        for job, rest in job_parts(source, names.__contains__):  # the innermost job folder
            kept.setdefault(job, {})[rest] = sha256
            break
    return kept


def _sweep(folder: Path, kept: Mapping[str, str], max_bytes: int) -> int:
    """Delete every file below a job's folder that is not in ``kept`` (``{path below the
    folder: sha256}``, from ``_kept_files``) by its path or by its sha256, then the empty
    folders; the number of files deleted."""
    digests = set(kept.values())
    removed = 0
    for path in sorted(folder.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.name == LOCK and path.parent == folder:
            continue
        if path.is_dir() and not path.is_symlink():
            with contextlib.suppress(OSError):
                path.rmdir()  # only ever succeeds on an empty folder
            continue
        if path.relative_to(folder).as_posix() in kept:
            continue
        if digests and _sha256(path, max_bytes) in digests:
            continue
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            removed += 1
    return removed


def _sha256(path: Path, max_bytes: int) -> str | None:
    """The sha256 of a regular file of at most ``max_bytes`` (no image is bigger); else None."""
    try:
        if path.is_symlink() or not path.is_file() or path.stat().st_size > max_bytes:
            return None
        return sha256_file(path)
    except OSError:
        return None


def _shorter(failure: dict[str, str], folder: Path) -> dict[str, str]:
    path = failure.get("path", "")
    prefix = str(folder.resolve()) + "/"
    return {
        "path": path[len(prefix) :] if path.startswith(prefix) else path,
        "reason": failure.get("reason", ""),
    }
