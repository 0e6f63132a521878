"""What every page shares: ``render`` (a template, with the error it shows), the ``Page`` a
page route is given, and the parsing of the few numbers typed into forms."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from facesearch.errors import FaceSearchError, InputError
from facesearch.server.auth import Principal
from facesearch.server.context import Context, ctx
from facesearch.server.errors import classify

__all__ = ["Page", "optional_int", "page_for", "render", "secure"]


def render(
    c: Context,
    request: Request,
    template: str,
    who: Principal | None,
    status_code: int = 200,
    **values: Any,
) -> HTMLResponse:
    """A page. ``error`` may be the FaceSearchError the page shows: its status, message and
    headers (e.g. Retry-After) are then the API's for the same error (``classify``), and
    ``error_code`` its code (a training refusal links to the training)."""
    headers: dict[str, str] = {}
    if isinstance(values.get("error"), FaceSearchError):
        status_code, values["error_code"], values["error"], headers = classify(values["error"])
    values.setdefault("error", None)
    values.setdefault("error_code", None)
    response: HTMLResponse = c.templates.TemplateResponse(
        request,
        template,
        {"principal": who, **values},
        status_code=status_code,
        headers=headers,
    )
    return response


@dataclass(frozen=True)
class Page:
    """What a page route is given (``deps.ReaderPage`` ...): the request, who asks (their
    role checked) and the server's context."""

    request: Request
    who: Principal
    c: Context

    def render(self, template: str, status_code: int = 200, **values: Any) -> HTMLResponse:
        return render(self.c, self.request, template, self.who, status_code, **values)


def page_for(
    role: Callable[[Request], Awaitable[Principal]],
) -> Callable[[Request], Awaitable[Page]]:
    """The dependency that gives a page route its ``Page``, after ``role`` (``auth.needs``
    ...) has checked who asks."""

    async def page(request: Request) -> Page:
        return Page(request, await role(request), ctx(request))

    page.__name__ = f"page_{getattr(role, '__name__', 'role')}"
    return page


def secure(request: Request) -> bool:
    """Whether cookies set in answer to ``request`` are marked Secure (HTTPS only)."""
    return request.url.scheme == "https"


def optional_int(text: str, what: str, minimum: int = 1) -> int | None:
    """A whole number from ``minimum`` (1: ids; 0: a face's number) typed into a form field,
    at most 6 digits (None when left empty)."""
    text = text.strip()
    if not text:
        return None
    if not re.fullmatch(r"\d{1,6}", text) or int(text) < minimum:
        kind = "a positive whole number" if minimum == 1 else f"a whole number from {minimum}"
        raise InputError(f"{what} must be {kind}, not {text[:20]!r}")
    return int(text)
