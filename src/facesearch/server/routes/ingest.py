"""Ingest by upload: images and zip/tar archives become background jobs (``jobs.py``); as
JSON under ``/api/v1/ingest-jobs`` and as the Ingest pages (the upload form, a job's
progress). Jobs are listed since the server started; a user sees the jobs of their own
organisation's accounts only (another's job is not found, as one that does not exist)."""

from __future__ import annotations

from typing import Annotated, Any

import anyio
from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from facesearch.app.uploads import job_visible
from facesearch.errors import FaceSearchError, NotFoundError
from facesearch.gallery.uploads import JOB_ID
from facesearch.server import gallery_services, ingest_uploads
from facesearch.server.auth import Principal
from facesearch.server.context import Context
from facesearch.server.deps import Ctx, Ingester, IngesterPage
from facesearch.server.rendering import Page

api = APIRouter(prefix="/api/v1", tags=["gallery"])
pages = APIRouter(include_in_schema=False)


async def _job(c: Context, who: Principal, job_id: str) -> dict[str, Any]:
    """A job's view, from this replica or (replicas) as another one published it."""
    view = c.jobs.view(job_id) if JOB_ID.fullmatch(job_id) else None
    if view is None or not (await _visible(c, who, [view])):
        raise NotFoundError(f"no ingest job {job_id}")
    return view


async def _jobs(c: Context, who: Principal) -> list[dict[str, Any]]:
    """The views of the jobs ``who`` may see, newest first."""
    return await _visible(c, who, c.jobs.views())


async def _visible(c: Context, who: Principal, views: list[dict[str, Any]]) -> list[dict[str, Any]]:
    def run() -> list[dict[str, Any]]:
        return [v for v in views if job_visible(c.store, who.user, str(v["actor"]))]

    return await anyio.to_thread.run_sync(run)


@api.post("/ingest-jobs", status_code=202, summary="Upload images or zip/tar archives to ingest")
async def create_ingest_job(
    who: Ingester,
    c: Ctx,
    files: Annotated[list[UploadFile], File(description="Images and/or archives.")],
    collection: Annotated[str, Form()] = "default",
    label_from_dir: Annotated[bool, Form(description="Label by folder names in archives.")] = False,
    subject: Annotated[str | None, Form(description="Label for the loose images.")] = None,
) -> JSONResponse:
    job = await ingest_uploads.start(
        c, who, files, collection=collection, label_from_dir=label_from_dir, subject=subject
    )
    return JSONResponse(
        job.view(), status_code=202, headers={"Location": f"/api/v1/ingest-jobs/{job.id}"}
    )


@api.get("/ingest-jobs", summary="Ingest jobs since the server started")
async def list_ingest_jobs(who: Ingester, c: Ctx) -> dict[str, Any]:
    return {"items": await _jobs(c, who)}


@api.get("/ingest-jobs/{job_id}", summary="An ingest job and its progress")
async def get_ingest_job(job_id: str, who: Ingester, c: Ctx) -> dict[str, Any]:
    return await _job(c, who, job_id)


async def _ingest_page(page: Page, form: dict[str, Any], **values: Any) -> HTMLResponse:
    """The upload form: the Collection field starts from the organisation's first collection
    (or the one its first ingest would make) and offers the others it owns."""
    own = await gallery_services.own_collections(page.c, page.who)
    first = own[0].name if own else gallery_services.new_collection_name(page.who)
    return page.render(
        "ingest.html",
        jobs=await _jobs(page.c, page.who),
        form=form,
        own_collections=own,
        first_collection=first,
        **values,
    )


@pages.get("/ingest")
async def ingest_page(page: IngesterPage) -> HTMLResponse:
    return await _ingest_page(page, form={})


@pages.post("/ingest")
async def ingest_submit(
    page: IngesterPage,
    files: Annotated[list[UploadFile] | None, File()] = None,
    collection: Annotated[str, Form(max_length=200)] = "default",
    label_from_dir: Annotated[bool, Form()] = False,
    subject: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    form = {"collection": collection, "label_from_dir": label_from_dir, "subject": subject}
    try:
        job = await ingest_uploads.start(
            page.c,
            page.who,
            files or [],
            collection=collection,
            label_from_dir=label_from_dir,
            subject=subject,
        )
    except FaceSearchError as exc:
        return await _ingest_page(page, form=form, error=exc)
    return RedirectResponse(f"/ingest/{job.id}", status_code=303)


@pages.get("/ingest/{job_id}")
async def ingest_job_page(job_id: str, page: IngesterPage) -> HTMLResponse:
    return page.render("ingest_job.html", job=await _job(page.c, page.who, job_id))


router = APIRouter()
router.include_router(api)
router.include_router(pages)
