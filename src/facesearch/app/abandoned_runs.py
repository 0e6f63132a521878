"""Ingest runs whose process died before logging how they ended: found, and their end logged.

An ingest logs a ``started`` entry and, when it ends, an entry saying how (``app.ingest``). A
process killed outright (kill -9, the OOM killer, a power cut) writes no end entry, but the
run it held stays held in the catalog, and ``gallery.run_lease`` tells when its process is
gone. ``log_abandoned`` then writes the end entry: ``ingest`` with ``outcome`` ``abandoned``,
``started_entry`` (the started entry's seq), the catalog's counts of that run (images and
faces committed, files that failed), the collection and paths of the started entry, and in
``error`` why the process was taken for gone. Its actor is ``system:ingest``, its
organisation, case and purpose the started entry's. It runs when an ingest starts, and in
the server at start and every hour.

Exactly once, even when several processes find the same run at the same moment: each looks
for an end entry of that started entry and appends its own in ONE write transaction of the
accountability store, whose write lock (SQLite's, or PostgreSQL's advisory lock) admits one
writer at a time across processes and replicas; the second finds the first's entry. Then the
run is released in the catalog (a run left ``running`` becomes ``abandoned``). A process
killed between the two leaves the run held: the next one finds the entry there and only
releases it. A run whose process never logged it (a library's ``Engine.ingest``, or one
killed before its started entry) is released without an entry.
"""

from __future__ import annotations

import logging
from datetime import datetime

from facesearch.accountability import AccountabilityStore, Action
from facesearch.gallery import run_lease
from facesearch.gallery.catalog import Catalog

__all__ = ["ABANDONED", "RUN_ACTOR", "log_abandoned"]

log = logging.getLogger(__name__)

ABANDONED = "abandoned"  # the outcome of a run whose process died before logging its end
RUN_ACTOR = "system:ingest"
MAX_ERROR_CHARS = 500


def log_abandoned(
    catalog: Catalog, store: AccountabilityStore, now: datetime | None = None
) -> list[int]:
    """Log the end of every ingest run of ``catalog`` whose process is gone (``now``: the
    time the leases are judged at); the seqs of the entries written."""
    written = []
    for found in run_lease.abandoned(catalog, now):
        seq = _log_end(store, found)
        if seq is not None:
            written.append(seq)
            log.warning(
                "ingest run %d ended without logging its end: %s; logged as audit entry %d",
                found.run.id,
                found.reason,
                seq,
            )
        catalog.release_run(found.run.id, abandoned=True)
    return written


def _log_end(store: AccountabilityStore, found: run_lease.Abandoned) -> int | None:
    """The end entry of an abandoned run, unless there is one or the run was never logged."""
    run = found.run
    with store.db.write():  # the look and the append: one transaction, one writer at a time
        entries = store.audit.naming(Action.INGEST, "run_id", run.id)
        starts = [e for e in entries if e.payload.get("outcome") == "started"]
        if not starts:
            return None
        start = starts[-1]  # run ids restart with a new catalog: the latest is this run's
        if any(e.payload.get("started_entry") == start.seq for e in entries):
            return None
        error = f"no end logged, and {found.reason}"
        payload = {
            **{k: v for k, v in start.payload.items() if k != "outcome"},
            "outcome": ABANDONED,
            "error": error[:MAX_ERROR_CHARS],
            "started_entry": start.seq,
            "run_id": run.id,
            "images_added": run.images_added,
            "faces_added": run.faces_added,
            "failed": run.failures,
        }
        entry = store.audit.append(
            actor=RUN_ACTOR,
            action=Action.INGEST,
            case=start.case,
            purpose=start.purpose,
            payload=payload,
            org=start.org,
        )
    return entry.seq
