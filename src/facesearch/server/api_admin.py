"""API: users and tokens, the signed-in user, the audit trail, settings (``/api/v1``)."""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Depends, Form, Query
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from facesearch.accountability import Action, AuditHead, LoginLock, Permission, Role, User
from facesearch.errors import InputError
from facesearch.server import views
from facesearch.server.auth import Principal, authenticated, needs
from facesearch.server.context import Context, ctx
from facesearch.settings import Settings
from facesearch.types import MAX_ID

router = APIRouter(prefix="/api/v1")

Admin = Annotated[Principal, Depends(needs(Permission.MANAGE_USERS))]
Auditor = Annotated[Principal, Depends(needs(Permission.READ_AUDIT))]
SettingsAdmin = Annotated[Principal, Depends(needs(Permission.MANAGE_SETTINGS))]
Anyone = Annotated[Principal, Depends(authenticated)]
Ctx = Annotated[Context, Depends(ctx)]


async def _blocking(fn: Any, *args: Any) -> Any:
    return await anyio.to_thread.run_sync(fn, *args)


# --- users ---------------------------------------------------------------------------------


def load_account(c: Context, user: User, locks: list[LoginLock] | None = None) -> dict[str, Any]:
    """``views.account_view`` of a user (``locks``: ``lockouts()``, read once for a list)."""
    if locks is None:
        locks = c.store.accounts.lockouts()
    tokens = c.store.accounts.tokens(user.name)
    return views.account_view(user, tokens, locks, datetime.now(UTC))


@router.get("/users", tags=["users"], summary="Every user account, its tokens and lockouts")
async def list_users(who: Admin, c: Ctx) -> dict[str, Any]:
    def make() -> list[dict[str, Any]]:
        locks = c.store.accounts.lockouts()
        return [load_account(c, u, locks) for u in c.store.accounts.users()]

    return {"items": await _blocking(make)}


@router.post("/users", tags=["users"], status_code=201, summary="Add a user account")
async def create_user(
    who: Admin,
    c: Ctx,
    name: Annotated[str, Form(max_length=64)],
    role: Annotated[Role, Form()],
    password: Annotated[str, Form(max_length=1024)],
) -> dict[str, Any]:
    user = await _blocking(lambda: c.store.accounts.add_user(name, role, password, by=who.user))
    return views.user_view(user, 0)


@router.get("/users/{name}", tags=["users"], summary="One user account, its tokens and lockouts")
async def get_user(name: str, who: Admin, c: Ctx) -> dict[str, Any]:
    out: dict[str, Any] = await _blocking(lambda: load_account(c, c.store.accounts.get_user(name)))
    return out


@router.post(
    "/users/{name}/disable",
    tags=["users"],
    summary="Disable an account (ends its sessions, revokes its API tokens for good)",
)
async def disable_user(name: str, who: Admin, c: Ctx) -> dict[str, Any]:
    user = await _blocking(lambda: c.store.accounts.disable_user(name, by=who.user))
    return views.user_view(user)


@router.post("/users/{name}/enable", tags=["users"], summary="Enable an account again")
async def enable_user(name: str, who: Admin, c: Ctx) -> dict[str, Any]:
    user = await _blocking(lambda: c.store.accounts.enable_user(name, by=who.user))
    return views.user_view(user)


@router.post(
    "/users/{name}/password",
    tags=["users"],
    summary="Set a user's password (ends their sessions, revokes their API tokens)",
)
async def set_password(
    name: str, who: Admin, c: Ctx, password: Annotated[str, Form(max_length=1024)]
) -> dict[str, Any]:
    await _blocking(lambda: c.store.accounts.set_password(name, password, by=who.user))
    return {"name": name, "password_set": True}


@router.post("/users/{name}/tokens", tags=["users"], status_code=201, summary="Issue an API token")
async def issue_token(name: str, who: Admin, c: Ctx) -> dict[str, Any]:
    return await _issue(c, name, who)


async def _issue(c: Context, name: str, who: Principal) -> dict[str, Any]:
    def issue() -> dict[str, Any]:
        token = c.store.accounts.issue_token(name, by=who.user)
        info = views.token_view(c.store.accounts.tokens(name)[-1])
        return {"name": name, "token": token, **info, "shown_once": True}

    out: dict[str, Any] = await _blocking(issue)
    return out


@router.delete("/users/{name}/tokens", tags=["users"], summary="Revoke every token of a user")
async def revoke_tokens(name: str, who: Admin, c: Ctx) -> dict[str, Any]:
    count: int = await _blocking(lambda: c.store.accounts.revoke_tokens(name, by=who.user))
    return {"name": name, "revoked": count}


# --- me ------------------------------------------------------------------------------------


@router.get("/me", tags=["users"], summary="Who you are and what you may do")
async def me(who: Anyone) -> dict[str, Any]:
    # Kept to what the request already knows (no second database read): clients call it often.
    return {
        **views.user_view(who.user),
        "via": who.via,
        "links": {"tokens": "/api/v1/me/tokens"},
    }


@router.get("/me/tokens", tags=["users"], summary="Your API tokens: issued, expires, last used")
async def my_tokens(who: Anyone, c: Ctx) -> dict[str, Any]:
    tokens = await _blocking(c.store.accounts.tokens, who.name)
    return {"items": [views.token_view(t) for t in tokens]}


@router.post("/me/tokens", tags=["users"], status_code=201, summary="Issue yourself an API token")
async def my_token(who: Anyone, c: Ctx) -> dict[str, Any]:
    return await _issue(c, who.name, who)


@router.delete("/me/tokens", tags=["users"], summary="Revoke every token of yours")
async def revoke_my_tokens(who: Anyone, c: Ctx) -> dict[str, Any]:
    count: int = await _blocking(lambda: c.store.accounts.revoke_tokens(who.name, by=who.user))
    return {"name": who.name, "revoked": count}


# --- audit ---------------------------------------------------------------------------------


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


@router.get("/audit", tags=["audit"], summary="Audit entries, oldest first, with filters")
async def list_audit(
    who: Auditor,
    c: Ctx,
    actor: Annotated[str | None, Query(max_length=128)] = None,
    action: Annotated[Action | None, Query()] = None,
    case: Annotated[str | None, Query(max_length=200)] = None,
    since: Annotated[str | None, Query(description="ISO time, inclusive")] = None,
    until: Annotated[str | None, Query(description="ISO time, exclusive")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> dict[str, Any]:
    start, end = _time(since, "since"), _time(until, "until")

    def make() -> dict[str, Any]:
        entries = c.store.audit.entries(
            actor=actor or None,
            action=action,
            case=case or None,
            since=start,
            until=end,
            limit=limit,
            offset=offset,
        )
        head = c.store.audit.head()
        return {
            "items": [views.entry_view(e) for e in entries],
            "limit": limit,
            "offset": offset,
            "head": {"seq": head.seq, "hash": head.hash},
        }

    out: dict[str, Any] = await _blocking(make)
    return out


@router.get("/audit/head", tags=["audit"], summary="Seq and hash of the last entry (anchor)")
async def audit_head(who: Auditor, c: Ctx) -> dict[str, Any]:
    head = await _blocking(c.store.audit.head)
    return {"seq": head.seq, "hash": head.hash, "anchor": str(head)}


@router.get(
    "/audit/verify",
    tags=["audit"],
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
    report = await _blocking(lambda: c.store.verify(expected, anchor_lost=anchor_lost))
    return {
        "ok": report.ok,
        "entries": report.entries,
        "head": {"seq": report.head.seq, "hash": report.head.hash},
        "breaks": [
            {"kind": b.kind.value, "first": b.first, "last": b.last, "detail": b.detail}
            for b in report.breaks
        ],
        "warnings": [
            {"kind": b.kind.value, "first": b.first, "last": b.last, "detail": b.detail}
            for b in report.warnings
        ],
        "omitted": report.omitted,
        "summary": report.summary(),
    }


@router.get(
    "/audit/export",
    tags=["audit"],
    summary="Export entries as CSV or JSON lines (the export is itself logged)",
    response_class=FileResponse,
)
async def audit_export(
    who: Auditor,
    c: Ctx,
    format: Annotated[Literal["csv", "jsonl"], Query()] = "jsonl",
    actor: Annotated[str | None, Query(max_length=128)] = None,
    action: Annotated[Action | None, Query()] = None,
    case: Annotated[str | None, Query(max_length=200)] = None,
    since: Annotated[str | None, Query()] = None,
    until: Annotated[str | None, Query()] = None,
) -> FileResponse:
    start, end = _time(since, "since"), _time(until, "until")
    fd, name = tempfile.mkstemp(prefix="facesearch-audit-", suffix="." + format)

    def write() -> None:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            c.store.audit.export(
                format,
                out,
                actor=who.name,
                filter_actor=actor or None,
                filter_action=action,
                filter_case=case or None,
                since=start,
                until=end,
            )

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


@router.get("/audit/{seq:int}", tags=["audit"], summary="One audit entry")
async def get_audit_entry(seq: int, who: Auditor, c: Ctx) -> dict[str, Any]:
    return views.entry_view(await _blocking(c.store.audit.get, seq))


# --- settings --------------------------------------------------------------------------------


@router.get("/settings", tags=["settings"], summary="The server's settings (read-only)")
async def get_settings(who: SettingsAdmin, c: Ctx) -> dict[str, Any]:
    items = []
    for key, (env, _, doc) in zip(Settings.keys(), Settings.describe(), strict=True):
        value = c.settings.value(key)
        items.append(
            {
                "name": key,
                "env": env,
                "value": value if isinstance(value, int | float | bool) else str(value),
                "doc": doc,
            }
        )
    return {
        "items": items,
        "note": "Settings come from FACESEARCH_* environment variables; restart to change them.",
    }
