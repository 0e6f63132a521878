"""Verifications (1:1): are two photos the same person? JSON under ``/api/v1`` (no page).

Like a search, a verification needs a case number and a stated purpose, and every attempt is
logged, a failed one with its outcome."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, UploadFile

from facesearch import app
from facesearch.server import services
from facesearch.server.deps import Ctx, Verifier
from facesearch.server.routes.searches import CASE_DOC, PURPOSE_DOC

router = APIRouter(prefix="/api/v1", tags=["searches"])


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
    request = app.VerifyRequest(
        b"", b"", case=case, purpose=purpose, threshold=threshold, max_fmr=max_fmr
    )  # the photos: the uploads, read by services.verify
    return await services.verify(c, who, a, b, request)
