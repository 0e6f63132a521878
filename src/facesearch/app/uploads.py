"""Ingest of files uploaded to the server, as one job: its folders ingested through
``ingest`` (one audit entry each), then every file of the job that did not become the source
of a catalog image deleted (``gallery.upload_jobs``)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from facesearch.accountability import AccountabilityStore, Action, Actor, AuditEntry, Permission
from facesearch.app.checks import allow, log
from facesearch.app.ingest import (
    NOTHING_INGESTED,
    IngestRecord,
    IngestRequest,
    ingest,
    nothing_ingested,
    own_collection_name,
)
from facesearch.engine import Engine
from facesearch.errors import NotFoundError
from facesearch.gallery.ingest import IngestSummary
from facesearch.gallery.upload_jobs import clean_job, lock_job, release_job, remove_leftovers

__all__ = [
    "FROM_UPLOADS",
    "finish_job",
    "ingest_job",
    "job_visible",
    "lock_job",
    "log_job_without_run",
    "log_nothing_unpacked",
    "release_job",
    "remove_leftover_jobs",
]


FROM_UPLOADS = "the uploads"  # what a job's errors say nothing was ingested from


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
    *,
    unpack_failed: int = 0,
) -> list[IngestRecord]:
    """Ingest each (folder, label from folder names) of a job in turn; ``on_run(images seen
    before this run, summary so far)`` reports progress, ``on_done(record)`` each run ended.
    ``unpack_failed``: the job's files that could not be unpacked, which each run's entry
    counts (none of them is in a folder)."""
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
            extra={"upload_job": job_id, "unpack_failed": unpack_failed},
            background=True,  # the server's searches come first
            source=FROM_UPLOADS,  # its folders are the server's, not paths anyone gave
        )

        def progress(summary: IngestSummary, before: int = before) -> None:
            on_run(before, summary)

        record = ingest(engine, store, actor, request, progress)
        seen = before + record.summary.images_seen
        records.append(record)
        on_done(record)
    return records


MAX_LOGGED_FAILURES = 20  # of the files that could not be unpacked, those an entry names


def log_nothing_unpacked(
    store: AccountabilityStore,
    actor: Actor,
    job_id: str,
    collection: str,
    *,
    failures: Sequence[Mapping[str, str]],
    unpack_failed: int,
    skipped: int,
    source: str,
) -> AuditEntry:
    """The entry of a job none of whose files gave an image to ingest (each failed to unpack,
    or was skipped on purpose): no run took place, so no run's entry says what came of the
    upload. ``failures``: the first files that failed, with why; ``unpack_failed``: how many
    did; ``skipped``: archive members left out on purpose; ``source``: what the error says
    nothing was ingested from."""
    allow(actor, Permission.INGEST)
    error = nothing_ingested(unreadable=unpack_failed, source=source)
    return log_job_without_run(
        store,
        actor,
        job_id,
        collection,
        outcome=NOTHING_INGESTED,
        error=str(error),
        failures=failures,
        unpack_failed=unpack_failed,
        skipped=skipped,
    )


def log_job_without_run(
    store: AccountabilityStore,
    actor: Actor,
    job_id: str,
    collection: str,
    *,
    outcome: str,
    error: str,
    failures: Sequence[Mapping[str, str]] = (),
    unpack_failed: int = 0,
    skipped: int = 0,
) -> AuditEntry:
    """The ``ingest`` entry of an upload job that ended before any run wrote one: nothing
    came of its files (``log_nothing_unpacked``), or it failed (``outcome``: the error's
    code, or ``error`` for one that is not the application's; a full disk while unpacking,
    the organisation's quota reached, another organisation's collection). It records what
    happened, so it asks no permission: the upload was allowed when it arrived."""
    if actor.org is not None:  # as the job's runs would have named it (``claim_collection``)
        collection = own_collection_name(actor.org, collection)
    payload = {
        "collection": collection,
        "paths": [],
        "paths_total": 0,
        "upload_job": job_id,
        "outcome": outcome,
        "error": error[:500],
        "unpack_failed": unpack_failed,
        "unpack_failures": [dict(f) for f in failures[:MAX_LOGGED_FAILURES]],
        "skipped": skipped,
        "images_seen": 0,
        "images_added": 0,
        "duplicates": 0,
        "faces_added": 0,
        "faces_blocked": 0,
        "failed": unpack_failed,
        "blocklisted": 0,
    }
    return log(store, actor, Action.INGEST, None, None, payload)


def finish_job(engine: Engine, folder: Path) -> int:
    """Delete the files of a finished job that are not the source of a catalog image."""
    return clean_job(engine.catalog, folder, engine.settings.limits.max_file_bytes)


def remove_leftover_jobs(home: Path, max_file_bytes: int, database_url: str = "") -> int:
    """Clean the folders of jobs that died unfinished (a server stopped mid-job)."""
    return remove_leftovers(home, max_file_bytes, database_url)
