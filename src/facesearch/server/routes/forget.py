"""Erase by photo ("forget faces like this photo") in the Gallery pages, admins only
(permission ``erase``), in two steps:

1. ``GET /gallery/forget`` asks for the photo; ``POST /gallery/forget`` lists every gallery
   face the erasure would remove now, with its crop, image and subject (``app.browse.
   erase_preview``: the selection ``forget --like`` makes; logged as a read), with the reason
   and case given, to confirm. The photo waits in the server's memory (``server.drafts``),
   for this user only.
2. ``POST /gallery/forget/confirm`` erases with that photo and false match rate through
   ``app.erase`` (the erasure of ``facesearch forget --like`` and ``POST /api/v1/erasures``:
   catalog, vector store, blocklist, kept probe photos like it, uploaded copies; one ``erase``
   audit entry), and shows what it did, as that erasure reports it.

When the preview says the erasure would take too many faces of other people
(``FACESEARCH_ERASE_LIKE_MAX_STRANGERS``), it offers no confirm: the admin ticks the faces they
have checked are the person, and ``POST /gallery/forget/selected`` erases those by id (an
``erase`` entry like ``forget --face``; the photo is not blocklisted); or ``POST
/gallery/forget/again`` previews the same photo at the stricter rate the refusal suggests, or
opens the form for another photo, the reason and case kept either way. When that preview fails
(a rate below what the calibration resolves, say), the photo stays held and the page shows the
error with the same two choices, the rate typed in a field.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.responses import HTMLResponse

from facesearch import app
from facesearch.app.vector_erasure import VectorStoreErasure
from facesearch.errors import FaceSearchError, InputError
from facesearch.server import browse_services, gallery_services, services, views
from facesearch.server.deps import EraserPage
from facesearch.server.rendering import Page

pages = APIRouter(include_in_schema=False)
SAME_PHOTO = "the same photo"  # what a photo held between two previews is called


def _max_fmr(text: str) -> float | None:
    """A false match rate typed into the form (None when left empty)."""
    text = text.strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise InputError("the false match rate is a number such as 0.0001") from None
    if not 0 < value < 1:
        raise InputError("the false match rate is a number above 0 and below 1")
    return value


def _reason(text: str) -> None:
    if not text.strip():
        raise InputError("a reason is required for an erasure")


def _render(page: Page, status: int = 200, **values: Any) -> HTMLResponse:
    values.setdefault("form", {})
    return page.render("forget.html", status, **values)


@pages.get("/gallery/forget")
async def forget_page(
    page: EraserPage, max_fmr: Annotated[str, Query(max_length=40)] = ""
) -> HTMLResponse:
    """The form; ``max_fmr`` fills its false match rate (the rate a refusal suggested)."""
    return _render(page, form={"max_fmr": max_fmr})


@pages.post("/gallery/forget")
async def forget_preview(
    page: EraserPage,
    photo: Annotated[UploadFile | None, File()] = None,
    max_fmr: Annotated[str, Form(max_length=40)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
    case: Annotated[str, Form(max_length=400)] = "",
) -> HTMLResponse:
    form = {"max_fmr": max_fmr, "reason": reason, "case": case}
    try:
        upload = photo if photo is not None and photo.filename else None
        data = await services.read_image(upload, page.c)
    except FaceSearchError as exc:
        return _render(page, error=exc, form=form)
    # the photo read: from here on a failure holds it (a browser sends no file twice), so a
    # mistyped rate or a missing reason does not make the admin choose it again
    try:
        _reason(reason)
        rate = _max_fmr(max_fmr)
    except FaceSearchError as exc:
        return _still_held(page, exc, data, None, form, services.upload_label(upload))
    return await _preview(page, data, rate, form, services.upload_label(upload))


async def _preview(
    page: Page,
    data: bytes,
    rate: float | None,
    form: dict[str, str],
    photo_name: str,
) -> HTMLResponse:
    """The preview of an erasure like ``data`` at ``rate``, the photo held for its confirm.
    When it fails, the photo (``held``) stays held: the page shows the error with the
    choices of a refused preview, so the admin need not choose the photo again."""
    try:
        preview = await browse_services.erase_preview(
            page.c, page.who, data, rate, form["case"] or None
        )
    except FaceSearchError as exc:
        return _still_held(page, exc, data, rate, form, photo_name)
    token = page.c.drafts.put(page.who.name, data, rate)
    return _render(
        page,
        form=form,
        preview=views.erase_preview_view(preview),
        max_selected=MAX_SELECTED,
        token=token,
        photo_name=photo_name,
    )


@pages.post("/gallery/forget/again")
async def forget_again(
    page: EraserPage,
    token: Annotated[str, Form(max_length=100)] = "",
    max_fmr: Annotated[str, Form(max_length=40)] = "",
    reason: Annotated[str, Form(max_length=2000)] = "",
    case: Annotated[str, Form(max_length=400)] = "",
) -> HTMLResponse:
    """After a refused preview, keeping the reason and case typed (in the body, not a URL):
    with ``token``, the same photo previewed again at ``max_fmr`` (the rate the refusal
    suggested) without choosing it again; without, the form to choose another photo."""
    form = {"max_fmr": max_fmr, "reason": reason, "case": case}
    if not token:
        return _render(page, form=form)
    draft = page.c.drafts.take(token, page.who.name)  # 404 once done, expired or not yours
    try:
        _reason(reason)
        rate = _max_fmr(max_fmr)
    except FaceSearchError as exc:
        return _still_held(page, exc, draft.photo, draft.max_fmr, form, SAME_PHOTO)
    return await _preview(page, draft.photo, rate, form, SAME_PHOTO)


def _still_held(
    page: Page,
    error: FaceSearchError,
    photo: bytes,
    rate: float | None,
    form: dict[str, str],
    photo_name: str,
) -> HTMLResponse:
    """``error`` on the page of ``photo`` (``photo_name``) held (under a new token) for its
    owner, with the choices of a refused preview: preview it again at a rate typed, or choose
    another."""
    token = page.c.drafts.put(page.who.name, photo, rate)
    return _render(page, error=error, form=form, held_token=token, photo_name=photo_name)


@pages.post("/gallery/forget/confirm")
async def forget_confirm(
    page: EraserPage,
    token: Annotated[str, Form(min_length=1, max_length=100)],
    reason: Annotated[str, Form(max_length=2000)] = "",
    case: Annotated[str, Form(max_length=400)] = "",
) -> HTMLResponse:
    _reason(reason)  # before the photo is taken
    draft = page.c.drafts.take(token, page.who.name)  # 404 once done, expired or not yours
    request = app.EraseRequest(
        reason, like=draft.photo, max_fmr=draft.max_fmr, case=case.strip() or None
    )
    try:
        erased = await gallery_services.erase(page.c, page.who, request)
    except FaceSearchError as exc:
        return _render(page, error=exc)
    return _erased(page, erased)


def _erased(page: Page, erased: dict[str, Any]) -> HTMLResponse:
    """The page of an erasure done: what it removed, as forget prints it."""
    lines = VectorStoreErasure(**erased["vector_store"]).lines()
    return _render(page, erased=erased, vector_lines=lines)


# faces ticked on one preview: a form holds at most 1,000 fields (FastAPI's form parser), the
# reason, case and CSRF token among them
MAX_SELECTED = 900


@pages.post("/gallery/forget/selected")
async def forget_selected(
    page: EraserPage,
    face_id: Annotated[list[str], Form()] = [],  # noqa: B006 (FastAPI copies the default)
    reason: Annotated[str, Form(max_length=2000)] = "",
    case: Annotated[str, Form(max_length=400)] = "",
) -> HTMLResponse:
    """Erase, by id, the faces of a preview the admin ticked after checking each."""
    try:
        _reason(reason)
        if not face_id:
            raise InputError("tick the faces you have checked are the person to erase")
        if len(face_id) > MAX_SELECTED:
            raise InputError(
                f"at most {MAX_SELECTED} faces at once: erase the rest from a new preview"
            )
        if not all(re.fullmatch(r"[0-9]{1,19}", f) for f in face_id):
            raise InputError("face ids are whole numbers")
        request = app.EraseRequest(
            reason, face_ids=tuple(int(f) for f in face_id), case=case.strip() or None
        )
        erased = await gallery_services.erase(page.c, page.who, request)
    except FaceSearchError as exc:
        return _render(page, error=exc)
    return _erased(page, erased)
