"""Fixtures for the browser tests: a small real gallery, users and a live server."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.homes import pass_training

from facesearch.settings import Settings

PEOPLE = [
    "Colin_Powell",
    "Tony_Blair",
    "Donald_Rumsfeld",
    "Gerhard_Schroeder",
    "Ariel_Sharon",
    "Hugo_Chavez",
    "Serena_Williams",
    "Jean_Chretien",
]
PASSWORD = "correct-horse-battery"
USERS = {"admin1": "admin", "inv1": "investigator", "inv2": "investigator", "aud1": "auditor"}
UNTRAINED = "trainee1"  # an investigator who has not passed the training yet


def photo(lfw: Path, person: str, number: int) -> Path:
    return lfw / "lfw-deepfunneled" / person / f"{person}_{number:04d}.jpg"


@pytest.fixture(scope="module")
def browser_home(settings: Settings, pipeline: Any, lfw: Path, tmp_path_factory) -> Settings:  # type: ignore[no-untyped-def]
    """A home with 40 LFW photos of 8 people (photo 10 of each held out) and four users."""
    from facesearch.accountability import AccountabilityStore, local_actor
    from facesearch.app import IngestRequest, ingest
    from facesearch.engine import Engine

    home = tmp_path_factory.mktemp("browser") / "home"
    server = settings.replace(home=home, server_login_rate_limit=10_000)
    engine = Engine(server, pipeline=pipeline)
    me = local_actor("tester")
    try:
        with AccountabilityStore.open(home) as store:
            paths = [photo(lfw, p, n) for p in PEOPLE for n in range(1, 6)]
            ingest(engine, store, me, IngestRequest(tuple(paths), label_from_dir=True))
            for name, role in USERS.items():
                store.accounts.add_user(name, role, PASSWORD, by=me)
            pass_training(store, server, *USERS)
            store.accounts.add_user(UNTRAINED, "investigator", PASSWORD, by=me)
    finally:
        engine.catalog.close()
    return server


@pytest.fixture(scope="module")
def server_url(browser_home: Settings) -> Iterator[str]:
    """A real uvicorn server on 127.0.0.1 and a free port."""
    import uvicorn

    from facesearch.server import create_app

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(browser_home), log_level="warning", access_log=False, lifespan="on"
        )
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port}"
    assert httpx.get(url + "/health", timeout=5).status_code == 200
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()
