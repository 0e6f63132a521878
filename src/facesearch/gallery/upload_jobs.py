"""The files of the server's upload jobs under ``HOME/uploads/<job>/``: the lock a live job
holds, and the cleanup that deletes every file of a job that is not the source of a catalog
image (``server/jobs.py`` explains the rules; ``uploads.py`` where uploads live).

A file is kept when it is the source of an image of the catalog, matched by where it lies below
the job's folder or by its sha256, never by its absolute path (a home moved or restored to
another path keeps its uploads).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections.abc import Collection, Mapping
from pathlib import Path

from facesearch.gallery.catalog import Catalog
from facesearch.gallery.uploads import JOB_ID, UPLOADS, job_parts
from facesearch.models.registry import sha256_file

__all__ = ["LOCK", "clean_job", "lock_job", "release_job", "remove_leftovers"]

log = logging.getLogger(__name__)

LOCK = ".job.lock"
_JOB_GLOB = "[0-9a-f]" * 16  # a job's folder name, as a GLOB pattern


def remove_leftovers(home: Path, max_file_bytes: int, database_url: str = "") -> int:
    """Clean the folder of every job that died unfinished (it still has its lock file) and
    that no process runs any more; files removed. ``database_url``: where the catalog is
    (``Settings.database_url``; empty: in the home)."""
    root = home / UPLOADS
    if not root.is_dir():
        return 0
    folders = [
        folder
        for folder in sorted(root.iterdir())
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
            fd = lock_job(folder, create=False)
            if fd is not None:  # else a live job of another server on this home
                locked.append((folder, fd))
        if not locked:
            return 0
        # read the catalog only now that no other process can be adding to these jobs
        with Catalog.open_home(home, database_url) as catalog:
            kept = _kept_files(catalog, _JOB_GLOB, {f.name for f, _ in locked})
        for folder, _ in locked:
            removed += _sweep(folder, kept.get(folder.name, {}), max_file_bytes)
    finally:
        for folder, fd in locked:
            release_job(folder, fd)
    if removed:
        log.info("removed %d file(s) left behind by ingest jobs that did not finish", removed)
    return removed


def clean_job(catalog: Catalog, folder: Path, max_file_bytes: int) -> int:
    """Delete every file of a job's folder that is not the source of an image in the
    catalog; the number of files deleted."""
    name = folder.name
    kept = _kept_files(catalog, name, {name}).get(name, {})
    return _sweep(folder, kept, max_file_bytes)


def lock_job(folder: Path, *, create: bool = True) -> int | None:
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


def release_job(folder: Path, fd: int) -> None:
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
