"""API: the gallery (faces, images, subjects, collections, stats), erasure, ingest jobs.

Reading a face, its crop, an image, its file or a subject is a read of personal data: an
audit entry (action ``read``) and one of the reader's ``server_read_rate_limit`` reads a minute
(429 with Retry-After when spent). A read names its case with ``?case=``, or is logged under
none. The crop and file links of a search's candidates carry ``?search=ID`` instead: they are
part of the read of that search's view (which named its candidates), neither charged nor
logged again (for users who may see that search, of its candidates only; 404 otherwise).
Sources are shown as file names (``name.jpg``, ``archive.zip!member``), never server paths.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Query, UploadFile
from fastapi.responses import JSONResponse, Response

from facesearch.accountability import Permission
from facesearch.errors import NotFoundError
from facesearch.gallery.catalog import Catalog
from facesearch.gallery.sources import read_source
from facesearch.gallery.uploads import JOB_ID
from facesearch.server import services, views
from facesearch.server.auth import Principal, needs, needs_any
from facesearch.server.context import Context, ctx
from facesearch.server.media import crop, image_type
from facesearch.types import MAX_ID

router = APIRouter(prefix="/api/v1", tags=["gallery"])

Reader = Annotated[Principal, Depends(needs(Permission.READ_GALLERY))]
# A candidate's crop or file: gallery readers, and auditors reaching it from a search they
# oversee (``?search=``; without it services.read_gallery asks for read_gallery).
CandidateReader = Annotated[
    Principal, Depends(needs_any(Permission.READ_GALLERY, Permission.READ_AUDIT))
]
Eraser = Annotated[Principal, Depends(needs(Permission.ERASE))]
Ingester = Annotated[Principal, Depends(needs(Permission.INGEST))]
Ctx = Annotated[Context, Depends(ctx)]
IMAGE_RESPONSE: dict[int | str, dict[str, Any]] = {200: {"content": {"image/jpeg": {}}}}
CaseQuery = Annotated[
    str | None,
    Query(max_length=200, description="Case number this read is for (goes into the audit trail)."),
]
SearchQuery = Annotated[
    int | None,
    Query(ge=1, le=MAX_ID, description="The search whose candidate this is (its case is logged)."),
]


@router.get("/faces/{face_id:int}", summary="A face: box, landmarks, quality, subject")
async def get_face(face_id: int, who: Reader, c: Ctx, case: CaseQuery = None) -> dict[str, Any]:
    return await services.read_gallery(
        c, who, "face", lambda cat: views.face_view(cat.face(face_id)), case=case, face_id=face_id
    )


@router.get(
    "/faces/{face_id:int}/crop",
    summary="A JPEG crop of a face",
    response_class=Response,
    responses=IMAGE_RESPONSE,
)
async def get_face_crop(
    face_id: int, who: CandidateReader, c: Ctx, case: CaseQuery = None, search: SearchQuery = None
) -> Response:
    settings = c.settings

    def make(cat: Catalog) -> bytes:
        face = cat.face(face_id)
        data = read_source(face.source, settings.limits.max_file_bytes, settings.home)
        return crop(data, face.bbox, settings)

    jpeg = await services.read_gallery(
        c, who, "face_crop", make, case=case, search=search, face_id=face_id
    )
    return Response(jpeg, media_type="image/jpeg")


@router.get("/images/{image_id:int}", summary="An image of the gallery and its faces")
async def get_image(image_id: int, who: Reader, c: Ctx, case: CaseQuery = None) -> dict[str, Any]:
    def make(cat: Catalog) -> dict[str, Any]:
        return views.image_view(cat.image(image_id), cat.faces_of_image(image_id))

    return await services.read_gallery(c, who, "image", make, case=case, image_id=image_id)


@router.get(
    "/images/{image_id:int}/file",
    summary="The source image file",
    response_class=Response,
    responses=IMAGE_RESPONSE,
)
async def get_image_file(
    image_id: int, who: CandidateReader, c: Ctx, case: CaseQuery = None, search: SearchQuery = None
) -> Response:
    limit = c.settings.limits.max_file_bytes

    def make(cat: Catalog) -> bytes:
        return read_source(cat.image(image_id).source, limit, c.settings.home)

    data = await services.read_gallery(
        c, who, "image_file", make, case=case, search=search, image_id=image_id
    )
    return Response(data, media_type=image_type(data))


@router.get("/subjects/{name}", summary="A subject (label) and its faces")
async def get_subject(name: str, who: Reader, c: Ctx, case: CaseQuery = None) -> dict[str, Any]:
    def make(cat: Catalog) -> dict[str, Any]:
        faces = cat.faces_of_subject(name)
        return {"name": name, "faces": [views.face_view(f) for f in faces]}

    return await services.read_gallery(c, who, "subject", make, case=case, subject=name)


@router.get("/collections", summary="Every collection with its counts")
async def list_collections(who: Reader, c: Ctx) -> dict[str, Any]:
    infos = await c.workers.on_catalog(lambda cat: cat.collections())
    return {"items": [views.collection_view(i) for i in infos]}


@router.get("/collections/{name}", summary="One collection with its counts")
async def get_collection(name: str, who: Reader, c: Ctx) -> dict[str, Any]:
    infos = await c.workers.on_catalog(lambda cat: cat.collections())
    for info in infos:
        if info.name == name:
            return views.collection_view(info)
    raise NotFoundError(f"no collection named {name!r}")


@router.get("/stats", summary="What the gallery holds")
async def get_stats(who: Reader, c: Ctx) -> dict[str, Any]:
    stats = await c.workers.on_catalog(lambda cat: cat.stats())
    return {**stats, "model_id": c.workers.model_id}


@router.post("/erasures", status_code=201, summary="Erase faces (forget), with a reason")
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
    return await services.erase(
        c,
        who,
        reason=reason,
        face_ids=face_id,
        image_id=image_id,
        subject=subject or None,
        like=like_data,
        max_fmr=max_fmr,
        case=case,
        purpose=purpose,
    )


@router.post("/ingest-jobs", status_code=202, summary="Upload images or zip/tar archives to ingest")
async def create_ingest_job(
    who: Ingester,
    c: Ctx,
    files: Annotated[list[UploadFile], File(description="Images and/or archives.")],
    collection: Annotated[str, Form()] = "default",
    label_from_dir: Annotated[bool, Form(description="Label by folder names in archives.")] = False,
    subject: Annotated[str | None, Form(description="Label for the loose images.")] = None,
) -> JSONResponse:
    job = await services.start_ingest(
        c, who, files, collection=collection, label_from_dir=label_from_dir, subject=subject
    )
    return JSONResponse(
        job.view(), status_code=202, headers={"Location": f"/api/v1/ingest-jobs/{job.id}"}
    )


@router.get("/ingest-jobs", summary="Ingest jobs since the server started")
async def list_ingest_jobs(who: Ingester, c: Ctx) -> dict[str, Any]:
    return {"items": [j.view() for j in c.jobs.all()]}


@router.get("/ingest-jobs/{job_id}", summary="An ingest job and its progress")
async def get_ingest_job(job_id: str, who: Ingester, c: Ctx) -> dict[str, Any]:
    job = c.jobs.get(job_id) if JOB_ID.fullmatch(job_id) else None
    if job is None:
        raise NotFoundError(f"no ingest job {job_id}")
    return job.view()
