"""The case registry (``/api/v1/cases``): the cases a user may see; admins open and close cases
and add members. Everything goes through ``app.cases`` (each change logged)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Form

from facesearch.accountability import Case
from facesearch.app import cases
from facesearch.server.deps import Admin, Anyone, CaseOpener, Ctx

api = APIRouter(prefix="/api/v1", tags=["cases"])


async def _view(fn: Callable[[], Case]) -> dict[str, Any]:
    """The JSON of the case ``fn`` returns, run off the event loop (the store blocks)."""
    return (await anyio.to_thread.run_sync(fn)).as_json()


@api.get("/cases", summary="The cases you are a member of (admins and auditors: every case)")
async def list_cases(who: Anyone, c: Ctx) -> dict[str, Any]:
    found = await anyio.to_thread.run_sync(lambda: cases.list_cases(c.store, who.user))
    return {"items": [case.as_json() for case in found]}


@api.post(
    "/cases",
    status_code=201,
    summary="Open a case (admins; investigators open cases of which they are members)",
)
async def open_case(
    who: CaseOpener,
    c: Ctx,
    number: Annotated[str, Form(max_length=200)],
    title: Annotated[str, Form(max_length=200)],
    legal_basis: Annotated[str | None, Form(max_length=2000)] = None,
    member: Annotated[list[str] | None, Form()] = None,
) -> dict[str, Any]:
    request = cases.OpenCaseRequest(number, title, legal_basis, tuple(member or ()))
    return await _view(lambda: cases.open_case(c.store, who.user, request))


@api.post("/cases/{number:path}/close", summary="Close a case: no new work under it")
async def close_case(number: str, who: Admin, c: Ctx) -> dict[str, Any]:
    return await _view(lambda: cases.close_case(c.store, who.user, number))


@api.post("/cases/{number:path}/members", summary="Make a user a member of an open case")
async def add_member(
    number: str, who: Admin, c: Ctx, name: Annotated[str, Form(max_length=64)]
) -> dict[str, Any]:
    return await _view(lambda: cases.add_member(c.store, who.user, number, name))


router = APIRouter()
router.include_router(api)
