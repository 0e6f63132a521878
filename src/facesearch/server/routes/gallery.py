"""The gallery: faces, images, subjects, collections, stats and erasure; as JSON under
``/api/v1`` and as the Gallery page (counts, collections, the erasure form).
``/api/v1/erasure/status`` (erasers: admins) lists the erased vectors the vector store has yet
to remove from its disk (``app.vector_erasure``); it reads no personal data and is not logged.

Reading a face, its crop, an image, its file or a subject is a read of personal data: an
audit entry (action ``read``) and one of the reader's ``server_read_rate_limit`` reads a minute
(429 with Retry-After when spent). A read names its case with ``?case=``, or is logged under
none. The crop and file links of a search's candidates carry ``?search=ID`` instead: they are
part of the read of that search's view (which named its candidates), neither charged nor
logged again (for users who may see that search, of its candidates only; 404 otherwise).
Likewise the crop and photo links of a People or person page (and of ``/api/v1/people``)
carry ``?people_read=SEQ``, that page's read entry: for the user who made it, within an hour,
of the faces it showed still held and in reach (``app.people_reads``; 404 otherwise).
Sources are shown as file names (``name.jpg``, ``archive.zip!member``), never server paths.
The reads themselves, and what they log, are ``app.gallery``'s (through ``services``).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.responses import HTMLResponse, Response

from facesearch import app
from facesearch.errors import FaceSearchError, NotFoundError
from facesearch.server import gallery_services, services, views
from facesearch.server.deps import CandidateReader, Ctx, Eraser, EraserPage, Reader, ReaderPage
from facesearch.server.media import image_type
from facesearch.server.rendering import Page, optional_int
from facesearch.types import MAX_ID

api = APIRouter(prefix="/api/v1", tags=["gallery"])
pages = APIRouter(include_in_schema=False)

IMAGE_RESPONSE: dict[int | str, dict[str, Any]] = {200: {"content": {"image/jpeg": {}}}}
CaseQuery = Annotated[
    str | None,
    Query(max_length=200, description="Case number this read is for (goes into the audit trail)."),
]
SearchQuery = Annotated[
    int | None,
    Query(ge=1, le=MAX_ID, description="The search whose candidate this is (its case is logged)."),
]
PeopleReadQuery = Annotated[
    int | None,
    Query(
        description=(
            "The read of a People or person page that showed this face or photo (the `id` of "
            "`GET /api/v1/people`, the `read` of `GET /api/v1/people/{id}`): part of that read, "
            "neither charged nor logged again, for the user who made it, within an hour of it, "
            "of a face it showed that is still held and in reach; 404 otherwise (past the hour: "
            "reload the page)."
        )
    ),
]


# --- JSON ----------------------------------------------------------------------------------------


@api.get("/faces/{face_id:int}", summary="A face: box, landmarks, quality, subject")
async def get_face(face_id: int, who: Reader, c: Ctx, case: CaseQuery = None) -> dict[str, Any]:
    return await gallery_services.face(c, who, face_id, case)


@api.get(
    "/faces/{face_id:int}/crop",
    summary="A JPEG crop of a face",
    response_class=Response,
    responses=IMAGE_RESPONSE,
)
async def get_face_crop(
    face_id: int,
    who: CandidateReader,
    c: Ctx,
    case: CaseQuery = None,
    search: SearchQuery = None,
    people_read: PeopleReadQuery = None,
) -> Response:
    jpeg = await gallery_services.file_bytes(
        c, who, "face_crop", face_id, case, search, people_read
    )
    return Response(jpeg, media_type="image/jpeg")


@api.get("/images/{image_id:int}", summary="An image of the gallery and its faces")
async def get_image(image_id: int, who: Reader, c: Ctx, case: CaseQuery = None) -> dict[str, Any]:
    return await gallery_services.image(c, who, image_id, case)


@api.get(
    "/images/{image_id:int}/file",
    summary="The source image file",
    response_class=Response,
    responses=IMAGE_RESPONSE,
)
async def get_image_file(
    image_id: int,
    who: CandidateReader,
    c: Ctx,
    case: CaseQuery = None,
    search: SearchQuery = None,
    people_read: PeopleReadQuery = None,
) -> Response:
    data = await gallery_services.file_bytes(
        c, who, "image_file", image_id, case, search, people_read
    )
    return Response(data, media_type=image_type(data))


@api.get("/subjects/{name}", summary="A subject (label) and its faces")
async def get_subject(name: str, who: Reader, c: Ctx, case: CaseQuery = None) -> dict[str, Any]:
    return await gallery_services.subject(c, who, name, case)


@api.get("/collections", summary="Every collection with its counts")
async def list_collections(who: Reader, c: Ctx) -> dict[str, Any]:
    return {"items": [views.collection_view(i) for i in await gallery_services.collections(c, who)]}


@api.get("/collections/{name}", summary="One collection with its counts")
async def get_collection(name: str, who: Reader, c: Ctx) -> dict[str, Any]:
    for info in await gallery_services.collections(c, who):
        if info.name == name:
            return views.collection_view(info)
    raise NotFoundError(f"no collection named {name!r}")


@api.get("/stats", summary="What the gallery holds")
async def get_stats(who: Reader, c: Ctx) -> dict[str, Any]:
    return await gallery_services.stats(c, who)


@api.post("/erasures", status_code=201, summary="Erase faces (forget), with a reason")
async def create_erasure(
    who: Eraser,
    c: Ctx,
    reason: Annotated[str, Form(description="Why (required; goes into the audit trail).")],
    face_id: Annotated[list[int] | None, Form(description="Face ids (repeatable).")] = None,
    image_id: Annotated[int | None, Form()] = None,
    subject: Annotated[str | None, Form()] = None,
    like: Annotated[UploadFile | None, File(description="Every face like this photo's.")] = None,
    max_fmr: Annotated[float | None, Form(gt=0, lt=1)] = None,
    case: Annotated[str | None, Form()] = None,
    purpose: Annotated[str | None, Form()] = None,
) -> dict[str, Any]:
    like_data = await services.read_image(like, c) if like is not None and like.filename else None
    request = app.EraseRequest(
        reason,
        face_ids=tuple(face_id) if face_id else None,
        image_id=image_id,
        subject=subject or None,
        like=like_data,
        max_fmr=max_fmr,
        case=case,
        purpose=purpose,
    )
    return await gallery_services.erase(c, who, request)


@api.get(
    "/erasure/status",
    summary="Erased vectors the vector store has yet to remove from its disk (not logged)",
)
async def get_erasure_status(who: Eraser, c: Ctx) -> dict[str, Any]:
    return await gallery_services.erasure_status(c, who)


# --- the Gallery page ----------------------------------------------------------------------------


async def _gallery_page(page: Page, status: int = 200, **values: Any) -> HTMLResponse:
    stats = await gallery_services.stats(page.c, page.who)
    return page.render(
        "gallery.html",
        status,
        stats=stats,
        collections=await gallery_services.collections(page.c, page.who),
        model_id=stats["model_id"],
        **values,
    )


@pages.get("/gallery")
async def gallery_page(page: ReaderPage) -> HTMLResponse:
    return await _gallery_page(page)


@pages.post("/gallery/erase")
async def gallery_erase(
    page: EraserPage,
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
        image = optional_int(image_id, "image id")
        wanted = app.EraseRequest(
            reason,
            face_ids=tuple(ids) if ids else None,
            image_id=image,
            subject=subject.strip() or None,
            case=case or None,
        )
        result = await gallery_services.erase(page.c, page.who, wanted)
    except ValueError:
        return await _gallery_page(page, 422, error="face ids are whole numbers", form=form)
    except FaceSearchError as exc:
        return await _gallery_page(page, error=exc, form=form)
    return await _gallery_page(page, erased=result)


router = APIRouter()
router.include_router(api)
router.include_router(pages)
