"""Organisations (``/api/v1/orgs``) and collection shares; the Organisations page.

The platform operator creates organisations and sets their quotas and policies; an
organisation's admin sees its own, changes its policies and shares its collections read-only
with another organisation. Another organisation's name answers 404, as an unknown one.
Everything goes through ``app.orgs`` (each change an audit entry).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import anyio
from fastapi import APIRouter, Body, Form
from fastapi.responses import HTMLResponse, Response

from facesearch.accountability import Role
from facesearch.accountability.orgs import OrgPolicy
from facesearch.app import orgs
from facesearch.errors import FaceSearchError, InputError
from facesearch.server.deps import Anyone, Ctx, Operator, PolicySetter, PolicySetterPage, Sharer

api = APIRouter(prefix="/api/v1", tags=["organisations"])
pages = APIRouter(include_in_schema=False)

T = TypeVar("T")


async def _blocking(fn: Callable[[], T]) -> T:
    return await anyio.to_thread.run_sync(fn)


def _quota(text: str | None) -> int | None:
    if text is None or not text.strip() or text.strip().lower() == "none":
        return None
    try:
        return int(text.strip().replace(",", ""))
    except ValueError as exc:
        raise InputError(f"a face quota is a whole number or none, not {text!r}") from exc


@api.get("/orgs", summary="The organisations you may see (the operator: every one)")
async def list_orgs(who: Anyone, c: Ctx) -> dict[str, Any]:
    found = await _blocking(lambda: orgs.list_orgs(c.store, who.user))
    return {"items": [o.as_json() for o in found]}


@api.post("/orgs", status_code=201, summary="Create an organisation (the platform operator)")
async def create_org(
    who: Operator,
    c: Ctx,
    name: Annotated[str, Form(max_length=64)],
    quota_faces: Annotated[str | None, Form(max_length=20)] = None,
) -> dict[str, Any]:
    quota = _quota(quota_faces)
    made = await _blocking(lambda: orgs.add_org(c.store, who.user, name, quota_faces=quota))
    return made.as_json()


@api.get("/orgs/{name}", summary="One organisation, its quota and policies")
async def get_org(name: str, who: Anyone, c: Ctx) -> dict[str, Any]:
    return (await _blocking(lambda: orgs.get_org(c.store, who.user, name))).as_json()


@api.patch("/orgs/{name}", summary="Change an organisation's policies (and, the operator, quota)")
async def change_org(
    name: str,
    who: PolicySetter,
    c: Ctx,
    changes: Annotated[dict[str, Any], Body()],
) -> dict[str, Any]:
    if len(changes) > 20:
        raise InputError("at most 20 changes at once")
    policy = {k: v for k, v in changes.items() if k != "quota_faces"}
    quota: int | str | None = "unchanged"
    if "quota_faces" in changes:
        raw = changes["quota_faces"]
        quota = None if raw is None else _quota(str(raw))
    done = await _blocking(
        lambda: orgs.change_org(c.store, who.user, name, policy=policy, quota_faces=quota)
    )
    return done.as_json()


@api.put(
    "/collections/{name}/shares/{org}",
    summary="Share a collection of yours read-only with another organisation",
)
async def share(name: str, org: str, who: Sharer, c: Ctx) -> dict[str, Any]:
    changed = await c.workers.on_catalog(lambda cat: orgs.share(c.store, cat, who.user, name, org))
    return {"collection": name, "shared_with": org, "changed": changed}


@api.delete("/collections/{name}/shares/{org}", summary="Withdraw a share")
async def unshare(name: str, org: str, who: Sharer, c: Ctx) -> dict[str, Any]:
    changed = await c.workers.on_catalog(
        lambda cat: orgs.unshare(c.store, cat, who.user, name, org)
    )
    return {"collection": name, "withdrawn_from": org, "changed": changed}


# --- the Organisations page ---------------------------------------------------------------


async def _page(page: PolicySetterPage, status: int = 200, **values: Any) -> HTMLResponse:
    found = await _blocking(lambda: orgs.list_orgs(page.c.store, page.who.user))
    return page.render(
        "orgs.html",
        status,
        orgs=found,
        operator=page.who.user.role == Role.OPERATOR,
        policy_keys=list(OrgPolicy().as_json()),
        **values,
    )


@pages.get("/orgs")
async def orgs_page(page: PolicySetterPage) -> HTMLResponse:
    return await _page(page)


@pages.post("/orgs")
async def orgs_add(
    page: PolicySetterPage,
    name: Annotated[str, Form(max_length=64)] = "",
    quota_faces: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    try:
        quota = _quota(quota_faces)
        await _blocking(
            lambda: orgs.add_org(page.c.store, page.who.user, name.strip(), quota_faces=quota)
        )
    except FaceSearchError as exc:
        return await _page(page, 400, error=exc)
    return await _page(page, message=f"organisation {name.strip()} created")


@pages.post("/orgs/{name}/policy")
async def orgs_policy(
    name: str,
    page: PolicySetterPage,
    key: Annotated[str, Form(max_length=40)] = "",
    value: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    try:
        change = {key: None if value.strip().lower() in ("", "none") else value.strip()}
        await _blocking(lambda: orgs.change_org(page.c.store, page.who.user, name, policy=change))
    except FaceSearchError as exc:
        return await _page(page, 400, error=exc)
    return await _page(page, message=f"{name}: {key} set")


router = APIRouter()
router.include_router(api)
router.include_router(pages)
