"""Search requests, where an organisation's policy asks a supervisor to approve each search
before it runs (``app.approvals``): as JSON under ``/api/v1/search-requests`` and as the
Approvals page ``/approvals``.

An investigator asks (the probe upload, case, purpose and options, checked as for
``POST /api/v1/searches``), sees their own requests, and runs an approved one once (the answer
is the search, as ``POST /api/v1/searches`` gives it). A supervisor sees the organisation's
requests and approves or denies them, with a note, and may revoke an approval before its run.
Another organisation's request is a 404,
as an unknown one is. Each step is an audit entry of the organisation.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Depends, Form, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from facesearch import app
from facesearch.accountability import Permission
from facesearch.app import approvals
from facesearch.engine import Engine
from facesearch.errors import FaceSearchError
from facesearch.server import services
from facesearch.server.auth import Principal, needs, needs_any
from facesearch.server.context import Context
from facesearch.server.deps import Ctx, Searcher
from facesearch.server.rendering import Page, page_for
from facesearch.server.routes.searches import SearchFormData
from facesearch.server.services import _with_persons as with_persons

api = APIRouter(prefix="/api/v1", tags=["search requests"])
pages = APIRouter(include_in_schema=False)

_supervise = needs(Permission.SUPERVISE)
_requests = needs_any(Permission.SUPERVISE, Permission.SEARCH, doing="see search requests")
Supervisor = Annotated[Principal, Depends(_supervise)]
RequestReader = Annotated[Principal, Depends(_requests)]
SupervisorPage = Annotated[Page, Depends(page_for(_supervise))]
SearcherPage = Annotated[Page, Depends(page_for(needs(Permission.SEARCH)))]
RequestsPage = Annotated[Page, Depends(page_for(_requests))]
Decision = Literal["approve", "deny", "revoke"]
SHOWN_DECIDED = 100  # the newest decided requests the page lists (the API lists all)
NOTE_DOC = "Why it was approved or denied (recorded with the decision)."


# --- what the API and the pages both do -------------------------------------------------


async def needs_approval(c: Context, who: Principal) -> bool:
    """Whether ``who``'s searches wait for a supervisor (their organisation's policy)."""
    return await anyio.to_thread.run_sync(lambda: approvals.needs_approval(c.store, who.user))


async def ask(
    c: Context, who: Principal, image: UploadFile | None, request: app.SearchRequest
) -> dict[str, Any]:
    """Request a search of an uploaded probe: the upload is read and checked as a search's."""
    app.check_case(request.case, request.purpose, required=True)  # before reading the upload
    data = await services.read_image(image, c)
    ready = replace(request, probe=data, name=services.upload_label(image))
    asked = await c.workers.on_engine(
        lambda e: approvals.request_search(e, c.store, who.user, ready)
    )
    return asked.as_json()


async def _listed(c: Context, who: Principal, pending_only: bool) -> list[dict[str, Any]]:
    found = await anyio.to_thread.run_sync(
        lambda: approvals.requests(c.store, who.user, pending_only=pending_only)
    )
    return [r.as_json() for r in found]


VERBS = {"approve": approvals.approve, "deny": approvals.deny, "revoke": approvals.revoke}


async def _decide(
    c: Context, who: Principal, seq: int, note: str | None, decision: Decision
) -> approvals.ApprovalRequest:
    verb = VERBS[decision]
    return await anyio.to_thread.run_sync(lambda: verb(c.store, who.user, seq, note))


async def _run(c: Context, who: Principal, seq: int) -> dict[str, Any]:
    """Run approved request ``seq``; the search resource, as ``services.search`` answers."""
    started = time.monotonic()

    def run(engine: Engine) -> int:
        record = approvals.run_approved(engine, c.store, who.user, seq)
        assert record.id is not None
        return record.id

    try:
        search_id = await c.workers.on_engine(run, analysis_by=who.name)
    except Exception:
        c.metrics.inc("facesearch_searches_total", outcome="error")
        raise
    c.metrics.inc("facesearch_searches_total", outcome="ok")
    c.metrics.observe_search(time.monotonic() - started)
    return await with_persons(c, who, await services.load_search(c, search_id))


# --- JSON -------------------------------------------------------------------------------


@api.post("/search-requests", status_code=201, summary="Ask a supervisor to approve a search")
async def create_request(who: Searcher, c: Ctx, form: SearchFormData) -> dict[str, Any]:
    return await ask(c, who, form.image, form.request)


@api.get("/search-requests", summary="Search requests: a supervisor's organisation's, else yours")
async def list_requests(who: RequestReader, c: Ctx, pending: bool = False) -> dict[str, Any]:
    return {"items": await _listed(c, who, pending)}


@api.get("/search-requests/{seq:int}", summary="One search request and its state")
async def get_request(seq: int, who: RequestReader, c: Ctx) -> dict[str, Any]:
    found = await anyio.to_thread.run_sync(lambda: approvals.get_request(c.store, who.user, seq))
    return found.as_json()


@api.post(
    "/search-requests/{seq:int}/run",
    status_code=201,
    summary="Run your approved search request, once (the search, as POST /searches gives it)",
)
async def run_request(seq: int, who: Searcher, c: Ctx) -> dict[str, Any]:
    return await _run(c, who, seq)


@api.post(
    "/search-requests/{seq:int}/{decision}",
    summary=(
        "Approve or deny a search request (supervisors; a decision is final), or revoke an "
        "approval before its run"
    ),
)
async def decide_request(
    seq: int,
    decision: Decision,
    who: Supervisor,
    c: Ctx,
    note: Annotated[str | None, Form(max_length=2000, description=NOTE_DOC)] = None,
) -> dict[str, Any]:
    decided = await _decide(c, who, seq, note, decision)
    return decided.as_json()


# --- pages ------------------------------------------------------------------------------


async def _page(page: Page, status: int = 200, **values: Any) -> HTMLResponse:
    supervisor = page.who.can(Permission.SUPERVISE)
    items = await _listed(page.c, page.who, pending_only=False)
    decided = [r for r in items if r["state"] != "pending"]
    return page.render(
        "approvals.html",
        status,
        supervisor=supervisor,
        approvals_on=await needs_approval(page.c, page.who),
        pending=[r for r in items if r["state"] == "pending"],
        decided=decided[:SHOWN_DECIDED],
        decided_total=len(decided),
        **values,
    )


@pages.get("/approvals")
async def approvals_page(page: RequestsPage) -> HTMLResponse:
    return await _page(page)


@pages.post("/approvals/{seq:int}/run")
async def run_submit(seq: int, page: SearcherPage) -> Response:
    try:
        search = await _run(page.c, page.who, seq)
    except FaceSearchError as exc:
        return await _page(page, error=exc)
    return RedirectResponse(f"/searches/{search['id']}", status_code=303)


@pages.post("/approvals/{seq:int}/{decision}")
async def decide_submit(
    seq: int,
    decision: Decision,
    page: SupervisorPage,
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    try:
        await _decide(page.c, page.who, seq, note, decision)
    except FaceSearchError as exc:
        return await _page(page, error=exc)
    return RedirectResponse("/approvals", status_code=303)


router = APIRouter()
router.include_router(api)
router.include_router(pages)
