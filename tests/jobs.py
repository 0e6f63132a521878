"""Waiting, in a test, for an ingest job of the server to end."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def job_finished(
    get: Callable[[str], Any], job: dict[str, Any], timeout_s: float = 180, every_s: float = 0.2
) -> dict[str, Any]:
    """``job`` (as ``POST /api/v1/ingest-jobs`` answered) once it has completed or failed,
    read again through ``get(path)`` (a client's GET, its headers bound) every ``every_s``
    seconds; the test fails, showing the job, past ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while job["status"] not in ("completed", "failed"):
        assert time.monotonic() < deadline, job
        time.sleep(every_s)
        job = get(f"/api/v1/ingest-jobs/{job['id']}").json()
    return job
