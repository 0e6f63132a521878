"""What every page shares: ``render`` (a template, with the error it shows) and the parsing
of the few numbers typed into forms."""

from __future__ import annotations

import re
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from facesearch.errors import FaceSearchError, InputError
from facesearch.server.auth import Principal
from facesearch.server.context import Context
from facesearch.server.errors import classify

__all__ = ["optional_int", "render", "secure"]


def render(
    c: Context,
    request: Request,
    template: str,
    who: Principal | None,
    status_code: int = 200,
    **values: Any,
) -> HTMLResponse:
    """A page. ``error`` may be the FaceSearchError the page shows: its status, message and
    headers (e.g. Retry-After) are then the API's for the same error (``classify``)."""
    headers: dict[str, str] = {}
    if isinstance(values.get("error"), FaceSearchError):
        status_code, _, values["error"], headers = classify(values["error"])
    values.setdefault("error", None)
    response: HTMLResponse = c.templates.TemplateResponse(
        request,
        template,
        {"principal": who, **values},
        status_code=status_code,
        headers=headers,
    )
    return response


def secure(request: Request) -> bool:
    """Whether cookies set in answer to ``request`` are marked Secure (HTTPS only)."""
    return request.url.scheme == "https"


def optional_int(text: str, what: str) -> int | None:
    """A whole number typed into a form field (None when left empty)."""
    text = text.strip()
    if not text:
        return None
    if not re.fullmatch(r"\d{1,6}", text):
        raise InputError(f"{what} must be a whole number")
    return int(text)
