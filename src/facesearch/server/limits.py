"""What the server refuses before doing any work: size, type, rate and time limits.

- **Body size** (``BodyLimitMiddleware``): a request whose body is over
  ``server_max_upload_bytes`` (``server_max_ingest_bytes`` for an ingest upload) gets 413,
  from its Content-Length before anything is read, or as soon as a chunked body passes it.
- **Content type** (``sniff_image``, ``sniff_ingest``): what an upload *is* is read from its
  first bytes, never from its name or its declared type; anything else gets 415. An image's
  pixel count is read from its header and refused (413) over ``max_pixels`` before decoding.
- **Rate** (``RateLimiter``): a token bucket per user (per client address for login
  attempts); an empty bucket gets 429 with Retry-After.
- **Time** (``TimeoutMiddleware``): a request that has not started its answer after
  ``server_request_timeout`` seconds gets 503; work it queued for the engine is dropped.
- **Headers** (``SecurityHeadersMiddleware``): a strict Content-Security-Policy (no inline
  script or style), no framing, no sniffing, no referrer to other sites, no caching of answers.
"""

from __future__ import annotations

import io
import math
import re
import threading
import time
import warnings
from collections.abc import Callable
from typing import Any

import anyio
from PIL import Image, UnidentifiedImageError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from facesearch.app import UPLOADED_PHOTO
from facesearch.core.decode import FORMATS, bomb_message
from facesearch.errors import CorruptImageError
from facesearch.server.asgi import HttpMiddleware
from facesearch.server.errors import (
    BusyError,
    PayloadTooLargeError,
    UnsupportedMediaError,
    classify,
    error_response,
)

IMAGE_MIME = {
    "JPEG": "image/jpeg",
    "MPO": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "BMP": "image/bmp",
    "TIFF": "image/tiff",
    "GIF": "image/gif",
}


def _magic_image(head: bytes) -> bool:
    return (
        head.startswith(b"\xff\xd8\xff")
        or head.startswith(b"\x89PNG\r\n\x1a\n")
        or head[:6] in (b"GIF87a", b"GIF89a")
        or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")
        or head[:2] == b"BM"
        or head[:4] in (b"II*\x00", b"MM\x00*")
    )


def sniff_image(data: bytes, max_pixels: int, name: str | None = None) -> tuple[str, int, int]:
    """(format, width, height) of an uploaded image, read from its bytes; ``name`` is what
    errors call it (the client's file name, made safe).

    415 if the bytes are not an image of a supported format, 413 over ``max_pixels``,
    422 (CorruptImageError) if they start like an image but cannot be read.
    """
    label = name or UPLOADED_PHOTO
    if not _magic_image(data[:16]):
        raise UnsupportedMediaError(
            f"{label}: not an image: JPEG, PNG, WebP, BMP, TIFF or GIF expected "
            "(read from the bytes)"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as image:
                fmt, (width, height) = str(image.format), image.size
        except Image.DecompressionBombError as exc:
            raise PayloadTooLargeError(f"{label}: {bomb_message(exc, max_pixels)}") from exc
        except Exception as exc:  # Pillow raises many kinds for broken headers
            raise CorruptImageError(_unreadable(exc), label) from exc
    if fmt not in FORMATS:
        raise UnsupportedMediaError(f"{label}: image format {fmt} is not supported")
    if width * height > max_pixels:
        raise PayloadTooLargeError(
            f"{label}: image is {width} x {height} = {width * height:,} pixels, "
            f"over the limit of {max_pixels:,}"
        )
    return fmt, width, height


def _unreadable(exc: Exception) -> str:
    """Pillow's reason in words, without the ``<_io.BytesIO object at 0x...>`` it names."""
    if isinstance(exc, UnidentifiedImageError):
        return "cannot read the image (damaged, or not the format its first bytes claim)"
    reason = re.sub(r"\s*<_io\.BytesIO object at 0x[0-9a-fA-F]+>", "", str(exc)).strip()
    return f"cannot read the image: {reason}" if reason else "cannot read the image"


def sniff_ingest(head: bytes, name: str | None = None) -> str:
    """What an ingest upload is, from its first 512 bytes: zip, tar, tar.gz, tar.bz2,
    tar.xz or image; 415 otherwise, naming the file (``name``, the client's file name made
    safe) when there is one."""
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "tar"
    if head.startswith(b"\x1f\x8b"):
        return "tar.gz"
    if head.startswith(b"BZh"):
        return "tar.bz2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "tar.xz"
    if _magic_image(head[:16]):
        return "image"
    raise UnsupportedMediaError(
        f"{name + ': ' if name else ''}not an image or an archive: images, .zip or "
        ".tar(.gz/.bz2/.xz) expected (read from the bytes)"
    )


class RateLimiter:
    """Token buckets: ``per_minute`` requests a minute, bursts of up to ``per_minute``."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """Take one token for ``key``: 0.0 if allowed, else seconds until one is there."""
        if self.per_minute <= 0:
            return 0.0
        rate = self.per_minute / 60.0
        now = self._clock()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.per_minute), now))
            tokens = min(float(self.per_minute), tokens + (now - last) * rate)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                return (1.0 - tokens) / rate
            self._buckets[key] = (tokens - 1.0, now)
            if len(self._buckets) > 10_000:
                self._prune(now)
            return 0.0

    def _prune(self, now: float) -> None:
        full = 60.0  # a bucket unused for a minute is full again: forget it
        self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < full}


def retry_seconds(wait: float) -> int:
    return max(1, math.ceil(wait))


async def send_error(scope: Scope, receive: Receive, send: Send, exc: BaseException) -> None:
    """Answer a raw ASGI request with the one error shape (for middlewares)."""
    request = Request(scope, receive)
    status, code, message, headers = classify(exc)
    await error_response(request, status, code, message, headers)(scope, receive, send)


class BodyLimitMiddleware(HttpMiddleware):
    """413 for bodies over the limit (``big_paths`` get ``big_limit``)."""

    def __init__(
        self, app: ASGIApp, *, limit: int, big_limit: int, big_paths: tuple[str, ...]
    ) -> None:
        super().__init__(app)
        self.limit = limit
        self.big_limit = big_limit
        self.big_paths = big_paths

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.big_limit if scope["path"] in self.big_paths else self.limit
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > limit
            except ValueError:
                too_big = False
            if too_big:
                await send_error(scope, receive, send, self._error(limit))
                return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    # HTTPException passes FastAPI's body parsing unchanged -> the one handler
                    raise StarletteHTTPException(413, str(self._error(limit)))
            return message

        await self.app(scope, counted, send)

    @staticmethod
    def _error(limit: int) -> PayloadTooLargeError:
        return PayloadTooLargeError(f"request body over the limit of {limit:,} bytes")


class TimeoutMiddleware(HttpMiddleware):
    """503 for a request that has not begun its answer within ``seconds``."""

    def __init__(self, app: ASGIApp, *, seconds: float, exempt: tuple[str, ...]) -> None:
        super().__init__(app)
        self.seconds = seconds
        self.exempt = exempt

    def handles(self, scope: Scope) -> bool:
        return scope["path"] not in self.exempt and self.seconds > 0

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        with anyio.CancelScope() as scope_guard:

            async def watchdog() -> None:
                await anyio.sleep(self.seconds)
                if not started:
                    scope_guard.cancel()

            async with anyio.create_task_group() as tg:
                tg.start_soon(watchdog)
                try:
                    await self.app(scope, receive, tracked)
                finally:
                    tg.cancel_scope.cancel()
        if scope_guard.cancelled_caught and not started:
            busy = BusyError(
                f"the request took longer than {self.seconds:g} s; try again",
                retry_after=5,
            )
            await send_error(scope, receive, send, busy)


CSP = (
    "default-src 'self'; img-src 'self' data: blob:; script-src 'self'; style-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]


class SecurityHeadersMiddleware(HttpMiddleware):
    """Security headers on every answer; ``Cache-Control: no-store`` except static files."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        static = scope["path"].startswith("/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers: list[Any] = list(message.get("headers", []))
                names = {h[0].lower() for h in headers}
                headers += [h for h in SECURITY_HEADERS if h[0] not in names]
                if not static and b"cache-control" not in names:
                    headers.append((b"cache-control", b"no-store"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
