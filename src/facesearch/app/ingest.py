"""Ingest, checked and logged (``ingest``). An ingest must not happen unlogged, even one that
is killed: before anything is added, an ``ingest`` entry with ``outcome`` ``started`` names the
collection, the paths given (the first 100) and the catalog's run id; when the run ends, a
second ``ingest`` entry (``started_entry``: the first's id) gives its outcome (``ok``;
``nothing_ingested`` with the reason as ``error`` for a run that got nothing at all of its
paths, as ``nothing_ingested`` says, which the CLI exits 2 for and the server's job fails
with; ``interrupted`` for Ctrl-C; or the error's code and message), the run id and the counts
(so far, for a run that stopped), and how its new faces joined the persons of the collection
when they have been built (``people.attach_new``).

A run killed outright (kill -9, the OOM killer, a power cut) cannot write its end entry, so
another process writes it: ``outcome`` ``abandoned``, by ``system:ingest``, with the counts of
the run's catalog record, which grow in each batch's transaction (``app.abandoned_runs``). To
tell a killed run from a live one, the run is *held* from its start until its process has
written its end entry (or failed to, which it raises or logs): its catalog row names the
process (host, process id space, pid, process start time) and a lease that a thread renews
every minute (``gallery.run_lease``). The holder is gone when, on
the same machine, that pid is free or belongs to another process (exact: a live run is never
taken for dead), and, seen from another machine or container, when the lease has not been
renewed for ten minutes. Every ingest looks for such runs before it starts; so does the server,
at start and every hour. The run is created, and held, before its started entry is written:
a process killed in between leaves a held run that no entry names, released without an entry.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from facesearch.accountability import AccountabilityStore, Action, Actor, AuditEntry, Permission
from facesearch.accountability.permissions import DEFAULT_ORG
from facesearch.app.abandoned_runs import log_abandoned
from facesearch.app.checks import (
    allow,
    check_case,
    check_new_collection_name,
    entry_missing,
    log,
)
from facesearch.app.people import attach_new
from facesearch.app.records import OUTCOME_OK
from facesearch.app.scope import scope_of
from facesearch.core.text import shown_name
from facesearch.engine import Engine
from facesearch.errors import FaceSearchError, PermissionDeniedError
from facesearch.gallery import run_lease
from facesearch.gallery.ingest import Analyse, IngestSummary, ProgressFn
from facesearch.gallery.ray_ingest import RayAnalyser, RayOptions

__all__ = [
    "NOTHING_INGESTED",
    "IngestRecord",
    "IngestRequest",
    "ingest",
    "nothing_ingested",
    "own_collection_name",
]

log_module = logging.getLogger(__name__)

MAX_LOGGED_PATHS = 100
DEFAULT_COLLECTION = "default"
NOTHING_INGESTED = "nothing_ingested"  # the outcome of a run that got nothing of its paths


@dataclass(frozen=True)
class IngestRequest:
    """Add every face of the images under ``paths`` (files, folders, archives, lists)."""

    paths: tuple[str | Path, ...]
    collection: str = DEFAULT_COLLECTION
    label_from_dir: bool = False
    case: str | None = None
    purpose: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)  # more to log (the server's job id)
    ray: RayOptions | None = None  # analyse on a Ray cluster (gallery.ray_ingest); None: here
    # one chunk analysed at a time, leaving the CPU to searches (the server's upload jobs)
    background: bool = False
    # what the end entry's error says nothing was ingested from (``nothing_ingested``)
    source: str = "the paths given"


@dataclass(frozen=True)
class IngestRecord:
    """A run that ended: its end entry, its summary, and its outcome as that entry logs it
    (``ok``, or ``nothing_ingested`` with ``error`` saying why)."""

    id: int  # the audit entry
    summary: IngestSummary
    outcome: str = OUTCOME_OK
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome == OUTCOME_OK

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "outcome": self.outcome,
            "error": self.error,
            **self.summary.as_dict(),
        }


def nothing_ingested(
    *summaries: IngestSummary, unreadable: int = 0, source: str = "the paths given"
) -> str | None:
    """Why nothing at all came of ``source`` (no image added and none already held: every
    path missing, every file failed or blocklisted, no image file found), or None when
    something did; ``unreadable``: files that failed before any run (a job's uploads that
    could not be unpacked). Some images failing while others are read is not nothing."""
    if any(s.images_added or s.duplicates for s in summaries):
        return None
    failed = unreadable + sum(len(s.failed) for s in summaries)
    broken = unreadable + sum(len(s.broken) for s in summaries)
    if not failed:
        why = "no image file found in them"
    elif not broken:
        why = "every image was skipped by the erasure blocklist"
    elif broken == failed:
        why = "every file failed"
    else:
        why = "every file failed or was skipped by the erasure blocklist"
    return f"nothing ingested from {source}: {why}"


def own_collection_name(org: str, requested: str) -> str:
    """The collection an ingest of organisation ``org`` into ``requested`` goes into: an
    organisation other than ``default`` asking for the collection ``default`` gets its own,
    named after it."""
    if requested == DEFAULT_COLLECTION and org.lower() != DEFAULT_ORG:
        return org
    return requested


def claim_collection(
    engine: Engine, store: AccountabilityStore, actor: Actor, request: IngestRequest
) -> str:
    """The collection an ingest goes into, made ``actor``'s organisation's if it is new.

    An organisation other than ``default`` asking for the collection ``default`` gets its own,
    named after it. PermissionDeniedError if the collection belongs to another organisation
    (shared ones are read-only) or the organisation's face quota is reached."""
    if actor.org is None:
        raise PermissionDeniedError(f"{actor.name} belongs to no organisation: no collections")
    org = store.orgs.get(actor.org)
    name = own_collection_name(org.name, request.collection)
    known = {c.name: c for c in engine.catalog.collections()}
    if name not in known:
        check_new_collection_name(name)  # before it is claimed; one made before keeps its name
    if name in known and store.orgs.owner(name).lower() != org.name.lower():
        raise PermissionDeniedError(
            f"collection {name} belongs to another organisation; choose another name"
        )
    if org.quota_faces is not None:
        scope = scope_of(store, engine.catalog, actor)
        held = sum(c.faces for c in known.values() if scope.owns(c.name))
        if held >= org.quota_faces:
            raise PermissionDeniedError(
                f"organisation {org.name} holds {held:,} faces: its quota of "
                f"{org.quota_faces:,} is reached (the platform operator sets it)"
            )
    if name not in known or store.orgs.owner(name).lower() != org.name.lower():
        store.orgs.claim(name, org.name, by=actor)
    return name


BACKGROUND_ANALYSTS = 1  # side by side under 50 searching clients, see README "Throughput"


def _analyser(engine: Engine, request: IngestRequest) -> Analyse | None:
    """Who analyses the images: a Ray cluster, the pipeline one chunk at a time (in the
    background), or (None) the pipeline at its full schedule."""
    if request.ray is not None:
        return RayAnalyser(engine.settings, request.ray)
    if request.background:
        return functools.partial(engine.pipeline.run, analysts=BACKGROUND_ANALYSTS)
    return None


def ingest(
    engine: Engine,
    store: AccountabilityStore,
    actor: Actor,
    request: IngestRequest,
    progress: ProgressFn | None = None,
) -> IngestRecord:
    """Add the faces of the images under the request's paths and log the run."""
    allow(actor, Permission.INGEST)
    case, purpose = check_case(request.case, request.purpose, required=False)
    request = replace(request, collection=claim_collection(engine, store, actor, request))
    store.audit.check_writable()  # an ingest must not happen unlogged: key and anchor first
    _log_abandoned(engine, store)
    base: dict[str, Any] = {
        "collection": request.collection,
        "paths": [shown_name(str(p)) for p in request.paths[:MAX_LOGGED_PATHS]],
        "paths_total": len(request.paths),
        "label_from_dir": request.label_from_dir,
        **request.extra,
    }
    started: list[AuditEntry] = []  # the started entry, once the run exists
    held: list[run_lease.RunLease] = []
    seen: list[IngestSummary] = []  # the run's summary, as it grows (for a run that stops)

    def start(run_id: int) -> None:
        held.append(run_lease.hold(engine.catalog, run_id))
        payload = {**base, "run_id": run_id, "outcome": "started"}
        started.append(log(store, actor, Action.INGEST, case, purpose, payload))

    def counting(summary: IngestSummary) -> None:
        if not seen:
            seen.append(summary)
        if progress is not None:
            progress(summary)

    try:
        try:
            summary = engine.ingest(
                list(request.paths),
                collection=request.collection,
                label_from_dir=request.label_from_dir,
                progress=counting,
                analyse=_analyser(engine, request),
                on_start=start,
                # the owner's erasure-blocklist entries apply, never another organisation's
                org=store.orgs.owner(request.collection),
            )
        except BaseException as exc:
            if started:
                run_id = held[0].run_id
                _log_stopped(store, actor, (case, purpose), base, started[0].seq, run_id, seen, exc)
            raise
        attached = attach_new(engine, request.collection) if summary.faces_added else None
        error = nothing_ingested(summary, source=request.source)
        outcome = OUTCOME_OK if error is None else NOTHING_INGESTED
        payload = {
            **base,
            "outcome": outcome,
            **({} if error is None else {"error": error}),
            "started_entry": started[0].seq,
            **_counts(summary),
            "people": None if attached is None else attached.as_dict(),
        }
        try:
            entry = log(store, actor, Action.INGEST, case, purpose, payload)
        except FaceSearchError as exc:
            raise entry_missing(
                exc,
                f"added {summary.faces_added} faces from {summary.images_added} images to the "
                f"collection {request.collection!r} (ingest run {summary.run_id})",
            ) from exc
    finally:
        if held:
            _release(engine, held[0])
    return IngestRecord(entry.seq, summary, outcome, error)


def _log_abandoned(engine: Engine, store: AccountabilityStore) -> None:
    """The end entries of the runs whose process died before writing them; a failure is
    logged, and does not stop this ingest, which logs its own entries."""
    try:
        log_abandoned(engine.catalog, store)
    except FaceSearchError as exc:
        log_module.warning("could not log the ends of ingest runs whose process died: %s", exc)


def _release(engine: Engine, held: run_lease.RunLease) -> None:
    """The run's end is logged (or could not be): this process answers for it no more."""
    try:
        held.release(engine.catalog)
    except FaceSearchError as exc:
        log_module.warning("ingest run %d could not be released: %s", held.run_id, exc)


def _counts(summary: IngestSummary) -> dict[str, Any]:
    return {
        "run_id": summary.run_id,
        "images_seen": summary.images_seen,
        "images_added": summary.images_added,
        "duplicates": summary.duplicates,
        "faces_added": summary.faces_added,
        "faces_blocked": summary.faces_blocked,
        "failed": len(summary.failed),  # every source not added, the blocklisted among them
        "blocklisted": len(summary.blocklisted),  # of those, skipped by the erasure blocklist
    }


def _log_stopped(
    store: AccountabilityStore,
    actor: Actor,
    use: tuple[str | None, str | None],
    base: dict[str, Any],
    started: int,
    run_id: int,
    seen: list[IngestSummary],
    exc: BaseException,
) -> None:
    """The entry of a run that stopped (Ctrl-C, an error): what it added until then. A
    failure to write it is logged here; the error that stopped the run is what the caller
    raises."""
    if isinstance(exc, KeyboardInterrupt):
        outcome, error = "interrupted", "interrupted (Ctrl-C)"
    elif isinstance(exc, FaceSearchError):
        outcome, error = exc.code, str(exc)
    else:
        outcome, error = "error", f"{type(exc).__name__}: {exc}"
    counts = _counts(seen[0]) if seen else {"run_id": run_id, "images_added": 0, "faces_added": 0}
    payload = {**base, "outcome": outcome, "error": error[:500], "started_entry": started}
    try:
        log(store, actor, Action.INGEST, use[0], use[1], {**payload, **counts})
    except Exception:
        log_module.exception("the ingest that stopped could not be logged (entry %s)", started)
