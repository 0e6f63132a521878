"""The web pages: server-rendered (Jinja2), plain forms, a little JavaScript on top.

Every page is built on the same services as the API, so a page shows what the API answers.
Forms post back to the page (CSRF token in a hidden field); a form error re-renders the form
with the message (status 4xx) rather than an error page.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

import anyio
from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from facesearch.accountability import PERMISSIONS, Action, AuditHead, Permission, Role
from facesearch.errors import FaceSearchError, InputError, NotFoundError
from facesearch.server import services, views
from facesearch.server.api_admin import load_account
from facesearch.server.auth import (
    LOGIN_COOKIE,
    ROLE_WORDS,
    SESSION_COOKIE,
    Principal,
    authenticated,
    check_login_token,
    client_address,
    needs,
    needs_any,
    new_login_token,
    optional_principal,
    safe_next,
)
from facesearch.server.context import Context, ctx
from facesearch.server.errors import classify
from facesearch.server.media import display_size

router = APIRouter(include_in_schema=False)

Anyone = Annotated[Principal, Depends(authenticated)]
Searcher = Annotated[Principal, Depends(needs(Permission.SEARCH))]
Reviewer = Annotated[Principal, Depends(needs(Permission.DECIDE))]
# Reading a search (its record, probe and candidates): reviewers, and auditors for oversight;
# which searches each may see is decided by usage.may_see_search.
SearchReader = Annotated[Principal, Depends(needs_any(Permission.DECIDE, Permission.READ_AUDIT))]
Auditor = Annotated[Principal, Depends(needs(Permission.READ_AUDIT))]
Admin = Annotated[Principal, Depends(needs(Permission.MANAGE_USERS))]
Reader = Annotated[Principal, Depends(needs(Permission.READ_GALLERY))]
Eraser = Annotated[Principal, Depends(needs(Permission.ERASE))]
Ingester = Annotated[Principal, Depends(needs(Permission.INGEST))]
Ctx = Annotated[Context, Depends(ctx)]
AUDIT_PAGE = 50
# The Users page offers the role with the fewest permissions first (least privilege).
LEAST_PRIVILEGED = min(Role, key=lambda role: len(PERMISSIONS[role]))


def render(
    c: Context,
    request: Request,
    template: str,
    who: Principal | None,
    status_code: int = 200,
    **values: Any,
) -> HTMLResponse:
    """A page. ``error`` may be the FaceSearchError the page shows: its status, message and
    headers (e.g. Retry-After) are then the API's for the same error (``classify``)."""
    headers: dict[str, str] = {}
    if isinstance(values.get("error"), FaceSearchError):
        status_code, _, values["error"], headers = classify(values["error"])
    values.setdefault("error", None)
    response: HTMLResponse = c.templates.TemplateResponse(
        request,
        template,
        {"principal": who, **values},
        status_code=status_code,
        headers=headers,
    )
    return response


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


# --- login ---------------------------------------------------------------------------------------


def _login_page(
    c: Context, request: Request, next_url: str, error: str | FaceSearchError | None = None
) -> HTMLResponse:
    token = new_login_token()
    response = render(
        c,
        request,
        "login.html",
        optional_principal(request),
        error=error,
        login_token=token,
        next_url=next_url,
    )
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        path="/login",
        max_age=3600,
    )
    return response


@router.get("/login")
async def login_page(request: Request, c: Ctx, next: str | None = None) -> HTMLResponse:
    return _login_page(c, request, safe_next(next, ""))


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
        user = await anyio.to_thread.run_sync(
            lambda: c.store.accounts.check_password(
                name.strip(), password, client=client_address(request.scope)
            )
        )
        session_id, csrf = await anyio.to_thread.run_sync(
            c.store.accounts.create_session, user.name
        )
    except FaceSearchError as exc:
        return _login_page(c, request, safe_next(next, ""), exc)
    who = Principal(user, "session", csrf, session_id)
    response = RedirectResponse(safe_next(next, who.home), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        path="/",
    )
    response.delete_cookie(LOGIN_COOKIE, path="/login")
    return response


@router.post("/logout")
async def logout(who: Anyone, c: Ctx) -> Response:
    if who.session_id:
        await anyio.to_thread.run_sync(c.store.accounts.end_session, who.session_id)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/")
async def home(who: Anyone) -> Response:
    return RedirectResponse(who.home, status_code=303)


# --- search --------------------------------------------------------------------------------------


async def _search_page(
    c: Context, request: Request, who: Principal, status: int = 200, **values: Any
) -> HTMLResponse:
    pending = await services.pending(c, who)
    recent = await services.recent_searches(c, who)
    collections = await c.workers.on_catalog(lambda cat: cat.collections())
    values.setdefault("form", {})
    return render(
        c,
        request,
        "search.html",
        who,
        status,
        pending=pending,
        recent=recent,
        collections=collections,
        **values,
    )


@router.get("/search")
async def search_page(request: Request, who: Searcher, c: Ctx) -> HTMLResponse:
    return await _search_page(c, request, who)


@router.post("/search")
async def search_submit(
    request: Request,
    who: Searcher,
    c: Ctx,
    photo: Annotated[UploadFile | None, File()] = None,
    case: Annotated[str, Form(max_length=400)] = "",
    purpose: Annotated[str, Form(max_length=4000)] = "",
    face: Annotated[str, Form(max_length=8)] = "",
    top: Annotated[str, Form(max_length=8)] = "",
    collection: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    form = {"case": case, "purpose": purpose, "top": top, "collection": collection}
    try:
        face_no = _optional_int(face, "face")
        top_no = _optional_int(top, "number of candidates")
        result = await services.search(
            c,
            who,
            photo if photo and photo.filename else None,
            case=case,
            purpose=purpose,
            face=face_no,
            top=top_no,
            collections=[collection] if collection else None,
        )
    except FaceSearchError as exc:
        return await _search_page(c, request, who, error=exc, form=form)
    return RedirectResponse(f"/searches/{result['id']}", status_code=303)


def _optional_int(text: str, what: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    if not re.fullmatch(r"\d{1,6}", text):
        raise InputError(f"{what} must be a whole number")
    return int(text)


@router.get("/searches/{search_id:int}")
async def search_result(
    search_id: int, request: Request, who: SearchReader, c: Ctx, face: int | None = None
) -> HTMLResponse:
    search = await services.read_search(c, who, search_id, "search_page", face)
    shown = [f for f in search["faces"] if face is None or f["face"] == face] or search["faces"]
    size = None
    if search["probe"]["kept"]:
        sha = search["probe"]["sha256"]
        try:  # only its size, to draw the face boxes: the image itself is read (and logged) apart
            data = await anyio.to_thread.run_sync(c.store.probes.get, sha)
            size = display_size(data)
        except NotFoundError:
            size = None
    return render(c, request, "result.html", who, search=search, shown=shown, probe_size=size)


@router.get("/searches/{search_id:int}/candidates/{face_id:int}")
async def candidate_page(
    search_id: int, face_id: int, request: Request, who: SearchReader, c: Ctx
) -> HTMLResponse:
    return await _candidate_page(c, request, who, search_id, face_id)


async def _candidate_page(
    c: Context,
    request: Request,
    who: Principal,
    search_id: int,
    face_id: int,
    error: FaceSearchError | None = None,
) -> HTMLResponse:
    out, search = await services.read_candidate(c, who, search_id, face_id, "candidate_page")
    mine = {h["verdict"] for h in out["history"] if h["actor"] == who.name}
    return render(
        c,
        request,
        "candidate.html",
        who,
        cand=out,
        search=search,
        mine=mine,
        error=error,
    )


@router.post("/searches/{search_id:int}/candidates/{face_id:int}")
async def candidate_decide(
    search_id: int,
    face_id: int,
    request: Request,
    who: Reviewer,
    c: Ctx,
    verdict: Annotated[str, Form(max_length=40)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    try:
        await services.decide(c, who, search_id, face_id, verdict, note)
    except FaceSearchError as exc:
        return await _candidate_page(c, request, who, search_id, face_id, exc)
    return RedirectResponse(f"/searches/{search_id}/candidates/{face_id}", status_code=303)


# --- audit ---------------------------------------------------------------------------------------


@router.get("/audit")
async def audit_page(
    request: Request,
    who: Auditor,
    c: Ctx,
    actor: Annotated[str, Query(max_length=128)] = "",
    action: Annotated[str, Query(max_length=40)] = "",
    case: Annotated[str, Query(max_length=200)] = "",
    since: Annotated[str, Query(max_length=40)] = "",
    until: Annotated[str, Query(max_length=40)] = "",
    page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
    verify: Annotated[str, Query(max_length=100)] = "",
) -> HTMLResponse:
    filters = {"actor": actor, "action": action, "case": case, "since": since, "until": until}
    error = None
    entries: list[Any] = []
    report = None
    try:
        chosen = Action(action) if action else None
        start = _day(since, "since", end=False)
        end = _day(until, "until", end=True)
        entries = await anyio.to_thread.run_sync(
            lambda: c.store.audit.entries(
                actor=actor.strip() or None,
                action=chosen,
                case=case.strip() or None,
                since=start,
                until=end,
                limit=AUDIT_PAGE + 1,
                offset=(page - 1) * AUDIT_PAGE,
            )
        )
        if verify:
            anchor = AuditHead.parse(verify) if ":" in verify else None
            report = await anyio.to_thread.run_sync(c.store.verify, anchor)
    except ValueError:
        error = "unknown action"
    except FaceSearchError as exc:
        error = classify(exc)[2]
    head = await anyio.to_thread.run_sync(c.store.audit.head)
    return render(
        c,
        request,
        "audit.html",
        who,
        422 if error else 200,
        error=error,
        entries=[views.entry_view(e) for e in entries[:AUDIT_PAGE]],
        more=len(entries) > AUDIT_PAGE,
        page=page,
        filters=filters,
        actions=[a.value for a in Action],
        head=head,
        report=report,
        summarise=audit_summary,
        query=lambda n: urlencode({**filters, "page": n}),
    )


def audit_summary(entry: dict[str, Any]) -> str:
    """One line about an entry's payload, for the audit page."""
    p = entry.get("payload", {})
    action = entry.get("action")
    if action == "search" and p.get("outcome", "ok") != "ok":
        return f"failed: {p.get('outcome')}: {p.get('error', '')}"
    if action == "read":
        ids = ", ".join(f"{k} {v}" for k, v in p.items() if k != "what" and not isinstance(v, list))
        return f"read {str(p.get('what', '')).replace('_', ' ')}" + (f": {ids}" if ids else "")
    if action == "search":
        faces = p.get("probe_faces", [])
        sizes = sum(int(c.get("size", 0)) for c in p.get("collections", []))
        return (
            f"{len(p.get('candidates', []))} candidates for {len(faces)} probe face(s) among "
            f"{sizes} faces; probe {str(p.get('probe_sha256', ''))[:12]}"
        )
    if action == "decision":
        return (
            f"search {p.get('search_seq')}, face {p.get('face_id')}: "
            f"{str(p.get('verdict', '')).replace('_', ' ')} "
            f"({p.get('status_before')} -> {p.get('status_after')})"
            + (f"; note: {p['note']}" if p.get("note") else "")
        )
    if action == "verify":
        return f"similarity {p.get('similarity')}, same person: {p.get('same_person')}"
    if action == "erase":
        counts = ", ".join(f"{v} {k}" for k, v in p.get("counts", {}).items())
        return f"{counts}; reason: {p.get('reason', '')}"
    if action == "ingest":
        return (
            f"{p.get('images_added')} images, {p.get('faces_added')} faces into "
            f"{p.get('collection')}; {p.get('failed')} failed"
        )
    text = ", ".join(f"{k}={v}" for k, v in p.items() if not isinstance(v, dict | list))
    return text[:200]


def _day(text: str, what: str, *, end: bool) -> Any:
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


# --- users ---------------------------------------------------------------------------------------


async def _users_page(
    c: Context, request: Request, who: Principal, status: int = 200, **values: Any
) -> HTMLResponse:
    def load() -> list[dict[str, Any]]:
        locks = c.store.accounts.lockouts()
        return [load_account(c, u, locks) for u in c.store.accounts.users()]

    users = await anyio.to_thread.run_sync(load)
    values.setdefault("form", {})
    return render(
        c,
        request,
        "users.html",
        who,
        status,
        users=users,
        roles=list(Role),
        role_words=ROLE_WORDS,
        default_role=LEAST_PRIVILEGED,
        min_length=c.store.accounts.policy.min_password_length,
        min_score=c.store.accounts.policy.min_password_score,
        **values,
    )


@router.get("/users")
async def users_page(request: Request, who: Admin, c: Ctx) -> HTMLResponse:
    return await _users_page(c, request, who)


@router.post("/users")
async def users_add(
    request: Request,
    who: Admin,
    c: Ctx,
    name: Annotated[str, Form(max_length=64)] = "",
    role: Annotated[str, Form(max_length=20)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    try:
        await anyio.to_thread.run_sync(
            lambda: c.store.accounts.add_user(name.strip(), role, password, by=who.user)
        )
    except FaceSearchError as exc:
        form = {"name": name, "role": role}
        return await _users_page(c, request, who, error=exc, form=form)
    return await _users_page(c, request, who, message=f"user {name.strip()} added")


@router.post("/users/{name}/{action}")
async def users_action(name: str, action: str, request: Request, who: Admin, c: Ctx) -> Response:
    accounts = c.store.accounts
    token = None
    try:
        if action == "disable":
            await anyio.to_thread.run_sync(lambda: accounts.disable_user(name, by=who.user))
            message = f"{name} disabled"
        elif action == "enable":
            await anyio.to_thread.run_sync(lambda: accounts.enable_user(name, by=who.user))
            message = f"{name} enabled"
        elif action == "token":
            token = await anyio.to_thread.run_sync(lambda: accounts.issue_token(name, by=who.user))
            message = f"new API token for {name}: copy it now, it is shown only once"
        elif action == "revoke":
            n = await anyio.to_thread.run_sync(lambda: accounts.revoke_tokens(name, by=who.user))
            message = f"{n} token(s) of {name} revoked"
        else:
            raise NotFoundError("no such action")
    except FaceSearchError as exc:
        return await _users_page(c, request, who, error=exc)
    return await _users_page(c, request, who, message=message, token=token)


# --- gallery, erasure, ingest --------------------------------------------------------------------


async def _gallery_page(
    c: Context, request: Request, who: Principal, status: int = 200, **values: Any
) -> HTMLResponse:
    stats = await c.workers.on_catalog(lambda cat: cat.stats())
    collections = await c.workers.on_catalog(lambda cat: cat.collections())
    return render(
        c,
        request,
        "gallery.html",
        who,
        status,
        stats=stats,
        collections=collections,
        model_id=c.workers.model_id,
        **values,
    )


@router.get("/gallery")
async def gallery_page(request: Request, who: Reader, c: Ctx) -> HTMLResponse:
    return await _gallery_page(c, request, who)


@router.post("/gallery/erase")
async def gallery_erase(
    request: Request,
    who: Eraser,
    c: Ctx,
    face_ids: Annotated[str, Form(max_length=10_000)] = "",
    image_id: Annotated[str, Form(max_length=20)] = "",
    subject: Annotated[str, Form(max_length=200)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
    case: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    form = {
        "face_ids": face_ids,
        "image_id": image_id,
        "subject": subject,
        "reason": reason,
        "case": case,
    }
    try:
        ids = [int(x) for x in re.split(r"[,\s]+", face_ids.strip()) if x] if face_ids else None
        image = _optional_int(image_id, "image id")
        result = await services.erase(
            c,
            who,
            reason=reason,
            face_ids=ids,
            image_id=image,
            subject=subject.strip() or None,
            case=case or None,
        )
    except ValueError:
        return await _gallery_page(
            c, request, who, 422, error="face ids are whole numbers", form=form
        )
    except FaceSearchError as exc:
        return await _gallery_page(c, request, who, error=exc, form=form)
    return await _gallery_page(c, request, who, erased=result)


@router.get("/ingest")
async def ingest_page(request: Request, who: Ingester, c: Ctx) -> HTMLResponse:
    jobs = [j.view() for j in c.jobs.all()]
    return render(c, request, "ingest.html", who, jobs=jobs, form={})


@router.post("/ingest")
async def ingest_submit(
    request: Request,
    who: Ingester,
    c: Ctx,
    files: Annotated[list[UploadFile] | None, File()] = None,
    collection: Annotated[str, Form(max_length=200)] = "default",
    label_from_dir: Annotated[bool, Form()] = False,
    subject: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    form = {"collection": collection, "label_from_dir": label_from_dir, "subject": subject}
    try:
        job = await services.start_ingest(
            c,
            who,
            files or [],
            collection=collection,
            label_from_dir=label_from_dir,
            subject=subject,
        )
    except FaceSearchError as exc:
        jobs = [j.view() for j in c.jobs.all()]
        return render(c, request, "ingest.html", who, jobs=jobs, form=form, error=exc)
    return RedirectResponse(f"/ingest/{job.id}", status_code=303)


@router.get("/ingest/{job_id}")
async def ingest_job_page(job_id: str, request: Request, who: Ingester, c: Ctx) -> HTMLResponse:
    job = c.jobs.get(job_id) if re.fullmatch(r"[0-9a-f]{16}", job_id) else None
    if job is None:
        raise NotFoundError(f"no ingest job {job_id}")
    return render(c, request, "ingest_job.html", who, job=job.view())
