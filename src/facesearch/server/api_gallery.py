"""API: the gallery (faces, images, subjects, collections, stats), erasure, ingest jobs."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, UploadFile
from fastapi.responses import JSONResponse, Response

from facesearch.accountability import Permission
from facesearch.catalog import Catalog
from facesearch.errors import NotFoundError
from facesearch.server import services, views
from facesearch.server.auth import Principal, needs
from facesearch.server.context import Context, ctx
from facesearch.server.media import crop, image_type, read_source

router = APIRouter(prefix="/api/v1", tags=["gallery"])

Reader = Annotated[Principal, Depends(needs(Permission.READ_GALLERY))]
Eraser = Annotated[Principal, Depends(needs(Permission.ERASE))]
Ingester = Annotated[Principal, Depends(needs(Permission.INGEST))]
Ctx = Annotated[Context, Depends(ctx)]
IMAGE_RESPONSE: dict[int | str, dict[str, Any]] = {200: {"content": {"image/jpeg": {}}}}
JOB_ID = re.compile(r"[0-9a-f]{16}")


@router.get("/faces/{face_id:int}", summary="A face: box, landmarks, quality, subject")
async def get_face(face_id: int, who: Reader, c: Ctx) -> dict[str, Any]:
    return await c.workers.on_catalog(lambda cat: views.face_view(cat.face(face_id)))


@router.get(
    "/faces/{face_id:int}/crop",
    summary="A JPEG crop of a face",
    response_class=Response,
    responses=IMAGE_RESPONSE,
)
async def get_face_crop(face_id: int, who: Reader, c: Ctx) -> Response:
    settings = c.settings

    def make(cat: Catalog) -> bytes:
        face = cat.face(face_id)
        return crop(read_source(face.source, settings.max_file_bytes), face.bbox, settings)

    return Response(await c.workers.on_catalog(make), media_type="image/jpeg")


@router.get("/images/{image_id:int}", summary="An image of the gallery and its faces")
async def get_image(image_id: int, who: Reader, c: Ctx) -> dict[str, Any]:
    def make(cat: Catalog) -> dict[str, Any]:
        return views.image_view(cat.image(image_id), cat.faces_of_image(image_id))

    return await c.workers.on_catalog(make)


@router.get(
    "/images/{image_id:int}/file",
    summary="The source image file",
    response_class=Response,
    responses=IMAGE_RESPONSE,
)
async def get_image_file(image_id: int, who: Reader, c: Ctx) -> Response:
    limit = c.settings.max_file_bytes

    def make(cat: Catalog) -> bytes:
        return read_source(cat.image(image_id).source, limit)

    data = await c.workers.on_catalog(make)
    return Response(data, media_type=image_type(data))


@router.get("/subjects/{name}", summary="A subject (label) and its faces")
async def get_subject(name: str, who: Reader, c: Ctx) -> dict[str, Any]:
    def make(cat: Catalog) -> dict[str, Any]:
        faces = cat.faces_of_subject(name)
        return {"name": name, "faces": [views.face_view(f) for f in faces]}

    return await c.workers.on_catalog(make)


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
