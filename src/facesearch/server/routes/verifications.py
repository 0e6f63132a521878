"""Verifications (1:1): are two photos the same person? JSON under ``/api/v1`` and the Verify
page (``/verify``).

Like a search, a verification needs a case number and a stated purpose, and every attempt is
logged, a failed one with its outcome. The page and the API call the same
``services.verify`` (``app.verify``), so both are checked and audited alike; the page then
shows the score, its false match rate, the decision in words and a crop of each face (made
from the photos just uploaded: no gallery data, no further read)."""

from __future__ import annotations

import base64
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, File, Form, UploadFile
from fastapi.responses import HTMLResponse

from facesearch import app
from facesearch.app import gallery as app_gallery
from facesearch.errors import FaceSearchError
from facesearch.server import services
from facesearch.server.deps import Ctx, Verifier, VerifierPage
from facesearch.server.rendering import Page
from facesearch.server.routes.searches import CASE_DOC, PURPOSE_DOC
from facesearch.server.routes.training import training_due
from facesearch.types import BBox

api = APIRouter(prefix="/api/v1", tags=["searches"])
pages = APIRouter(include_in_schema=False)


@api.post("/verifications", status_code=201, summary="Are two photos the same person? (1:1)")
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
    request = app.VerifyRequest(
        b"", b"", case=case, purpose=purpose, threshold=threshold, max_fmr=max_fmr
    )  # the photos: the uploads, read by services.verify
    return await services.verify(c, who, a, b, request)


# --- the Verify page -----------------------------------------------------------------------------


async def _verify_page(page: Page, **values: Any) -> HTMLResponse:
    return page.render("verify.html", training_due=await training_due(page.c, page.who), **values)


@pages.get("/verify")
async def verify_page(page: VerifierPage) -> HTMLResponse:
    return await _verify_page(page, form={}, result=None)


@pages.post("/verify")
async def verify_submit(
    page: VerifierPage,
    a: Annotated[UploadFile | None, File()] = None,
    b: Annotated[UploadFile | None, File()] = None,
    case: Annotated[str, Form(max_length=400)] = "",
    purpose: Annotated[str, Form(max_length=4000)] = "",
) -> HTMLResponse:
    form = {"case": case, "purpose": purpose}
    first = a if a is not None and a.filename else None
    second = b if b is not None and b.filename else None
    request = app.VerifyRequest(b"", b"", case=case, purpose=purpose)
    try:
        result = await services.verify(page.c, page.who, first, second, request)
        crops = await _crops(page, (first, second), result)
    except FaceSearchError as exc:
        return await _verify_page(page, error=exc, form=form, result=None)
    return await _verify_page(page, form={}, result=result, crops=crops)


async def _crops(
    page: Page, uploads: tuple[UploadFile | None, UploadFile | None], result: dict[str, Any]
) -> list[str]:
    """A data: URL of a JPEG crop of each compared face, from the photos just uploaded."""
    out = []
    for upload, face in zip(uploads, result["faces"], strict=True):
        assert upload is not None  # services.verify compared it
        await upload.seek(0)
        data = await upload.read()
        box = BBox(*[float(v) for v in face["bbox"]])
        jpeg = await anyio.to_thread.run_sync(app_gallery.crop, data, box, page.c.settings)
        out.append("data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii"))
    return out


router = APIRouter()
router.include_router(api)
router.include_router(pages)
