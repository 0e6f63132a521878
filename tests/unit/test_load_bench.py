"""benchmarks/load.py's timed window: searches only, against a real HTTP server on loopback."""

from __future__ import annotations

import argparse
import asyncio
import inspect
import runpy
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def bench() -> Iterator[dict[str, Any]]:
    path, modules = list(sys.path), set(sys.modules)
    sys.path.insert(0, str(BENCHMARKS))  # load.py imports load_ingest beside it
    try:
        yield runpy.run_path(str(BENCHMARKS / "load.py"))
    finally:
        sys.path[:] = path
        for name in set(sys.modules) - modules:
            if name == "load_ingest":
                del sys.modules[name]


class _Searches(BaseHTTPRequestHandler):
    """Answers every search 201 at once, as a server with nothing to do would."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        body = b"{}"
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Searches)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_the_big_png_is_made_before_the_clock_starts(
    bench: dict[str, Any], server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--big-mix: making the 8,944 px PNG took the client about 5 s of a 30 s run, with no
    search sent meanwhile, and the searches were divided by the whole 30 s."""

    def slow_png() -> bytes:
        time.sleep(1.5)
        return b"\x89PNG big"

    monkeypatch.setitem(bench["drive"].__globals__, "big_png", slow_png)
    args = argparse.Namespace(concurrency=4, max_requests=10_000, duration=0.5, big_mix=1)
    drive = bench["drive"]
    # the caller makes the PNG before drive starts its clock (code before the fix made it in
    # drive, and took no such argument)
    given = {"big": b"\x89PNG big"} if "big" in inspect.signature(drive).parameters else {}
    out, seconds, job, *_ = asyncio.run(drive(server, ["t0"], [b"jpeg"], args, None, **given))
    assert seconds < 1.2, f"the timed window held {seconds:.2f} s for a 0.5 s run"
    statuses = {status for _, status in out}
    assert 201 in statuses  # the LFW clients searched
    assert bench["BIG"] + 201 in statuses  # and the big-mix client sent the PNG
    assert job is None
