"""Browsing the gallery: faces, images and subjects a page at a time, with filters; as JSON
under ``/api/v1`` (``GET /api/v1/faces``, ``/images``, ``/subjects``) and as the Gallery's
Faces, Images and Subjects pages, plus the page of one image and its faces.

Filters: ``collection``, ``subject`` (a name prefix, any case), ``labelled`` (faces with or
without a subject; images with or without a labelled face). Paging: ``page`` from 1,
``per_page`` up to ``app.browse.MAX_PER_PAGE``, a stable order (faces and images by id,
subjects by name); a page past the last, or an unknown collection, is a 404. Every page is
one read of personal data (charged, logged naming what it shows); each crop or photo a page
shows is the gallery's own link, itself a logged read. Gallery readers only (403 otherwise).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse

from facesearch.app import browse as app_browse
from facesearch.errors import FaceSearchError, NotFoundError
from facesearch.server import browse_services, gallery_services, views
from facesearch.server.auth import Principal
from facesearch.server.context import Context
from facesearch.server.deps import Ctx, Reader, ReaderPage
from facesearch.types import MAX_ID

api = APIRouter(prefix="/api/v1", tags=["gallery"])
pages = APIRouter(include_in_schema=False)

MAX_PAGE = 1_000_000
CollectionQuery = Annotated[
    str | None, Query(min_length=1, max_length=200, description="Only this collection.")
]
SubjectQuery = Annotated[
    str | None,
    Query(max_length=app_browse.MAX_PREFIX_CHARS, description="Subject name prefix (any case)."),
]
PageQuery = Annotated[int, Query(ge=1, le=MAX_PAGE, description="Page number, from 1.")]
PerPageQuery = Annotated[
    int, Query(ge=1, le=app_browse.MAX_PER_PAGE, description="Items per page.")
]
CaseQuery = Annotated[
    str | None,
    Query(max_length=200, description="Case number this read is for (goes into the audit trail)."),
]
LabelledQuery = Annotated[
    bool | None,
    Query(description="true: with a subject (label); false: without; absent: both."),
]


def _listing_query(
    collection: CollectionQuery = None,
    subject: SubjectQuery = None,
    labelled: LabelledQuery = None,
    page: PageQuery = 1,
    per_page: PerPageQuery = app_browse.PER_PAGE,
    case: CaseQuery = None,
) -> dict[str, Any]:
    """The query parameters every listing takes (subjects: ``labelled=false`` lists none)."""
    return {
        "collection": collection,
        "subject_prefix": subject,
        "labelled": labelled,
        "page": page,
        "per_page": per_page,
        "case": case,
    }


ListingQuery = Annotated[dict[str, Any], Depends(_listing_query)]


async def _listing(
    c: Context, who: Principal, kind: app_browse.Kind, query: dict[str, Any]
) -> dict[str, Any]:
    record = await browse_services.browse(c, who, app_browse.BrowseRequest(kind, **query))
    return views.browse_view(record)


@api.get("/faces", summary="Faces of the gallery, a page at a time, with filters")
async def list_faces(who: Reader, c: Ctx, query: ListingQuery) -> dict[str, Any]:
    return await _listing(c, who, "faces", query)


@api.get("/images", summary="Images of the gallery, a page at a time, with filters")
async def list_images(who: Reader, c: Ctx, query: ListingQuery) -> dict[str, Any]:
    return await _listing(c, who, "images", query)


@api.get("/subjects", summary="Subjects (labels) of the gallery, a page at a time")
async def list_subjects(who: Reader, c: Ctx, query: ListingQuery) -> dict[str, Any]:
    return await _listing(c, who, "subjects", query)


# --- pages ---------------------------------------------------------------------------------------

LABELLED = {"": None, "yes": True, "no": False}


async def _browse_page(
    kind: app_browse.Kind,
    page: ReaderPage,
    collection: str,
    subject: str,
    labelled: str,
    page_no: int,
    per_page: int,
) -> HTMLResponse:
    form = {"collection": collection, "subject": subject, "labelled": labelled}
    request = app_browse.BrowseRequest(
        kind,
        collection=collection or None,
        subject_prefix=subject.strip() or None,
        labelled=LABELLED[labelled] if kind != "subjects" else None,
        page=page_no,
        per_page=per_page,
    )
    collections = await gallery_services.collections(page.c, page.who)
    try:
        record = await browse_services.browse(page.c, page.who, request)
    except FaceSearchError as exc:
        if isinstance(exc, NotFoundError):
            raise  # an unknown collection or a page past the last: the 404 page
        values: dict[str, Any] = {"listing": None, "error": exc}
    else:
        values = {"listing": views.browse_view(record)}
    query = {k: v for k, v in form.items() if v}
    if per_page != app_browse.PER_PAGE:
        query["per_page"] = str(per_page)

    def link(number: int) -> str:
        return f"/gallery/{kind}?" + urlencode({**query, "page": number})

    return page.render(
        "browse.html", kind=kind, form=form, collections=collections, link=link, **values
    )


def _page_route(kind: app_browse.Kind) -> Any:
    async def route(
        page: ReaderPage,
        collection: Annotated[str, Query(max_length=200)] = "",
        subject: Annotated[str, Query(max_length=app_browse.MAX_PREFIX_CHARS)] = "",
        labelled: Literal["", "yes", "no"] = "",
        page_no: Annotated[int, Query(alias="page", ge=1, le=MAX_PAGE)] = 1,
        per_page: Annotated[int, Query(ge=1, le=app_browse.MAX_PER_PAGE)] = app_browse.PER_PAGE,
    ) -> HTMLResponse:
        return await _browse_page(kind, page, collection, subject, labelled, page_no, per_page)

    route.__name__ = f"browse_{kind}_page"
    return route


for _kind in app_browse.KINDS:
    pages.add_api_route(f"/gallery/{_kind}", _page_route(_kind), methods=["GET"])


@pages.get("/gallery/images/{image_id:int}")
async def image_page(image_id: int, page: ReaderPage) -> HTMLResponse:
    if not 1 <= image_id <= MAX_ID:
        raise NotFoundError(f"no image with id {image_id}")
    image = await gallery_services.image(page.c, page.who, image_id, None)
    return page.render("image.html", image=image)


router = APIRouter()
router.include_router(api)
router.include_router(pages)
