"""Helpers shared by the fake-pipeline unit tests and the real-model integration tests: a home
with users of every role and a token each, a live uvicorn server over a home, and the CLI run
in-process."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from facesearch.pipeline import FacePipeline
from facesearch.settings import Settings

PASSWORD = "correct-horse-battery"
USERS = {
    "admin1": "admin",
    "inv1": "investigator",
    "inv2": "investigator",
    "aud1": "auditor",
    "ghost": "investigator",
}


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


def pass_training(store: object, settings: Settings, *names: str) -> None:
    """Each named user passes the training's quiz (``app.training``): trained staff, as a
    deployment with FACESEARCH_TRAINING_REQUIRED on expects before anyone searches."""
    from facesearch.accountability import AccountabilityStore
    from facesearch.app.training import submit_quiz
    from facesearch.app.training_course import QUIZ

    assert isinstance(store, AccountabilityStore)
    for name in names:
        user = store.accounts.get_user(name)
        assert submit_quiz(store, settings, user, [q.answer for q in QUIZ]).status.current


def make_home(
    template: Path, dest: Path, settings: Settings, *, trained: bool = True, **overrides: object
) -> Home:
    """A copy of the gallery with the users of USERS (ghost disabled) and a token each, who
    passed the training unless ``trained`` is False."""
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
        if trained:
            pass_training(store, server_settings, *(n for n in USERS if n != "ghost"))
        # round the clock: the outside-hours alert would make trails depend on the hour
        store.orgs.change("default", policy={"working_hours": "00:00-24:00"}, by=me)
    return out


@contextmanager
def live_server(
    settings: Settings, pipelines: Callable[[Settings], FacePipeline] | None = None
) -> Iterator[str]:
    """A real uvicorn server for ``settings`` on 127.0.0.1 and a free port; yields its URL.
    ``pipelines`` makes its face pipelines (the real ``FacePipeline`` when not given)."""
    import uvicorn

    from facesearch.server import create_app

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = create_app(settings) if pipelines is None else create_app(settings, pipelines=pipelines)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
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


@dataclass(frozen=True)
class Ran:
    """What one in-process CLI run returned and wrote."""

    code: int
    out: str
    err: str


def run_cli(capsys: pytest.CaptureFixture[str], home: Path, *args: str) -> Ran:
    """``facesearch --home HOME ARGS...`` through ``facesearch.cli.main``, in this process
    (with the ``fake_models`` fixture, on the fake pipeline)."""
    from facesearch.cli import main

    capsys.readouterr()  # what came before is not this run's
    code = main(["--home", str(home), *args])
    captured = capsys.readouterr()
    return Ran(code, captured.out, captured.err)
