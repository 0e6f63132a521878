"""Where the server's uploaded photos live: ``HOME/uploads/<job>/...``.

A catalog source names the absolute path an upload had when it was ingested. A home that was
moved or restored elsewhere keeps its uploads under its new path, so every use of such a
source (showing it, erasing it) goes through ``current_upload``, which finds the file under
the home as it is now and never outside its ``uploads/`` folder.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

UPLOADS = "uploads"  # HOME/uploads/: files uploaded to the server for ingest
JOB_ID = re.compile(r"[0-9a-f]{16}")  # an upload job's folder name (server/jobs.py)


def job_parts(source: str, is_job: Callable[[str], object]) -> Iterator[tuple[str, str]]:
    """(job folder, path below it) for each folder of ``source`` that ``is_job``, innermost
    first: the path above the job's folder is the home's when the file was ingested, which
    moving or restoring the home changes."""
    parts = source.split("/")
    for i in range(len(parts) - 2, -1, -1):
        if is_job(parts[i]):
            yield parts[i], "/".join(parts[i + 1 :])


def moved_upload(source: str, home: Path) -> Path | None:
    """Where an uploaded file whose source names another home's ``uploads/<job>/REST`` lies
    under ``home``, if it is there: the innermost folder named like a job wins. None if not
    found, or if the place would not be inside ``home/uploads``."""
    root = (home / UPLOADS).resolve()
    for job, rest in job_parts(source, JOB_ID.fullmatch):
        candidate = (root / job / rest).resolve()
        if candidate.is_relative_to(root) and candidate.is_file():
            return candidate
    return None


def current_upload(source: str, home: Path) -> Path | None:
    """The file under ``home/uploads`` that ``source`` names, at its stored path or, for a
    home moved since, at its place under the current home; None for a source that is not an
    upload of this home (an operator's own file) or is gone."""
    root = (home / UPLOADS).resolve()
    path = Path(source)
    try:
        if path.resolve().is_relative_to(root) and path.is_file():
            return path
    except OSError:
        return None
    return moved_upload(source, home)
