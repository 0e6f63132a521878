"""The server's pure ASGI middlewares share one shape: an HTTP request is theirs to handle
(``http``); anything else (lifespan, a request they skip) passes through untouched."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["HttpMiddleware"]


class HttpMiddleware:
    """Subclasses implement ``http`` and, to let some requests pass, ``handles``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.handles(scope):
            await self.app(scope, receive, send)
            return
        await self.http(scope, receive, send)

    def handles(self, scope: Scope) -> bool:
        """Whether this HTTP request is the middleware's (default: every one)."""
        return True

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError
