"""Pages: log in, log out, and the home page (``/``: where each role starts)."""

from __future__ import annotations

from typing import Annotated

import anyio
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from facesearch.app import accounts, sessions
from facesearch.errors import FaceSearchError, InputError, PasswordChangeRequiredError
from facesearch.server.auth import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    Principal,
    check_login_token,
    client_address,
    new_login_token,
    optional_principal,
    safe_next,
)
from facesearch.server.context import Context
from facesearch.server.deps import Anyone, Ctx
from facesearch.server.rendering import render, secure

router = APIRouter(include_in_schema=False)


def _login_page(
    c: Context,
    request: Request,
    next_url: str,
    error: str | FaceSearchError | None = None,
    *,
    choose_for: str | None = None,
    one_time: bool = False,
    name: str = "",
) -> HTMLResponse:
    """The login form (``name``: the user name typed before, kept after a failed login); with
    ``choose_for`` (a user name, or "" for none yet), the form that logs in with the password
    one has and sets a new one of one's own (``one_time``: the password one has is a one-time
    one an admin set)."""
    token = new_login_token()
    policy = accounts.password_policy(c.store)
    response = render(
        c,
        request,
        "login.html",
        optional_principal(request),
        error=error,
        login_token=token,
        next_url=next_url,
        choose_for=choose_for,
        one_time=one_time,
        name=name,
        min_length=policy.min_password_length,
        min_score=policy.min_password_score,
    )
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=secure(request),
        path="/login",
        max_age=3600,
    )
    return response


@router.get("/login")
async def login_page(
    request: Request, c: Ctx, next: str | None = None, change: bool = False
) -> HTMLResponse:
    """The login form (``change``: the form to change one's password as one logs in)."""
    return _login_page(c, request, safe_next(next, ""), choose_for="" if change else None)


@router.post("/login")
async def login(
    request: Request,
    c: Ctx,
    name: Annotated[str, Form(max_length=128)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    login_token: Annotated[str, Form(max_length=128)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    try:
        check_login_token(request, login_token)
        client = client_address(request.scope)
        session = await anyio.to_thread.run_sync(
            lambda: sessions.login(c.store, name.strip(), password, client=client)
        )
    except PasswordChangeRequiredError as exc:
        return _login_page(
            c, request, safe_next(next, ""), exc, choose_for=name.strip(), one_time=True
        )
    except FaceSearchError as exc:  # the name stays typed in; the password does not
        return _login_page(c, request, safe_next(next, ""), exc, name=name.strip())
    return _logged_in(request, session, next)


@router.post("/login/new-password")
async def login_with_new_password(
    request: Request,
    c: Ctx,
    name: Annotated[str, Form(max_length=128)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    new_password: Annotated[str, Form(max_length=1024)] = "",
    new_password_again: Annotated[str, Form(max_length=1024)] = "",
    login_token: Annotated[str, Form(max_length=128)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
    one_time: Annotated[bool, Form()] = False,
) -> Response:
    """Log in with the password one has (a one-time one an admin set, or one's own) and
    replace it with a new one of one's own (``one_time``: how the form speaks of it)."""
    try:
        check_login_token(request, login_token)
        if new_password != new_password_again:
            raise InputError("the two new passwords differ")
        client = client_address(request.scope)
        session = await anyio.to_thread.run_sync(
            lambda: sessions.login_with_new_password(
                c.store, name.strip(), password, new_password, client=client
            )
        )
    except FaceSearchError as exc:  # the same form again (a mistyped password, a weak one)
        return _login_page(
            c, request, safe_next(next, ""), exc, choose_for=name.strip(), one_time=one_time
        )
    return _logged_in(request, session, next)


def _logged_in(request: Request, session: sessions.Session, next: str) -> Response:
    """The answer to a login that opened ``session``: its cookie, and on to ``next``."""
    who = Principal(session.user, "session", session.csrf, session.id)
    response = RedirectResponse(safe_next(next, who.home), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        session.id,
        httponly=True,
        samesite="strict",
        secure=secure(request),
        path="/",
    )
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


@router.post("/logout")
async def logout(who: Anyone, c: Ctx) -> Response:
    if who.session_id:
        session_id = who.session_id
        await anyio.to_thread.run_sync(lambda: sessions.end_session(c.store, session_id))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/logout")
async def logout_page(request: Request, who: Anyone, c: Ctx) -> HTMLResponse:
    """Logging out is a POST with the session's CSRF token (the Log out button): a link or a
    typed address (GET) says so, with the button, instead of a bare 405."""
    return render(c, request, "logout.html", who)


@router.get("/")
async def home(who: Anyone) -> Response:
    return RedirectResponse(who.home, status_code=303)
