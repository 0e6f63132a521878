"""The audit trail: its entries, head, check and export (``/api/v1/audit``), and the Audit
page. Read through ``app.trail`` (READ_AUDIT); an export is itself logged."""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlencode

import anyio
from fastapi import APIRouter, Query
from fastapi.responses import FileResponse, HTMLResponse
from starlette.background import BackgroundTask

from facesearch.accountability import Action, AuditHead, ChainBreak
from facesearch.app import trail
from facesearch.app.ingest import NOTHING_INGESTED
from facesearch.app.oversight_summaries import failed_files
from facesearch.errors import FaceSearchError, InputError
from facesearch.server import views
from facesearch.server.deps import Auditor, AuditorPage, Ctx
from facesearch.server.errors import classify
from facesearch.types import MAX_ID

api = APIRouter(prefix="/api/v1", tags=["audit"])
pages = APIRouter(include_in_schema=False)

T = TypeVar("T")
AUDIT_PAGE = 50
ActorQuery = Annotated[str | None, Query(max_length=128)]
CaseQuery = Annotated[str | None, Query(max_length=200)]


async def _blocking(fn: Callable[[], T]) -> T:
    return await anyio.to_thread.run_sync(fn)


def _time(value: str | None, what: str) -> datetime | None:
    if value is None or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError as exc:
        raise InputError(
            f"{what} must be an ISO 8601 time, e.g. 2025-01-31T12:00:00+00:00"
        ) from exc
    if moment.tzinfo is None:
        raise InputError(f"{what} must carry a time zone, e.g. +00:00")
    return moment


def _breaks(breaks: Sequence[ChainBreak]) -> list[dict[str, Any]]:
    return [
        {"kind": b.kind.value, "first": b.first, "last": b.last, "detail": b.detail} for b in breaks
    ]


# --- JSON ----------------------------------------------------------------------------------------


@api.get(
    "/audit",
    summary="Audit entries, oldest first (order=newest: the last first), with filters; a page "
    "at a time by cursor: before=SEQ or after=SEQ, as the earlier and later fields give them",
)
async def list_audit(
    who: Auditor,
    c: Ctx,
    actor: ActorQuery = None,
    action: Annotated[Action | None, Query()] = None,
    case: CaseQuery = None,
    since: Annotated[str | None, Query(description="ISO time, inclusive")] = None,
    until: Annotated[str | None, Query(description="ISO time, exclusive")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
    order: Annotated[Literal["oldest", "newest"], Query()] = "oldest",
    before: Annotated[int | None, Query(ge=1, le=MAX_ID, description="seq, exclusive")] = None,
    after: Annotated[int | None, Query(ge=0, le=MAX_ID, description="seq, exclusive")] = None,
) -> dict[str, Any]:
    where = trail.AuditFilter(
        actor or None, action, case or None, _time(since, "since"), _time(until, "until")
    )

    def make() -> dict[str, Any]:
        found = trail.audit_page(
            c.store,
            who.user,
            where,
            limit=limit,
            offset=offset,
            newest_first=order == "newest",
            before=before,
            after=after,
        )
        head = trail.audit_head(c.store, who.user)
        return {
            "items": [views.entry_view(e) for e in found.entries],
            "limit": limit,
            "offset": offset,
            "earlier": found.earlier,
            "later": found.later,
            "head": {"seq": head.seq, "hash": head.hash},
        }

    return await _blocking(make)


@api.get("/audit/head", summary="Seq and hash of the last entry (anchor)")
async def audit_head(who: Auditor, c: Ctx) -> dict[str, Any]:
    head = await _blocking(lambda: trail.audit_head(c.store, who.user))
    return {"seq": head.seq, "hash": head.hash, "anchor": str(head)}


@api.get(
    "/audit/verify",
    summary="Check the hash chain, the MACs, the anchor file (and a written-down head)",
)
async def audit_verify(
    who: Auditor,
    c: Ctx,
    head: Annotated[str | None, Query(description="A head written down earlier: SEQ:HASH")] = (
        None
    ),
    anchor_lost: Annotated[
        bool, Query(description="The anchor file is gone on purpose: warn, do not fail")
    ] = False,
) -> dict[str, Any]:
    expected = AuditHead.parse(head) if head else None
    report = await _blocking(
        lambda: trail.verify_audit(c.store, who.user, expected, anchor_lost=anchor_lost)
    )
    return {
        "ok": report.ok,
        "entries": report.entries,
        "head": {"seq": report.head.seq, "hash": report.head.hash},
        "breaks": _breaks(report.breaks),
        "warnings": _breaks(report.warnings),
        "omitted": report.omitted,
        "summary": report.summary(),
    }


@api.get(
    "/audit/export",
    summary="Export entries as CSV or JSON lines (the export is itself logged)",
    response_class=FileResponse,
)
async def audit_export(
    who: Auditor,
    c: Ctx,
    format: Annotated[Literal["csv", "jsonl"], Query()] = "jsonl",
    actor: ActorQuery = None,
    action: Annotated[Action | None, Query()] = None,
    case: CaseQuery = None,
    since: Annotated[str | None, Query()] = None,
    until: Annotated[str | None, Query()] = None,
) -> FileResponse:
    where = trail.AuditFilter(
        actor or None, action, case or None, _time(since, "since"), _time(until, "until")
    )
    fd, name = tempfile.mkstemp(prefix="facesearch-audit-", suffix="." + format)

    def write() -> None:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            trail.export_audit(c.store, who.user, format, out, where)

    try:
        await _blocking(write)
    except BaseException:
        os.unlink(name)
        raise
    media = "text/csv" if format == "csv" else "application/x-ndjson"
    return FileResponse(
        name,
        media_type=media,
        filename=f"facesearch-audit.{format}",
        background=BackgroundTask(os.unlink, name),
    )


@api.get("/audit/{seq:int}", summary="One audit entry")
async def get_audit_entry(seq: int, who: Auditor, c: Ctx) -> dict[str, Any]:
    return views.entry_view(await _blocking(lambda: trail.audit_entry(c.store, who.user, seq)))


# --- the Audit page ------------------------------------------------------------------------------


@pages.get("/audit")
async def audit_page(
    page: AuditorPage,
    actor: Annotated[str, Query(max_length=128)] = "",
    action: Annotated[str, Query(max_length=40)] = "",
    case: Annotated[str, Query(max_length=200)] = "",
    since: Annotated[str, Query(max_length=40)] = "",
    until: Annotated[str, Query(max_length=40)] = "",
    page_no: Annotated[int, Query(alias="page", ge=1, le=1_000_000)] = 1,
    verify: Annotated[str, Query(max_length=100)] = "",
    order: Annotated[Literal["newest", "oldest"], Query()] = "newest",
    before: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    after: Annotated[int | None, Query(ge=0, le=MAX_ID)] = None,
) -> HTMLResponse:
    """The trail a page at a time, the newest entries first (``order=oldest``: from the
    first), filtered by actor, action, case and dates. "Earlier" and "Later" page by seq
    (``before``, ``after``): each view of the page appends a read entry, which shifted an
    offset's pages by one. ``page=N`` (the offset of old links) still opens its page."""
    c, who = page.c, page.who
    filters = {"actor": actor, "action": action, "case": case, "since": since, "until": until}
    filters["order"] = order
    error = None
    found = trail.AuditPage([], None, None)
    report = None
    try:
        if page_no > 1 and (before is not None or after is not None):
            raise InputError("give page or before/after, not both")
        chosen = Action(action) if action else None
        where = trail.AuditFilter(
            actor.strip() or None,
            chosen,
            case.strip() or None,
            _day(since, "since", end=False),
            _day(until, "until", end=True),
        )
        found = await _blocking(
            lambda: trail.audit_page(
                c.store,
                who.user,
                where,
                limit=AUDIT_PAGE,
                offset=(page_no - 1) * AUDIT_PAGE,
                newest_first=order == "newest",
                before=before,
                after=after,
            )
        )
        if verify:
            anchor = AuditHead.parse(verify) if ":" in verify else None
            report = await _blocking(lambda: trail.verify_audit(c.store, who.user, anchor))
    except ValueError:
        error = "unknown action"
    except FaceSearchError as exc:
        error = classify(exc)[2]
    head = await _blocking(lambda: trail.audit_head(c.store, who.user))
    return page.render(
        "audit.html",
        422 if error else 200,
        error=error,
        entries=[views.entry_view(e) for e in found.entries],
        earlier=None if found.earlier is None else urlencode({**filters, "before": found.earlier}),
        later=None if found.later is None else urlencode({**filters, "after": found.later}),
        filters=filters,
        actions=[a.value for a in Action],
        head=head,
        report=report,
        summarise=audit_summary,
    )


def audit_summary(entry: dict[str, Any]) -> str:
    """One line about an entry's payload, for the audit page."""
    p = entry.get("payload", {})
    action = entry.get("action")
    if action in ("search", "verify") and p.get("outcome", "ok") != "ok":
        return f"failed: {p.get('outcome')}: {p.get('error', '')}"
    if action == "read":
        ids = ", ".join(f"{k} {v}" for k, v in p.items() if k != "what" and not isinstance(v, list))
        return f"read {str(p.get('what', '')).replace('_', ' ')}" + (f": {ids}" if ids else "")
    if action == "search":
        faces = p.get("probe_faces", [])
        sizes = sum(int(c.get("size", 0)) for c in p.get("collections", []))
        found = len(p.get("candidates", []))
        return (
            f"{found} candidate{'' if found == 1 else 's'} for {len(faces)} probe "
            f"face{'' if len(faces) == 1 else 's'} among "
            f"{sizes} faces; probe {str(p.get('probe_sha256', ''))[:12]}"
        )
    if action == "decision":
        return (
            f"search {p.get('search_seq')}, face {p.get('face_id')}: "
            f"{str(p.get('verdict', '')).replace('_', ' ')} "
            f"({p.get('status_before')} -> {p.get('status_after')})"
            + (f"; note: {p['note']}" if p.get("note") else "")
        )
    if action == "verify" and p.get("kind") == "pairs":
        return (
            f"{p.get('count')} pairs from a pairs file ({str(p.get('pairs_sha256', ''))[:12]}), "
            f"{p.get('failed')} without a decision; models {', '.join(p.get('models', []))}"
        )
    if action == "verify":
        return f"similarity {p.get('similarity')}, same person: {p.get('same_person')}"
    if action == "erase":
        counts = ", ".join(f"{v} {k}" for k, v in p.get("counts", {}).items())
        return f"{counts}; reason: {p.get('reason', '')}"
    job = f"; upload job {p['upload_job']}" if p.get("upload_job") else ""
    if action == "ingest" and p.get("outcome") == "started":
        n = p.get("paths_total")
        given = f"{n} path{'' if n == 1 else 's'} given" if not job else job.removeprefix("; ")
        return f"ingest started into {p.get('collection')} ({given})"
    if action == "ingest":
        outcome = p.get("outcome", "ok")
        how = {"abandoned": "abandoned", NOTHING_INGESTED: "failed"}.get(outcome, "stopped")
        stopped = "" if outcome == "ok" else f" ({how}: {p.get('error')})"
        return (
            f"{_many(p.get('images_added'), 'image')}, {_many(p.get('faces_added'), 'face')} "
            f"into {p.get('collection')}; {failed_files(p)}{stopped}{job}"
        )
    if action == "training_passed":
        until = str(p.get("valid_until", ""))[:10]  # the day: the page shows no raw times
        return f"training passed ({p.get('score')} right), valid until {until}"
    if action == "alert":
        return f"alert {p.get('rule')}: {p.get('detail', '')}"[:200]
    text = ", ".join(f"{k}={v}" for k, v in p.items() if not isinstance(v, dict | list))
    return text[:200]


def _many(n: object, one: str) -> str:
    """ "1 image", "0 images", "12 images" (what is not a number counts as 0)."""
    count = n if isinstance(n, int) and not isinstance(n, bool) else 0
    return f"{count} {one}{'' if count == 1 else 's'}"


def _day(text: str, what: str, *, end: bool) -> datetime | None:
    """A date (YYYY-MM-DD, UTC) or full ISO time as a filter bound."""
    text = text.strip()
    if not text:
        return None
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            day = datetime.fromisoformat(text).replace(tzinfo=UTC)
            return day + timedelta(days=1) if end else day
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InputError(f"{what}: a date is YYYY-MM-DD") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


router = APIRouter()
router.include_router(api)
router.include_router(pages)
