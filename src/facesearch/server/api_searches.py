"""API: detect, search, candidates and their decisions, verify (``/api/v1``).

Request bodies are ``multipart/form-data`` (or ``application/x-www-form-urlencoded`` when no
file is sent). Every search and verification needs a case number and a stated purpose; every
attempt is logged, a failed one with its outcome.

A search, its candidates and its probe are seen only by its author, the reviewers of its
candidates (whoever gave a verdict, and everyone who may decide while a candidate waits for a
second person), admins and auditors; anyone else gets the 404 of a search that does not exist.
Each read is an audit entry (action ``read``, under the search's case) and counts against the
reader's ``server_read_rate_limit`` (429 with Retry-After).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, UploadFile
from fastapi.responses import Response

from facesearch.accountability import Permission
from facesearch.server import services
from facesearch.server.auth import Principal, needs, needs_any
from facesearch.server.context import Context, ctx
from facesearch.server.media import image_type

router = APIRouter(prefix="/api/v1", tags=["searches"])

Searcher = Annotated[Principal, Depends(needs(Permission.SEARCH))]
Reviewer = Annotated[Principal, Depends(needs(Permission.DECIDE))]
# Reading a search (its record, probe and candidates): reviewers, and auditors for oversight;
# which searches each may see is decided by usage.may_see_search.
SearchReader = Annotated[Principal, Depends(needs_any(Permission.DECIDE, Permission.READ_AUDIT))]
Verifier = Annotated[Principal, Depends(needs(Permission.VERIFY))]
Ctx = Annotated[Context, Depends(ctx)]

CASE_DOC = "Case number this use belongs to (required)."
PURPOSE_DOC = "Stated purpose of this use (required)."


@router.post("/detect", summary="Faces in a photo (boxes, quality), to choose one to search")
async def detect(
    who: Searcher, c: Ctx, image: Annotated[UploadFile, File(description="The photo.")]
) -> dict[str, Any]:
    data = await services.read_image(image, c)
    return await services.detect(c, who, data, services.upload_label(image))


@router.post("/searches", status_code=201, summary="Search a probe photo in the gallery (1:N)")
async def create_search(
    who: Searcher,
    c: Ctx,
    image: Annotated[UploadFile, File(description="The probe photo.")],
    case: Annotated[str, Form(description=CASE_DOC)],
    purpose: Annotated[str, Form(description=PURPOSE_DOC)],
    collections: Annotated[list[str] | None, Form(description="Collections (default all).")] = None,
    top: Annotated[int | None, Form(ge=1, le=1000)] = None,
    max_fmr: Annotated[float | None, Form(gt=0, lt=1)] = None,
    threshold: Annotated[float | None, Form(ge=-1, le=1)] = None,
    face: Annotated[int | None, Form(ge=0, description="Search only this probe face.")] = None,
    allow_poor: Annotated[bool, Form()] = False,
) -> dict[str, Any]:
    return await services.search(
        c,
        who,
        image,
        case=case,
        purpose=purpose,
        collections=collections,
        top=top,
        max_fmr=max_fmr,
        threshold=threshold,
        face=face,
        allow_poor=allow_poor,
    )


@router.get("/searches", summary="Your recent searches (last 30 days)")
async def list_searches(who: Reviewer, c: Ctx) -> dict[str, Any]:
    return {"items": await services.recent_searches(c, who, limit=100)}


@router.get("/searches/{search_id:int}", summary="A search, as logged, with review status")
async def get_search(search_id: int, who: SearchReader, c: Ctx) -> dict[str, Any]:
    return await services.read_search(c, who, search_id)


@router.get(
    "/searches/{search_id:int}/probe",
    summary="The probe image of a search (while kept)",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}},
)
async def get_probe(search_id: int, who: SearchReader, c: Ctx) -> Response:
    data = await services.read_probe(c, who, search_id)
    return Response(data, media_type=image_type(data))


@router.get(
    "/searches/{search_id:int}/probe/faces/{face:int}/crop",
    summary="A JPEG crop of one probe face",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}},
)
async def get_probe_crop(search_id: int, face: int, who: SearchReader, c: Ctx) -> Response:
    jpeg = await services.read_probe(c, who, search_id, face)
    return Response(jpeg, media_type="image/jpeg")


@router.get("/candidates", summary="Possible matches waiting for you as the second person")
async def list_pending(who: Reviewer, c: Ctx) -> dict[str, Any]:
    return {"items": await services.pending(c, who)}


@router.get(
    "/searches/{search_id:int}/candidates/{face_id:int}",
    summary="One candidate of a search: its review status and history",
)
async def get_candidate(search_id: int, face_id: int, who: SearchReader, c: Ctx) -> dict[str, Any]:
    return await services.candidate(c, who, search_id, face_id)


@router.post(
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


@router.post("/verifications", status_code=201, summary="Are two photos the same person? (1:1)")
async def create_verification(
    who: Verifier,
    c: Ctx,
    a: Annotated[UploadFile, File(description="First photo.")],
    b: Annotated[UploadFile, File(description="Second photo.")],
    case: Annotated[str, Form(description=CASE_DOC)],
    purpose: Annotated[str, Form(description=PURPOSE_DOC)],
    threshold: Annotated[float | None, Form(ge=-1, le=1)] = None,
    max_fmr: Annotated[float | None, Form(gt=0, lt=1)] = None,
) -> dict[str, Any]:
    return await services.verify(
        c, who, a, b, case=case, purpose=purpose, threshold=threshold, max_fmr=max_fmr
    )
