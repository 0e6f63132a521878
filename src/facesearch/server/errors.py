"""One error shape for every HTTP error, built in one place.

Every error the server answers, whatever raised it (the library, FastAPI's request validation,
an unknown path, a middleware, a bug), is::

    {"error": {"code": "not_found", "message": "no face with id 7"}}

with the status below. Browsers asking for a page (``Accept: text/html``, outside ``/api/``)
get the same code and message as an HTML page, and a login page instead of a 401. A traceback
never reaches a client: unexpected exceptions are logged here and answered with a 500
``internal`` error. Library messages about the server's own files (catalog, models, index)
are logged and replaced by a generic one.

    400 bad_request            the body cannot be parsed (malformed multipart)
    401 unauthenticated        no, an unknown, expired or revoked session or token
    403 forbidden, csrf_failed the role may not; a form without its CSRF token
    404 not_found              no such resource or page
    405 method_not_allowed
    409 conflict               e.g. an erasure while an ingest is running
    409 erased                 a verdict on a candidate face that has been erased
    413 payload_too_large      body, file or pixel count over the limit
    415 unsupported_media_type an upload that is not an image (or archive, for ingest)
    422 bad_input, invalid_request, no_face, poor_probe, bad_image, ...
    429 rate_limited           too many requests (Retry-After says when to come back)
    500 internal, model_error, config_error
    503 timeout, busy, catalog_error, index_error, index_rebuilding, pdf_unavailable

Ids in paths are SQLite integers (0 .. 2**63 - 1): the ``int`` path convertor is replaced
here by one that matches only those, so ``/api/v1/faces/9223372036854775808`` is a 404 like
any other face that does not exist, never an overflow deep in a store.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.convertors import IntegerConvertor, register_url_convertor
from starlette.exceptions import HTTPException as StarletteHTTPException

from facesearch.errors import (
    AuthenticationError,
    CatalogError,
    ConfigError,
    ErasedError,
    FaceSearchError,
    ImageTooLargeError,
    InputError,
    ModelError,
    NotFoundError,
    PdfUnavailableError,
    PermissionDeniedError,
    VectorIndexError,
)
from facesearch.types import MAX_ID

log = logging.getLogger(__name__)


def _at_most(bound: str) -> str:
    """A regular expression for the decimal numbers from 0 to ``bound`` (no sign)."""
    n = len(bound)
    alternatives = [f"[0-9]{{1,{n - 1}}}"] if n > 1 else []
    for i, digit in enumerate(bound):
        if digit != "0":
            tail = f"[0-9]{{{n - i - 1}}}" if n - i - 1 else ""
            alternatives.append(f"{bound[:i]}[0-{int(digit) - 1}]{tail}")
    alternatives.append(bound)
    return "(?:" + "|".join(alternatives) + ")"


class IdConvertor(IntegerConvertor):
    """``{name:int}`` in a path: 0 .. 2**63 - 1 (what SQLite stores); larger does not match."""

    regex = _at_most(str(MAX_ID))


register_url_convertor("int", IdConvertor())


class ServerError(FaceSearchError, code="internal"):
    """An error of the HTTP layer itself, with its own status (``status=`` as the code is
    given, in the class statement)."""

    status = 500

    def __init_subclass__(cls, status: int = 0, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.status = status or cls.status

    def __init__(self, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class CsrfError(PermissionDeniedError, code="csrf_failed"): ...


class ConflictError(ServerError, status=409, code="conflict"): ...


class PayloadTooLargeError(ServerError, status=413, code="payload_too_large"): ...


class UnsupportedMediaError(ServerError, status=415, code="unsupported_media_type"): ...


class RateLimitedError(ServerError, status=429, code="rate_limited"): ...


class BusyError(ServerError, status=503, code="timeout"): ...


class OverloadedError(BusyError, code="busy"):
    """Every analysis slot is taken (``workers.AnalysisSlots``)."""


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}

_STATUS: dict[type, int] = {
    AuthenticationError: 401,
    PermissionDeniedError: 403,
    ErasedError: 409,
    ImageTooLargeError: 413,
    InputError: 422,
    PdfUnavailableError: 503,
}

_GENERIC: dict[type, tuple[int, str]] = {
    ModelError: (500, "the face models could not be run; the error was logged"),
    ConfigError: (500, "the server is misconfigured; the error was logged"),
    VectorIndexError: (503, "the vector index is unavailable; try again later"),
    CatalogError: (503, "the gallery database is unavailable; try again later"),
}


def classify(exc: BaseException) -> tuple[int, str, str, dict[str, str]]:
    """(status, code, message, extra headers) for any exception."""
    headers: dict[str, str] = {}
    if isinstance(exc, NotFoundError):  # a 404 whatever else it is
        return 404, exc.code, str(exc), headers
    if isinstance(exc, ServerError):
        if exc.retry_after is not None:
            headers["Retry-After"] = str(exc.retry_after)
        return exc.status, exc.code, str(exc), headers
    for kind in type(exc).__mro__:  # the most specific class decides, not the order here
        if kind in _STATUS:
            return _STATUS[kind], exc.code, str(exc), headers  # type: ignore[attr-defined]
        if kind in _GENERIC:
            status, message = _GENERIC[kind]
            log.error("%s: %s", type(exc).__name__, exc)
            return status, exc.code, message, headers  # type: ignore[attr-defined]
    if isinstance(exc, RequestValidationError):
        return 422, "invalid_request", _validation_message(exc), headers
    if isinstance(exc, OverflowError):  # an id past int64, a date past year 9999, ...
        return 422, "invalid_request", "a number or date in the request is out of range", headers
    if isinstance(exc, StarletteHTTPException):
        code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        if exc.status_code == 404:
            message = "no such resource or page"
        headers.update(exc.headers or {})
        return exc.status_code, code, message, headers
    if isinstance(exc, FaceSearchError):
        log.error("unmapped library error %s: %s", type(exc).__name__, exc)
        return 500, exc.code, "internal error; it was logged", headers
    log.error("unexpected error", exc_info=exc)
    return 500, "internal", "internal error; it was logged", headers


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:3]:
        loc = [str(x) for x in err.get("loc", ()) if x not in ("body", "query", "path", "form")]
        where = ".".join(loc) or "request"
        parts.append(f"{where}: {str(err.get('msg', 'invalid')).lower()}")
    return "; ".join(parts) or "invalid request"


def error_body(code: str, message: str) -> dict[str, Any]:
    """The one error shape."""
    return {"error": {"code": code, "message": message}}


def wants_html(request: Request) -> bool:
    """A browser asking for a page (not the API)."""
    path = request.url.path
    if path.startswith("/api/") or path in ("/metrics", "/openapi.json", "/health"):
        return False
    return "text/html" in request.headers.get("accept", "")


def error_response(
    request: Request, status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    """The response for an error: JSON, or for a browser an HTML page (or the login page)."""
    headers = dict(headers or {})
    if wants_html(request):
        if status == 401:
            target = request.url.path
            if request.url.query:
                target += "?" + request.url.query
            from urllib.parse import quote

            return RedirectResponse(f"/login?next={quote(target, safe='/')}", status_code=303)
        templates = getattr(request.app.state, "templates", None)
        if templates is not None:
            principal = request.scope.get("state", {}).get("principal")
            response: Response = templates.TemplateResponse(
                request,
                "error.html",
                {"status": status, "code": code, "message": message, "principal": principal},
                status_code=status,
                headers=headers,
            )
            return response
    if status == 401 and request.url.path.startswith("/api/"):
        headers.setdefault("WWW-Authenticate", 'Bearer realm="facesearch"')
    return JSONResponse(error_body(code, message), status_code=status, headers=headers)


async def handle_error(request: Request, exc: Exception) -> Response:
    """The one exception handler, registered for every exception type."""
    status, code, message, headers = classify(exc)
    return error_response(request, status, code, message, headers)
