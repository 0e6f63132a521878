"""An ingest never happens unlogged: its ``started`` entry comes before anything is added, and
a run stopped by Ctrl-C or an error still gets the entry of what it added."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.fakes import write_photo

from facesearch.accountability import AccountabilityStore
from facesearch.app import IngestRequest, ingest
from facesearch.app.ingest import NOTHING_INGESTED, nothing_ingested
from facesearch.app.oversight_summaries import ingest_summary
from facesearch.engine import Engine
from facesearch.gallery.ingest import BLOCKLISTED, FailedSource, IngestSummary
from facesearch.server.routes.audit import audit_summary


def _photos(folder: Path, count: int) -> Path:
    for i in range(count):
        write_photo(folder, 20 + i, 1)
    return folder


def _stop_after(results: int, exc: BaseException) -> Any:
    """A progress callback that raises ``exc`` at the run's ``results``-th photo analysed."""
    calls = []

    def progress(summary: IngestSummary) -> None:
        calls.append(summary)
        if len(calls) >= results:
            raise exc

    return progress


def _ingests(store: AccountabilityStore, after: int) -> list[Any]:
    return [e for e in store.audit.entries(limit=None)[after:] if e.action == "ingest"]


def test_a_run_logs_its_start_before_anything_is_added_and_its_end(
    engine: Engine, store: AccountabilityStore, tmp_path: Path
) -> None:
    admin = store.accounts.get_user("admin1")
    before = store.audit.count()
    done = ingest(engine, store, admin, IngestRequest((_photos(tmp_path / "p", 2),)))
    started, ended = _ingests(store, before)
    assert started.payload["outcome"] == "started" and "images_added" not in started.payload
    assert ended.seq == done.id and ended.payload["outcome"] == "ok"
    assert ended.payload["started_entry"] == started.seq
    assert ended.payload["images_added"] == 2 == done.summary.images_added
    assert store.verify().ok


def test_a_run_that_got_nothing_of_its_paths_is_logged_as_such_not_ok(
    engine: Engine, store: AccountabilityStore, tmp_path: Path
) -> None:
    """``ingest bad.jpg`` exited 2 ("nothing ingested") but its end entry said ``ok``: the
    trail could not tell it from a run that added something."""
    admin = store.accounts.get_user("admin1")
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    before = store.audit.count()
    done = ingest(engine, store, admin, IngestRequest((bad,), collection="bad"))
    (_, ended) = _ingests(store, before)
    why = "nothing ingested from the paths given: every file failed"
    assert (done.outcome, done.error, done.ok) == (NOTHING_INGESTED, why, False)
    assert ended.seq == done.id and ended.payload["outcome"] == NOTHING_INGESTED
    assert ended.payload["error"] == why and ended.payload["failed"] == 1
    assert done.as_json()["outcome"] == NOTHING_INGESTED
    assert ingest_summary(ended) == f"collection bad: 0 images, 0 faces added; 1 failed; {why}"
    assert audit_summary(ended.as_dict()).endswith(f"1 failed (failed: {why})")
    photos = _photos(tmp_path / "p", 1)
    ingest(engine, store, admin, IngestRequest((photos,), collection="bad"))
    again = ingest(engine, store, admin, IngestRequest((photos,), collection="bad"))
    assert again.ok and again.summary.duplicates == 1  # read, nothing new: not nothing


def _summary(*codes: str, added: int = 0, duplicates: int = 0) -> IngestSummary:
    summary = IngestSummary(run_id=1, images_added=added, duplicates=duplicates)
    for n, code in enumerate(codes):
        summary.fail(FailedSource(f"{n}.jpg", code, code))
    return summary


def test_nothing_ingested_says_why_nothing_came_of_the_paths() -> None:
    start = "nothing ingested from the paths given: "
    assert nothing_ingested(_summary()) == start + "no image file found in them"
    assert nothing_ingested(_summary("no_face")) == start + "every file failed"
    blocked = nothing_ingested(_summary(BLOCKLISTED, BLOCKLISTED))
    assert blocked == start + "every image was skipped by the erasure blocklist"
    both = nothing_ingested(_summary("no_face"), _summary(BLOCKLISTED), source="the uploads")
    assert (
        both == "nothing ingested from the uploads: every file failed or was skipped by the "
        "erasure blocklist"
    )
    assert (
        nothing_ingested(_summary(), unreadable=2, source="x")
        == "nothing ingested from x: every file failed"
    )
    assert nothing_ingested(_summary("no_face", added=1)) is None
    assert nothing_ingested(_summary("no_face"), _summary(duplicates=1)) is None


@pytest.mark.parametrize(
    ("stop", "outcome"),
    [(KeyboardInterrupt(), "interrupted"), (RuntimeError("disk on fire"), "error")],
)
def test_a_run_that_stops_midway_logs_what_it_added(
    engine: Engine,
    store: AccountabilityStore,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    stop: BaseException,
    outcome: str,
) -> None:
    """Ctrl-C 12 s into an ingest left 640 images and 759 faces in the gallery with no audit
    entry at all; so did an error that stopped the run (a symlink loop)."""
    monkeypatch.setattr("facesearch.gallery.ingest.COMMIT_EVERY", 2)
    admin = store.accounts.get_user("admin1")
    faces_before = engine.catalog.stats()["faces"]
    before = store.audit.count()
    request = IngestRequest((_photos(tmp_path / "p", 9),), collection="stopped")
    with pytest.raises(type(stop)):
        ingest(engine, store, admin, request, progress=_stop_after(5, stop))
    started, ended = _ingests(store, before)
    assert started.payload["outcome"] == "started"
    p = ended.payload
    assert p["outcome"] == outcome and p["started_entry"] == started.seq
    added = engine.catalog.stats()["faces"] - faces_before
    assert 0 < added < 9 and p["faces_added"] == added  # what the catalog holds, logged
    assert p["images_added"] == added and p["collection"] == "stopped"
    assert store.verify().ok
