"""Searches (1:N): detect, search, a search as logged, its probe, its candidates and their
verdicts; as JSON under ``/api/v1`` and as the search, result and candidate pages.

Request bodies are ``multipart/form-data`` (or ``application/x-www-form-urlencoded`` when no
file is sent). Every search needs a case number and a stated purpose; every attempt is
logged, a failed one with its outcome.

A search, its candidates and its probe are seen only by its author, the reviewers of its
candidates (whoever gave a verdict, and everyone who may decide while a candidate waits for a
second person), admins and auditors; anyone else gets the 404 of a search that does not exist.
Each read is an audit entry (action ``read``, under the search's case) and counts against the
reader's ``server_read_rate_limit`` (429 with Retry-After). A search is the one search record
(``app.records.SearchRecord``) with the review status and links of each hit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from facesearch import app
from facesearch.core.calibration import describe_fmr
from facesearch.errors import FaceSearchError, NotFoundError
from facesearch.server import gallery_services, services, views
from facesearch.server.deps import (
    Ctx,
    Reviewer,
    ReviewerPage,
    Searcher,
    SearcherPage,
    SearchReader,
    SearchReaderPage,
)
from facesearch.server.formatting import fmr_short
from facesearch.server.media import display_size, image_type
from facesearch.server.rendering import Page, optional_int
from facesearch.server.routes.training import training_due

api = APIRouter(prefix="/api/v1", tags=["searches"])
pages = APIRouter(include_in_schema=False)

CASE_DOC = "Case number this use belongs to (required)."
PURPOSE_DOC = "Stated purpose of this use (required)."
IMAGE_RESPONSE: dict[int | str, dict[str, Any]] = {200: {"content": {"image/jpeg": {}}}}


@dataclass(frozen=True)
class SearchForm:
    """The form of a search and of a search request: the probe upload, case, purpose and
    options (``POST /api/v1/searches`` and ``POST /api/v1/search-requests``)."""

    image: UploadFile
    request: app.SearchRequest  # its probe: b"", until the upload is read


def search_form(
    image: Annotated[UploadFile, File(description="The probe photo.")],
    case: Annotated[str, Form(description=CASE_DOC)],
    purpose: Annotated[str, Form(description=PURPOSE_DOC)],
    collections: Annotated[list[str] | None, Form(description="Collections (default all).")] = None,
    top: Annotated[int | None, Form(ge=1, le=1000)] = None,
    max_fmr: Annotated[float | None, Form(gt=0, lt=1)] = None,
    threshold: Annotated[float | None, Form(ge=-1, le=1)] = None,
    face: Annotated[int | None, Form(ge=0, description="Search only this probe face.")] = None,
    allow_poor: Annotated[bool, Form()] = False,
) -> SearchForm:
    request = app.SearchRequest(
        b"",
        case=case,
        purpose=purpose,
        collections=tuple(collections) if collections else None,
        top=top,
        max_fmr=max_fmr,
        threshold=threshold,
        face=face,
        allow_poor=allow_poor,
    )
    return SearchForm(image, request)


SearchFormData = Annotated[SearchForm, Depends(search_form)]


# --- JSON ----------------------------------------------------------------------------------------


@api.post("/detect", summary="Faces in a photo (boxes, quality), to choose one to search")
async def detect(
    who: Searcher, c: Ctx, image: Annotated[UploadFile, File(description="The photo.")]
) -> dict[str, Any]:
    data = await services.read_image(image, c)
    return await services.detect(c, who, data, services.upload_label(image))


@api.post("/searches", status_code=201, summary="Search a probe photo in the gallery (1:N)")
async def create_search(who: Searcher, c: Ctx, form: SearchFormData) -> dict[str, Any]:
    return await services.search(c, who, form.image, form.request)  # the upload: read there


@api.get("/searches", summary="Your recent searches (last 30 days)")
async def list_searches(who: Reviewer, c: Ctx) -> dict[str, Any]:
    return {"items": await services.recent_searches(c, who, limit=100)}


@api.get("/searches/{search_id:int}", summary="A search, as logged, with review status")
async def get_search(search_id: int, who: SearchReader, c: Ctx) -> dict[str, Any]:
    return await services.read_search(c, who, search_id)


@api.get(
    "/searches/{search_id:int}/probe",
    summary="The probe image of a search (while kept)",
    response_class=Response,
    responses=IMAGE_RESPONSE,
)
async def get_probe(search_id: int, who: SearchReader, c: Ctx) -> Response:
    data = await services.read_probe(c, who, search_id)
    return Response(data, media_type=image_type(data))


@api.get(
    "/searches/{search_id:int}/probe/faces/{face:int}/crop",
    summary="A JPEG crop of one probe face",
    response_class=Response,
    responses=IMAGE_RESPONSE,
)
async def get_probe_crop(search_id: int, face: int, who: SearchReader, c: Ctx) -> Response:
    jpeg = await services.read_probe(c, who, search_id, face)
    return Response(jpeg, media_type="image/jpeg")


@api.get("/candidates", summary="Possible matches waiting for you as the second person")
async def list_pending(who: Reviewer, c: Ctx) -> dict[str, Any]:
    return {"items": await services.pending(c, who)}


@api.get(
    "/searches/{search_id:int}/candidates/{face_id:int}",
    summary="One candidate of a search: its review status and history",
)
async def get_candidate(search_id: int, face_id: int, who: SearchReader, c: Ctx) -> dict[str, Any]:
    return await services.candidate(c, who, search_id, face_id)


@api.post(
    "/searches/{search_id:int}/candidates/{face_id:int}/decisions",
    status_code=201,
    summary="Record your verdict on a candidate (two-person rule)",
)
async def create_decision(
    search_id: int,
    face_id: int,
    who: Reviewer,
    c: Ctx,
    verdict: Annotated[str, Form(description="possible_match or rejected")],
    note: Annotated[str | None, Form(max_length=2000)] = None,
) -> dict[str, Any]:
    return await services.decide(c, who, search_id, face_id, verdict, note)


# --- pages ---------------------------------------------------------------------------------------


async def _search_page(page: Page, status: int = 200, **values: Any) -> HTMLResponse:
    c, who = page.c, page.who
    pending = await services.pending(c, who)
    recent = await services.recent_searches(c, who)
    collections = await gallery_services.collections(c, who)
    values.setdefault("form", {})
    return page.render(
        "search.html",
        status,
        pending=pending,
        recent=recent,
        collections=collections,
        training_due=await training_due(c, who),
        **values,
    )


@pages.get("/search")
async def search_page(page: SearcherPage) -> HTMLResponse:
    return await _search_page(page)


@pages.post("/search")
async def search_submit(
    page: SearcherPage,
    photo: Annotated[UploadFile | None, File()] = None,
    case: Annotated[str, Form(max_length=400)] = "",
    purpose: Annotated[str, Form(max_length=4000)] = "",
    face: Annotated[str, Form(max_length=8)] = "",
    top: Annotated[str, Form(max_length=8)] = "",
    collection: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    form = {"case": case, "purpose": purpose, "top": top, "collection": collection}
    try:
        face_no = optional_int(face, "face", minimum=0)  # faces are numbered from 0
        top_no = optional_int(top, "number of candidates")
        wanted = app.SearchRequest(
            b"",  # the upload, read by services.search
            case=case,
            purpose=purpose,
            face=face_no,
            top=top_no,
            collections=(collection,) if collection else None,
        )
        upload = photo if photo and photo.filename else None
        from facesearch.server.routes import approvals as approval_routes  # builds on this

        if await approval_routes.needs_approval(page.c, page.who):  # ask a supervisor first
            await approval_routes.ask(page.c, page.who, upload, wanted)
            return RedirectResponse("/approvals", status_code=303)
        result = await services.search(page.c, page.who, upload, wanted)
    except FaceSearchError as exc:
        return await _search_page(page, error=exc, form=form)
    return RedirectResponse(f"/searches/{result['id']}", status_code=303)


@pages.get("/searches/{search_id:int}")
async def search_result(
    search_id: int, page: SearchReaderPage, face: int | None = None
) -> HTMLResponse:
    c, who = page.c, page.who
    search = await services.read_search(c, who, search_id, "search_page", face)
    shown = [f for f in search["faces"] if face is None or f["face"] == face] or search["faces"]
    size = None
    if search["probe_kept"]:
        try:  # only its size, to draw the face boxes: the page's read already covers the image
            size = display_size(await services.read_probe(c, who, search_id))
        except NotFoundError:  # its retention period ended just now
            size = None
    notes = {f["face"]: _candidates_note(page, search, f) for f in shown}
    return page.render("result.html", search=search, shown=shown, probe_size=size, notes=notes)


def _candidates_note(page: Page, search: dict[str, Any], face: dict[str, Any]) -> str:
    """What bounded ``face``'s candidates on the result page (``views.candidates_note``): the
    threshold the search kept them above, and the false match rate at it (the cap asked for,
    else the calibration's estimate at the threshold)."""
    threshold = search.get("threshold")
    fmr: float | None = search.get("parameters", {}).get("max_fmr")
    table = page.c.workers.calibration
    if fmr is None and threshold is not None and table is not None:
        fmr = table.fmr_at(threshold)
    words = describe_fmr(fmr, table.words_floor) if fmr is not None and table else ""
    shown = fmr_short(fmr, words) if fmr is not None else ""
    return views.candidates_note(len(face["hits"]), search.get("top"), threshold, shown)


@pages.get("/searches/{search_id:int}/candidates/{face_id:int}")
async def candidate_page(search_id: int, face_id: int, page: SearchReaderPage) -> HTMLResponse:
    return await _candidate_page(page, search_id, face_id)


async def _candidate_page(
    page: Page,
    search_id: int,
    face_id: int,
    error: FaceSearchError | None = None,
    note: str = "",
) -> HTMLResponse:
    """The candidate page; after a refused verdict, ``error`` and the ``note`` typed with it."""
    out, search = await services.read_candidate(
        page.c, page.who, search_id, face_id, "candidate_page"
    )
    mine = {h["verdict"] for h in out["history"] if h["actor"] == page.who.name}
    refusal = await services.decide_refusal(page.c, page.who, search.get("case"))
    return page.render(
        "candidate.html",
        cand=out,
        search=search,
        mine=mine,
        error=error,
        refusal=refusal,
        note=note,
    )


@pages.post("/searches/{search_id:int}/candidates/{face_id:int}")
async def candidate_decide(
    search_id: int,
    face_id: int,
    page: ReviewerPage,
    verdict: Annotated[str, Form(max_length=40)] = "",
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    try:
        await services.decide(page.c, page.who, search_id, face_id, verdict, note)
    except FaceSearchError as exc:  # the note typed stays in the form
        return await _candidate_page(page, search_id, face_id, exc, note)
    return RedirectResponse(f"/searches/{search_id}/candidates/{face_id}", status_code=303)


router = APIRouter()
router.include_router(api)
router.include_router(pages)
