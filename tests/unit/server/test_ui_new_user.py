"""A new user's review of the web UI (the demo, every role, in Chromium), on the fake
pipeline: pages that tell the truth (a read limit is not an erasure, an empty oversight list
is not "every search has a verdict", why fewer candidates than asked), forms offered only to
whom may use them, and a typed-in /logout that says how to log out."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.fakes import FakePipeline
from tests.unit.server.test_analyst_ui import login

from facesearch.server import create_app

HTML = {"Accept": "text/html"}


@pytest.fixture(scope="module")
def home(fake_homes: Any) -> Any:
    return fake_homes("ui-new-user")


@pytest.fixture(scope="module")
def client(home: Any) -> Iterator[TestClient]:
    with TestClient(create_app(home.settings, pipelines=FakePipeline), follow_redirects=False) as c:
        yield c


def test_a_typed_in_logout_says_to_use_the_button(home: Any) -> None:
    """GET /logout (a bookmark, a typed address) answered a bare 405 page: it now says to use
    the Log out button, and shows one; logging out stays a POST with the CSRF token."""
    with TestClient(create_app(home.settings, pipelines=FakePipeline), follow_redirects=False) as c:
        csrf = login(c, "inv1")
        r = c.get("/logout", headers=HTML)
        assert r.status_code == 200, r.text
        assert "use the <b>Log out</b> button" in r.text
        form = re.search(r'<div class="panel" id="logout-how">.*?</div>', r.text, re.S)
        assert form and 'method="post" action="/logout"' in form[0] and csrf in form[0]
        assert c.get("/gallery", headers=HTML).status_code == 200  # still logged in
        assert c.post("/logout", headers=HTML).status_code == 403  # no CSRF token
        r = c.post("/logout", headers=HTML, data={"csrf_token": csrf})
        assert r.status_code == 303 and r.headers["location"] == "/login"
        r = c.get("/logout", headers=HTML)
        assert r.status_code == 303 and r.headers["location"].startswith("/login")
