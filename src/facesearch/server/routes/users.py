"""Users and API tokens, and the signed-in user (``/api/v1/users``, ``/api/v1/me``), and the
Users page. Accounts are read and changed through ``app.accounts`` (each change logged)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar

import anyio
from fastapi import APIRouter, Form
from fastapi.responses import HTMLResponse, Response

from facesearch.accountability import PERMISSIONS, Role
from facesearch.app import accounts, orgs
from facesearch.errors import FaceSearchError, InputError, NotFoundError
from facesearch.server import views
from facesearch.server.auth import ROLE_WORDS, Principal
from facesearch.server.context import Context
from facesearch.server.deps import Admin, AdminPage, Anyone, Ctx
from facesearch.server.rendering import Page

api = APIRouter(prefix="/api/v1", tags=["users"])
pages = APIRouter(include_in_schema=False)

T = TypeVar("T")


async def _blocking(fn: Callable[[], T]) -> T:
    return await anyio.to_thread.run_sync(fn)


def _view(account: accounts.Account) -> dict[str, Any]:
    return views.account_view(account.user, account.tokens, account.lockouts, datetime.now(UTC))


async def _accounts(c: Context, who: Principal) -> list[dict[str, Any]]:
    """Every account as the API and the Users page show it."""
    found = await _blocking(lambda: accounts.list_accounts(c.store, who.user))
    return [_view(a) for a in found]


async def _page_accounts(c: Context, who: Principal) -> list[dict[str, Any]]:
    """Every account as the Users page shows it: with ``may_set_password``, whether the
    viewer may give it a one-time password (the operator: an admin's or an operator's only),
    so that the form is shown only where it would be accepted."""
    found = await _blocking(lambda: accounts.list_accounts(c.store, who.user))
    return [
        _view(a) | {"may_set_password": accounts.may_set_password(who.user, a.user)} for a in found
    ]


async def _issue(c: Context, who: Principal, name: str) -> dict[str, Any]:
    issued = await _blocking(
        lambda: accounts.issue_token(c.store, who.user, name, presented=who.presented)
    )
    return {
        "name": issued.name,
        "token": issued.token,
        **views.token_view(issued.info),
        "shown_once": True,
    }


# --- JSON: users -----------------------------------------------------------------------------


@api.get("/users", summary="Every user account, its tokens and lockouts")
async def list_users(who: Admin, c: Ctx) -> dict[str, Any]:
    return {"items": await _accounts(c, who)}


@api.post("/users", status_code=201, summary="Add a user account")
async def create_user(
    who: Admin,
    c: Ctx,
    name: Annotated[str, Form(max_length=64)],
    role: Annotated[Role, Form()],
    password: Annotated[str, Form(max_length=1024)],
    org: Annotated[str | None, Form(max_length=64)] = None,
) -> dict[str, Any]:
    """``org``: the organisation of the new account (the operator names it; an admin's own
    is the default, another answers 404); none for an operator."""
    chosen = _org_choice(who, role, org)
    user = await _blocking(
        lambda: accounts.add_user(c.store, who.user, name, role, password, org=chosen)
    )
    return views.user_view(user, 0)


def _org_choice(who: Principal, role: Role | str, org: str | None) -> str | None:
    if str(role) == Role.OPERATOR.value:
        return None
    return org.strip() if org and org.strip() else who.user.org


@api.get("/users/{name}", summary="One user account, its tokens and lockouts")
async def get_user(name: str, who: Admin, c: Ctx) -> dict[str, Any]:
    return _view(await _blocking(lambda: accounts.get_account(c.store, who.user, name)))


@api.post(
    "/users/{name}/disable",
    summary="Disable an account (ends its sessions, revokes its API tokens for good)",
)
async def disable_user(name: str, who: Admin, c: Ctx) -> dict[str, Any]:
    user = await _blocking(lambda: accounts.disable_user(c.store, who.user, name))
    return views.user_view(user)


@api.post("/users/{name}/enable", summary="Enable an account again")
async def enable_user(name: str, who: Admin, c: Ctx) -> dict[str, Any]:
    user = await _blocking(lambda: accounts.enable_user(c.store, who.user, name))
    return views.user_view(user)


@api.post(
    "/users/{name}/password",
    summary=(
        "Set a user's password (ends their sessions, revokes their API tokens); one set for "
        "someone else is one-time: they choose their own at the next login"
    ),
)
async def set_password(
    name: str, who: Admin, c: Ctx, password: Annotated[str, Form(max_length=1024)]
) -> dict[str, Any]:
    one_time = await _blocking(lambda: accounts.set_password(c.store, who.user, name, password))
    return {"name": name, "password_set": True, "one_time": one_time}


@api.delete("/users/{name}/tokens", summary="Revoke every token of a user")
async def revoke_tokens(name: str, who: Admin, c: Ctx) -> dict[str, Any]:
    count = await _blocking(lambda: accounts.revoke_tokens(c.store, who.user, name))
    return {"name": name, "revoked": count}


# --- JSON: me --------------------------------------------------------------------------------


@api.get("/me", summary="Who you are and what you may do")
async def me(who: Anyone) -> dict[str, Any]:
    # Kept to what the request already knows (no second database read): clients call it often.
    return {
        **views.user_view(who.user),
        "via": who.via,
        "links": {"tokens": "/api/v1/me/tokens"},
    }


@api.get("/me/tokens", summary="Your API tokens: issued, expires, last used")
async def my_tokens(who: Anyone, c: Ctx) -> dict[str, Any]:
    tokens = await _blocking(lambda: accounts.my_tokens(c.store, who.user))
    return {"items": [views.token_view(t) for t in tokens]}


@api.post("/me/tokens", status_code=201, summary="Issue yourself an API token")
async def my_token(who: Anyone, c: Ctx) -> dict[str, Any]:
    return await _issue(c, who, who.name)


@api.delete("/me/tokens", summary="Revoke every token of yours")
async def revoke_my_tokens(who: Anyone, c: Ctx) -> dict[str, Any]:
    count = await _blocking(lambda: accounts.revoke_tokens(c.store, who.user, who.name))
    return {"name": who.name, "revoked": count}


# --- the Users page --------------------------------------------------------------------------


async def _users_page(page: Page, status: int = 200, **values: Any) -> HTMLResponse:
    policy = accounts.password_policy(page.c.store)
    values.setdefault("form", {})
    if page.who.user.role == Role.OPERATOR:  # the roles it may add; mostly a first admin
        roles = [r for r in Role if r in accounts.OPERATOR_MANAGES]
        default = Role.ADMIN
    else:  # the role with the fewest permissions first (least privilege)
        roles = [r for r in Role if r != Role.OPERATOR]
        default = min(roles, key=lambda role: len(PERMISSIONS[role]))
    return page.render(
        "users.html",
        status,
        users=await _page_accounts(page.c, page.who),
        roles=roles,
        orgs=await _blocking(lambda: [o.name for o in orgs.list_orgs(page.c.store, page.who.user)]),
        role_words=ROLE_WORDS,
        default_role=default,
        min_length=policy.min_password_length,
        min_score=policy.min_password_score,
        **values,
    )


@pages.get("/users")
async def users_page(page: AdminPage) -> HTMLResponse:
    return await _users_page(page)


@pages.post("/users")
async def users_add(
    page: AdminPage,
    name: Annotated[str, Form(max_length=64)] = "",
    role: Annotated[str, Form(max_length=20)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    org: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    store, user = page.c.store, page.who.user
    chosen = _org_choice(page.who, role, org)
    try:
        await _blocking(
            lambda: accounts.add_user(store, user, name.strip(), role, password, org=chosen)
        )
    except FaceSearchError as exc:
        form = {"name": name, "role": role, "org": org}
        return await _users_page(page, error=exc, form=form)
    return await _users_page(page, message=f"user {name.strip()} added")


@pages.post("/users/{name}/{action}")
async def users_action(
    name: str,
    action: str,
    page: AdminPage,
    password: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    c, who = page.c, page.who
    token = None
    try:
        if action == "password":  # someone else's: a one-time password (accounts.set_password)
            if name.lower() == who.name.lower():
                raise InputError(
                    "your own password: log out, then 'Change your password' on the login page"
                )
            await _blocking(lambda: accounts.set_password(c.store, who.user, name, password))
            message = (
                f"{name} has a one-time password now: give it to them; it lets them choose "
                "their own at their next login, and nothing else"
            )
        elif action == "disable":
            await _blocking(lambda: accounts.disable_user(c.store, who.user, name))
            message = f"{name} disabled"
        elif action == "enable":
            await _blocking(lambda: accounts.enable_user(c.store, who.user, name))
            message = f"{name} enabled"
        elif action == "revoke":
            n = await _blocking(lambda: accounts.revoke_tokens(c.store, who.user, name))
            message = f"{n} token(s) of {name} revoked"
        else:
            raise NotFoundError("no such action")
    except FaceSearchError as exc:
        return await _users_page(page, error=exc)
    return await _users_page(page, message=message, token=token)


router = APIRouter()
router.include_router(api)
router.include_router(pages)
