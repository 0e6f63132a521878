"""The audit trail, read and checked: what the ``audit`` commands and the audit routes call.

Reading the trail needs ``Permission.READ_AUDIT`` (the local CLI actor always may). An export
is itself logged, as the actor. ``open_store`` opens a home's accountability store for the
commands that only read or change what is there (users, audit): a mistyped home must not make
a new, empty trail that then "verifies".

    with open_store(settings, existing=True) as store:
        report = verify_audit(store, local_actor(), AuditHead.parse("41:ab12..."))
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal, TextIO

from facesearch.accountability import (
    FILENAME,
    AccountabilityStore,
    Action,
    Actor,
    AuditEntry,
    AuditHead,
    AuditReport,
    Permission,
)
from facesearch.accountability.store import audit_files
from facesearch.app.checks import allow
from facesearch.errors import InputError, NotFoundError, PermissionDeniedError
from facesearch.settings import Settings
from facesearch.sqlstore import database_target

__all__ = [
    "AuditFilter",
    "AuditPage",
    "ExportFormat",
    "audit_entries",
    "audit_entry",
    "audit_head",
    "audit_page",
    "export_audit",
    "open_store",
    "parse_action",
    "trail_files",
    "verify_audit",
]

ExportFormat = Literal["csv", "jsonl"]


@dataclass(frozen=True)
class AuditFilter:
    """Which entries: all of them by default; ``since`` inclusive, ``until`` exclusive."""

    actor: str | None = None
    action: Action | None = None
    case: str | None = None
    since: datetime | None = None
    until: datetime | None = None


def parse_action(name: str | None) -> Action | None:
    """The action named ``name`` (None: any); InputError listing the actions if unknown."""
    if not name:
        return None
    try:
        return Action(name)
    except ValueError as exc:
        names = ", ".join(a.value for a in Action)
        raise InputError(f"unknown action {name!r}; one of {names}") from exc


def open_store(settings: Settings, *, existing: bool = False) -> AccountabilityStore:
    """The accountability store of the home of ``settings`` (its account policy, its audit key
    and anchor files). ``existing``: NotFoundError naming the home if it has none yet (in
    the embedded deployment; with PostgreSQL the store is the database, not a file)."""
    embedded = not database_target(settings.database_url).is_postgres
    if existing and embedded and not (settings.home / FILENAME).is_file():
        raise NotFoundError(
            f"no facesearch accounts or audit trail in {settings.home} (no {FILENAME}); "
            "choose the home with --home or FACESEARCH_HOME"
        )
    return AccountabilityStore.from_settings(settings)


def trail_files(settings: Settings) -> tuple[Path, Path]:
    """The audit key file and anchor file this process opens the home with. Unless set,
    they follow this process's HOME and XDG variables, so a server run as another user may
    look elsewhere than the CLI."""
    return audit_files(settings)


def org_of(actor: Actor) -> str:
    """The organisation whose trail ``actor`` reads; PermissionDeniedError for the platform
    operator, who reads none."""
    if actor.org is None:
        raise PermissionDeniedError(f"{actor.name} reads no organisation's audit trail")
    return actor.org


def audit_entries(
    store: AccountabilityStore,
    actor: Actor,
    where: AuditFilter = AuditFilter(),
    *,
    limit: int | None = 100,
    offset: int = 0,
    newest_first: bool = False,
    before: int | None = None,
    after: int | None = None,
) -> list[AuditEntry]:
    """Entries in seq order, or the last first (``limit`` None: all); ``before``/``after``:
    only those with a lower/higher seq, the cursor of a page that new entries do not shift
    (an offset does: every page view appends a read entry)."""
    allow(actor, Permission.READ_AUDIT)
    return store.audit.entries(
        newest_first=newest_first,
        org=org_of(actor),
        actor=where.actor,
        action=where.action,
        case=where.case,
        since=where.since,
        until=where.until,
        limit=limit,
        offset=offset,
        before=before,
        after=after,
    )


@dataclass(frozen=True)
class AuditPage:
    """One page of the trail, in the order asked for, and the cursors of its neighbours:
    ``earlier`` (ask ``before=earlier``) when older entries match, ``later`` (ask
    ``after=later``) when newer ones do or may (None: none)."""

    entries: list[AuditEntry]
    earlier: int | None
    later: int | None


def audit_page(
    store: AccountabilityStore,
    actor: Actor,
    where: AuditFilter = AuditFilter(),
    *,
    limit: int = 100,
    newest_first: bool = False,
    before: int | None = None,
    after: int | None = None,
    offset: int = 0,
) -> AuditPage:
    """``limit`` entries next to a cursor: below ``before`` (the page before it), above
    ``after`` (the page after it), or from the newest (``newest_first``) or the first entry
    when neither is given; in the order asked for either way. A cursor is a seq, so entries
    appended between two pages (each page view appends a read) neither repeat nor skip a
    row, as an ``offset`` (kept for old links) does."""
    if limit < 1:
        raise InputError("limit must be at least 1")
    if before is not None and after is not None:
        raise InputError("give before or after, not both: a page lies on one side of a cursor")
    cursor = before is not None or after is not None
    if cursor and offset:
        raise InputError("give a cursor (before, after) or an offset, not both")
    # towards the older entries (descending) from ``before`` or the newest, else ascending
    downwards = before is not None or (after is None and newest_first)
    found = audit_entries(
        store,
        actor,
        where,
        limit=limit + 1,
        offset=offset,
        newest_first=downwards,
        before=before,
        after=after,
    )
    more, rows = len(found) > limit, found[:limit]
    # entries on the far side of where this page started: past an offset, some; past a
    # cursor, those at or beyond it, if any (an "Earlier" to an empty page helps no one)
    behind = offset > 0
    if cursor:
        if before is not None:
            beyond = audit_entries(store, actor, where, limit=1, after=before - 1)
        else:
            beyond = audit_entries(store, actor, where, limit=1, before=(after or 0) + 1)
        behind = bool(beyond)
    older = more if downwards else behind
    newer = behind if downwards else more
    if downwards != newest_first:
        rows.reverse()
    # an empty page past a cursor leads back to the cursor's own entry
    low = min((e.seq for e in rows), default=None if after is None else after + 1)
    high = max((e.seq for e in rows), default=None if before is None else before - 1)
    return AuditPage(rows, earlier=low if older else None, later=high if newer else None)


def audit_entry(store: AccountabilityStore, actor: Actor, seq: int) -> AuditEntry:
    """One entry of the actor's organisation; NotFoundError if there is none (or it is
    another organisation's)."""
    allow(actor, Permission.READ_AUDIT)
    return store.audit.get(seq, org=org_of(actor))


def audit_head(store: AccountabilityStore, actor: Actor) -> AuditHead:
    """Seq and hash of the last entry: what to write down as an anchor."""
    allow(actor, Permission.READ_AUDIT)
    return store.audit.head()


def verify_audit(
    store: AccountabilityStore,
    actor: Actor,
    expected: AuditHead | None = None,
    *,
    anchor_lost: bool = False,
) -> AuditReport:
    """The full check of the trail: hash chain, MACs, anchor file, the head written down
    (``expected``), and the tables derived from the trail. ``anchor_lost``: the anchor file
    is gone or was started over on purpose: a warning, not a failure."""
    allow(actor, Permission.READ_AUDIT)
    return store.verify(expected, anchor_lost=anchor_lost)


def export_audit(
    store: AccountabilityStore,
    actor: Actor,
    fmt: ExportFormat,
    out: TextIO,
    where: AuditFilter = AuditFilter(),
) -> int:
    """Write the matching entries to ``out`` as CSV or JSON lines and log the export; the
    number of entries written."""
    allow(actor, Permission.READ_AUDIT)
    return store.audit.export(
        fmt,
        out,
        actor=actor.name,
        org=org_of(actor),
        filter_actor=where.actor,
        filter_action=where.action,
        filter_case=where.case,
        since=where.since,
        until=where.until,
    )
