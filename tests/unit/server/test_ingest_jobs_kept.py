"""The ingest jobs a server keeps to list (``server.jobs.Jobs``): each organisation's own
newest ones, so that one organisation's jobs never push another's out of its list."""

from __future__ import annotations

from pathlib import Path

import pytest

from facesearch.server import jobs as jobs_module
from facesearch.server.jobs import Jobs


def test_one_organisation_s_jobs_do_not_push_out_another_s(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server kept its MAX_JOBS_KEPT newest jobs of every organisation together: B's
    finished job left B's list (and answered 404) once A had started that many jobs, so B
    could count A's uploads. Each organisation keeps its own newest ones."""
    monkeypatch.setattr(jobs_module, "MAX_JOBS_KEPT", 2)
    kept = Jobs(tmp_path, 1 << 20)
    theirs = kept.new("b-admin", "b-photos", False, None, org="b")
    theirs.finished = "2026-01-01T00:00:00+00:00"
    for _ in range(3):
        job = kept.new("a-admin", "a-photos", False, None, org="a")
        job.finished = "2026-01-01T00:00:00+00:00"
    assert kept.get(theirs.id) is theirs
    assert [v["actor"] for v in kept.views()].count("a-admin") == 2
