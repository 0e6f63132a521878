"""Fixtures for the server and usage tests: a small real gallery, users, a live server.

The gallery (40 LFW photos of 8 people, image 0010 of each held out as a probe) is ingested
once per session into a template home; each test module that changes things gets a copy.
"""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

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
PER_PERSON = 5
PASSWORD = "correct-horse-battery"
USERS = {
    "admin1": "admin",
    "inv1": "investigator",
    "inv2": "investigator",
    "aud1": "auditor",
    "ghost": "investigator",
}


def photo(lfw: Path, person: str, number: int) -> Path:
    return lfw / "lfw-deepfunneled" / person / f"{person}_{number:04d}.jpg"


def probe(lfw: Path, person: str) -> Path:
    """A held-out photo of a person in the gallery."""
    return photo(lfw, person, 10)


@pytest.fixture(scope="session")
def gallery_template(settings: Settings, pipeline, lfw: Path, tmp_path_factory):  # type: ignore[no-untyped-def]
    """A home with the 40-photo gallery ingested (through usage, by the local actor)."""
    from facesearch.accountability import AccountabilityStore, local_actor
    from facesearch.app.usage import audited_ingest
    from facesearch.engine import Engine

    home = tmp_path_factory.mktemp("gallery-template")
    paths = [photo(lfw, p, n) for p in PEOPLE for n in range(1, PER_PERSON + 1)]
    engine = Engine(settings.replace(home=home), pipeline=pipeline)
    try:
        with AccountabilityStore.open(home) as store:
            summary, _ = audited_ingest(
                engine, store, local_actor("tester"), paths, label_from_dir=True
            )
    finally:
        engine.catalog.close()
    assert summary.images_added == len(paths), summary.as_dict()
    return home


@dataclass
class Home:
    settings: Settings
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def home(self) -> Path:
        return self.settings.home

    def auth(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"}


def copy_anchor(home: Path, dest: Path) -> None:
    """A copied home takes its audit anchor file along (it is kept outside the home, under a
    name made from the home's path); without it, 'audit verify' says the anchor was lost."""
    from facesearch.accountability import default_anchor_file

    source = default_anchor_file(home)
    if source.exists():
        target = default_anchor_file(dest)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


def make_home(template: Path, dest: Path, settings: Settings, **overrides: object) -> Home:
    """A copy of the gallery with the users of USERS (ghost disabled) and a token each."""
    from facesearch.accountability import AccountabilityStore, local_actor

    shutil.copytree(template, dest)
    copy_anchor(template, dest)
    server_settings = settings.replace(home=dest, server_login_rate_limit=10_000, **overrides)
    out = Home(server_settings)
    me = local_actor("tester")
    with AccountabilityStore.open(dest) as store:
        for name, role in USERS.items():
            store.accounts.add_user(name, role, PASSWORD, by=me)
            out.tokens[name] = store.accounts.issue_token(name, by=me)
        store.accounts.disable_user("ghost", by=me)
    return out


@contextmanager
def live_server(settings: Settings) -> Iterator[str]:
    """A real uvicorn server for ``settings`` on 127.0.0.1 and a free port; yields its URL."""
    import uvicorn

    from facesearch.server import create_app

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(settings), log_level="warning", access_log=False, lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        # up (503 is a storage warning, which some tests cause on purpose)
        assert httpx.get(url + "/health", timeout=5).status_code in (200, 503)
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


@pytest.fixture(scope="session")
def server_home(gallery_template: Path, settings: Settings, tmp_path_factory):  # type: ignore[no-untyped-def]
    """make(name, **setting_overrides) -> Home: a fresh copy of the gallery with users."""

    def make(name: str, **overrides: object) -> Home:
        return make_home(
            gallery_template, tmp_path_factory.mktemp(name) / "home", settings, **overrides
        )

    return make


@pytest.fixture(scope="session")
def serve():  # type: ignore[no-untyped-def]
    """serve(settings): a context manager running a real uvicorn server; yields its URL."""
    return live_server


@pytest.fixture(scope="session")
def probe_photo(lfw: Path):  # type: ignore[no-untyped-def]
    """probe_photo(person, number=10): a photo of a person; number 10 is never in the gallery."""

    def get(person: str, number: int = 10) -> Path:
        return photo(lfw, person, number)

    return get
