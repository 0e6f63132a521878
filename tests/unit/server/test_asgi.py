"""HttpMiddleware: HTTP requests it handles go to ``http``; the rest pass through untouched."""

from __future__ import annotations

import anyio
from starlette.types import Message, Receive, Scope, Send

from facesearch.server.asgi import HttpMiddleware


class Recorder(HttpMiddleware):
    def __init__(self) -> None:
        self.seen: list[str] = []

        async def inner(scope: Scope, receive: Receive, send: Send) -> None:
            self.seen.append(f"app:{scope['type']}")

        super().__init__(inner)

    def handles(self, scope: Scope) -> bool:
        return scope.get("path") != "/skip"

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.seen.append(f"http:{scope['path']}")


async def _receive() -> Message:
    return {"type": "http.disconnect"}


async def _send(message: Message) -> None:
    return None


def test_http_requests_it_handles_go_to_http_the_rest_pass_through() -> None:
    m = Recorder()

    async def run() -> None:
        await m({"type": "lifespan"}, _receive, _send)
        await m({"type": "http", "path": "/skip"}, _receive, _send)
        await m({"type": "http", "path": "/api"}, _receive, _send)

    anyio.run(run)
    assert m.seen == ["app:lifespan", "app:http", "http:/api"]
