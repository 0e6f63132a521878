"""A lean HTTP/1.1 client for load.py: one keep-alive connection per worker, the multipart body
of each probe encoded once, the answer read by its status line and Content-Length.

The load test's client runs on the same 2 cores as the server it measures. httpx spends about
4 ms of CPU a search in its connection pool and request machinery (measured with py-spy and
/proc in load.py's timed window), which at 80 searches/s is a sixth of the machine taken from
the server. This client sends the same bytes a browser or httpx would (a multipart/form-data
POST with a bearer token) and costs a fraction of that. ``load.py --client httpx`` keeps the
old client, to compare the two side by side.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from urllib.parse import urlparse

BIG = 1000  # added to the status of a --big-mix search (as in load.py)
TIMEOUT_S = 120.0


def multipart(fields: dict[str, str], filename: str, data: bytes) -> tuple[str, bytes]:
    """A multipart/form-data body of ``fields`` and one file field ``image``."""
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="image"; '
        f'filename="{filename}"\r\nContent-Type: application/octet-stream\r\n\r\n'.encode()
        + data
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return f"multipart/form-data; boundary={boundary}", b"".join(parts)


class Connection:
    """One keep-alive connection to ``url``'s host, opened again when the server closed it."""

    def __init__(self, url: str) -> None:
        parsed = urlparse(url)
        self.host = parsed.hostname or "127.0.0.1"
        self.port = parsed.port or 80
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def post(
        self, path: str, token: str, content_type: str, body: bytes
    ) -> tuple[int, dict[str, str]]:
        """POST ``body``; the status and the headers of the answer (its body is read and
        dropped). A broken connection is opened again once; then the error is raised."""
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Authorization: Bearer {token}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        for attempt in (1, 2):
            if self._writer is None:
                self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
            try:
                self._writer.write(head)
                self._writer.write(body)
                return await asyncio.wait_for(self._answer(), TIMEOUT_S)
            except (ConnectionError, asyncio.IncompleteReadError) as exc:
                self.close()
                if attempt == 2:
                    raise ConnectionError(f"the server closed the connection: {exc}") from exc
        raise AssertionError("unreachable")

    async def _answer(self) -> tuple[int, dict[str, str]]:
        assert self._reader is not None
        status_line = await self._reader.readuntil(b"\r\n")
        status = int(status_line.split(b" ", 2)[1])
        headers: dict[str, str] = {}
        while (line := await self._reader.readuntil(b"\r\n")) != b"\r\n":
            key, _, value = line.decode("latin-1").partition(":")
            headers[key.strip().lower()] = value.strip()
        if headers.get("transfer-encoding", "").lower() == "chunked":
            while size := int((await self._reader.readuntil(b"\r\n")).split(b";")[0], 16):
                await self._reader.readexactly(size + 2)
            await self._reader.readuntil(b"\r\n")
        else:
            await self._reader.readexactly(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, headers

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None


FIELDS = {"case": "LOAD-1", "purpose": "load test", "top": "10"}


def bodies(photos: list[bytes], filename: str) -> list[tuple[str, bytes]]:
    """The search request body of each photo (encode them before the clock starts)."""
    return [multipart(FIELDS, filename, p) for p in photos]


async def worker(
    url: str,
    token: str,
    requests: list[tuple[str, bytes]],
    offset: int,
    deadline: float,
    budget: list[int],
    out: list[tuple[float, int]],
    big: bool = False,
) -> None:
    """load.py's worker over one ``Connection``: search in a loop until the deadline or the
    budget, with ``requests`` (``bodies``) in turn; ``big``: these are --big-mix's huge PNG,
    so wait Retry-After when told to, and mark the results."""
    connection = Connection(url)
    i = offset
    try:
        while time.monotonic() < deadline and budget[0] > 0:
            budget[0] -= 1
            content_type, body = requests[i % len(requests)]
            i += 1
            started = time.perf_counter()
            while True:
                try:
                    status, headers = await connection.post(
                        "/api/v1/searches", token, content_type, body
                    )
                except (OSError, TimeoutError, ValueError):
                    status, headers = 0, {}
                    connection.close()
                if big and status in (429, 503) and time.monotonic() < deadline:
                    await asyncio.sleep(float(headers.get("retry-after", "1")))
                    continue
                break
            out.append((time.perf_counter() - started, BIG + status if big else status))
    finally:
        connection.close()
