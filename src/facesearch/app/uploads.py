"""Ingest of files uploaded to the server, as one job: its folders ingested through
``ingest`` (one audit entry each), then every file of the job that did not become the source
of a catalog image deleted (``gallery.upload_jobs``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from facesearch.accountability import AccountabilityStore, Actor
from facesearch.app.ingest import IngestRecord, IngestRequest, ingest
from facesearch.engine import Engine
from facesearch.errors import NotFoundError
from facesearch.gallery.ingest import IngestSummary
from facesearch.gallery.upload_jobs import clean_job, lock_job, release_job, remove_leftovers

__all__ = [
    "finish_job",
    "ingest_job",
    "job_visible",
    "lock_job",
    "release_job",
    "remove_leftover_jobs",
]


def job_visible(store: AccountabilityStore, actor: Actor, job_actor: str) -> bool:
    """Whether ``actor`` may see an upload job started by ``job_actor``: a job of an account
    of another organisation is not (not found, as a job that does not exist)."""
    try:
        store.accounts.get_user(job_actor, seen_by=actor)
    except NotFoundError:
        return False
    return True


def ingest_job(
    engine: Engine,
    store: AccountabilityStore,
    actor: Actor,
    job_id: str,
    collection: str,
    runs: Sequence[tuple[Path, bool]],
    on_run: Callable[[int, IngestSummary], None],
    on_done: Callable[[IngestRecord], None] = lambda _: None,
) -> list[IngestRecord]:
    """Ingest each (folder, label from folder names) of a job in turn; ``on_run(images seen
    before this run, summary so far)`` reports progress, ``on_done(record)`` each run ended."""
    records = []
    seen = 0
    for folder, from_dir in runs:
        if not folder.is_dir() or not any(folder.iterdir()):
            continue
        before = seen
        request = IngestRequest(
            (folder,),
            collection=collection,
            label_from_dir=from_dir,
            extra={"upload_job": job_id},
            background=True,  # the server's searches come first
        )

        def progress(summary: IngestSummary, before: int = before) -> None:
            on_run(before, summary)

        record = ingest(engine, store, actor, request, progress)
        seen = before + record.summary.images_seen
        records.append(record)
        on_done(record)
    return records


def finish_job(engine: Engine, folder: Path) -> int:
    """Delete the files of a finished job that are not the source of a catalog image."""
    return clean_job(engine.catalog, folder, engine.settings.limits.max_file_bytes)


def remove_leftover_jobs(home: Path, max_file_bytes: int, database_url: str = "") -> int:
    """Clean the folders of jobs that died unfinished (a server stopped mid-job)."""
    return remove_leftovers(home, max_file_bytes, database_url)
