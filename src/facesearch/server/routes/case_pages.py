"""The case page and the case report: ``/cases`` (the cases you may see), ``/cases/{number}``
(everything done under the case, in time order, with links), its JSON
``/api/v1/cases/{number}/timeline``, and the report ``/cases/{number}/report`` (HTML) and
``/cases/{number}/report.pdf``.

Who may see a case: its members, admins and auditors; anyone else gets the 404 of a case that
does not exist. Each report is an ``export`` audit entry under the case (``app.case_report``);
the PDF route answers 503 when chromium is missing (the HTML report still works).
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, Form
from fastapi.responses import HTMLResponse, Response

from facesearch.accountability import Permission, can
from facesearch.app import case_report, cases
from facesearch.errors import FaceSearchError, NotFoundError
from facesearch.reports.case_html import case_report_file
from facesearch.reports.html import STYLE
from facesearch.server.auth import Principal, authenticated
from facesearch.server.context import Context
from facesearch.server.deps import AdminPage, Anyone, CaseOpenerPage, Ctx
from facesearch.server.errors import classify
from facesearch.server.rendering import Page, page_for

api = APIRouter(prefix="/api/v1", tags=["cases"])
pages = APIRouter(include_in_schema=False)

AnyonePage = Annotated[Page, Depends(page_for(authenticated))]


# The report is one self-contained page: its own style sheet (allowed by its hash), images
# as data: URIs, no script, nothing fetched.
_STYLE_HASH = base64.b64encode(hashlib.sha256(STYLE.encode()).digest()).decode()
REPORT_CSP = (
    f"default-src 'none'; img-src data:; style-src 'sha256-{_STYLE_HASH}'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


@api.get("/cases/{number:path}/timeline", summary="Everything done under a case, in time order")
async def case_timeline(number: str, who: Anyone, c: Ctx) -> dict[str, Any]:
    found = await anyio.to_thread.run_sync(
        lambda: case_report.case_timeline(c.store, who.user, number)
    )
    return found.as_json()


async def _cases_page(page: Page, status: int = 200, **values: Any) -> HTMLResponse:
    found = await anyio.to_thread.run_sync(lambda: cases.list_cases(page.c.store, page.who.user))
    user = page.who.user
    return page.render(
        "cases.html",
        status,
        cases=found,
        # the operator belongs to no organisation: it has no cases to open
        may_open=user.org is not None
        and (can(user.role, Permission.MANAGE_USERS) or can(user.role, Permission.SEARCH)),
        may_manage=can(user.role, Permission.MANAGE_USERS),
        sees_every_case=cases.sees_every_case(user),
        **values,
    )


@pages.get("/cases")
async def cases_page(page: AnyonePage) -> HTMLResponse:
    return await _cases_page(page)


@pages.post("/cases")
async def cases_open(
    page: CaseOpenerPage,
    number: Annotated[str, Form(max_length=200)] = "",
    title: Annotated[str, Form(max_length=200)] = "",
    legal_basis: Annotated[str, Form(max_length=2000)] = "",
    members: Annotated[str, Form(max_length=2000)] = "",
) -> HTMLResponse:
    """Open a case from the Cases page (members: names separated by commas or spaces)."""
    names = tuple(n for n in re.split(r"[,\s]+", members) if n)
    request = cases.OpenCaseRequest(number, title, legal_basis or None, names)
    try:
        case = await anyio.to_thread.run_sync(
            lambda: cases.open_case(page.c.store, page.who.user, request)
        )
    except FaceSearchError as exc:
        form = {"number": number, "title": title, "legal_basis": legal_basis, "members": members}
        return await _cases_page(page, classify(exc)[0], error=exc, form=form)
    return await _cases_page(page, message=f"case {case.number} opened")


@pages.post("/cases/{number:path}/{action}")
async def cases_action(
    number: str,
    action: str,
    page: AdminPage,
    name: Annotated[str, Form(max_length=64)] = "",
) -> HTMLResponse:
    """Close a case or add a member (admins)."""
    store, user = page.c.store, page.who.user
    try:
        if action == "close":
            await anyio.to_thread.run_sync(lambda: cases.close_case(store, user, number))
            message = f"case {number} closed: no new work under it"
        elif action == "members":
            await anyio.to_thread.run_sync(lambda: cases.add_member(store, user, number, name))
            message = f"{name} is a member of case {number}"
        else:
            raise NotFoundError(f"no action {action}")
    except FaceSearchError as exc:
        return await _cases_page(page, classify(exc)[0], error=exc)
    return await _cases_page(page, message=message)


async def _report(c: Context, who: Principal, number: str, fmt: case_report.ReportFormat) -> bytes:
    return await c.workers.on_engine(
        lambda engine: case_report_file(
            c.store, engine, c.workers.calibration, who.user, number, fmt
        )
    )


@pages.get("/cases/{number:path}/report")
async def case_report_html(number: str, who: Anyone, c: Ctx) -> HTMLResponse:
    page = await _report(c, who, number, "html")
    return HTMLResponse(page, headers={"Content-Security-Policy": REPORT_CSP})


@pages.get("/cases/{number:path}/report.pdf")
async def case_report_pdf(number: str, who: Anyone, c: Ctx) -> Response:
    data = await _report(c, who, number, "pdf")  # 503 without chromium (PdfUnavailableError)
    name = "case-" + re.sub(r"[^A-Za-z0-9._-]", "_", number) + ".pdf"
    headers = {"Content-Disposition": f'inline; filename="{name}"'}
    return Response(data, media_type="application/pdf", headers=headers)


# After the report routes: a number may hold "/" (2026/0042), so every route takes the rest
# of the path, and the first that matches wins (the case registry refuses numbers that end
# like a page of a case: ``cases.check_case_number``).
@pages.get("/cases/{number:path}")
async def case_page(number: str, page: AnyonePage) -> HTMLResponse:
    timeline = await anyio.to_thread.run_sync(
        lambda: case_report.case_timeline(page.c.store, page.who.user, number)
    )
    return page.render(
        "case.html", case=timeline.case, events=timeline.events, head=str(timeline.head)
    )


router = APIRouter()
router.include_router(api)
router.include_router(pages)
