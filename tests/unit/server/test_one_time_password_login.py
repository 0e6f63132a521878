"""The login pages with a one-time password (one an admin set): the login form answers with
the form to choose one's own, which logs in; the admin's password then works no more."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.fakes import FakePipeline

from facesearch.server import create_app
from facesearch.server.auth import SESSION_COOKIE

HTML = {"Accept": "text/html"}
GIVEN = "handed over at the front desk"
MINE = "only inv1 knows this passphrase"


@pytest.fixture
def home(fake_homes: Any) -> Any:
    return fake_homes("one-time-password")


@pytest.fixture
def client(home: Any) -> Iterator[TestClient]:
    with TestClient(create_app(home.settings, pipelines=FakePipeline), follow_redirects=False) as c:
        yield c


def form_token(page: str) -> str:
    found = re.search(r'name="login_token" value="([^"]*)"', page)
    assert found, page
    return found.group(1)


def test_an_admins_password_leads_to_choosing_ones_own(client: TestClient, home: Any) -> None:
    r = client.post(
        "/api/v1/users/inv1/password", data={"password": GIVEN}, headers=home.auth("admin1")
    )
    assert r.status_code == 200 and r.json()["one_time"] is True, r.text
    users = client.get("/api/v1/users", headers=home.auth("admin1")).json()["items"]
    assert {u["name"]: u["one_time_password"] for u in users}["inv1"] is True

    page = client.get("/login").text
    r = client.post(
        "/login", data={"name": "inv1", "password": GIVEN, "login_token": form_token(page)}
    )
    assert r.status_code == 401 and SESSION_COOKIE not in r.cookies
    assert "Choose your own password" in r.text and 'action="/login/new-password"' in r.text
    assert 'value="inv1"' in r.text and GIVEN not in r.text  # never echoed back

    fields = {"name": "inv1", "password": GIVEN, "login_token": form_token(r.text)}
    r = client.post(
        "/login/new-password", data=fields | {"new_password": MINE, "new_password_again": "x"}
    )
    assert r.status_code == 422 and "the two new passwords differ" in r.text
    assert 'action="/login/new-password"' in r.text  # the same form again

    mistyped = fields | {"password": "handed over at the front door", "login_token": ""}
    mistyped["login_token"] = form_token(r.text)
    r = client.post(
        "/login/new-password",
        data=mistyped | {"new_password": MINE, "new_password_again": MINE, "one_time": "true"},
    )
    assert r.status_code == 401 and "wrong password" in r.text
    assert "Choose your own password" in r.text  # the same form, to try again

    fields["login_token"] = form_token(r.text)
    r = client.post(
        "/login/new-password",
        data=fields | {"new_password": MINE, "new_password_again": MINE, "next": "/cases"},
    )
    assert r.status_code == 303 and r.headers["location"] == "/cases", r.text
    assert SESSION_COOKIE in r.cookies
    assert client.get("/cases", headers=HTML).status_code == 200  # logged in
    client.cookies.clear()

    page = client.get("/login").text
    r = client.post(
        "/login", data={"name": "inv1", "password": GIVEN, "login_token": form_token(page)}
    )
    assert r.status_code == 401 and "Choose your own password" not in r.text
    page = client.get("/login").text
    r = client.post(
        "/login", data={"name": "inv1", "password": MINE, "login_token": form_token(page)}
    )
    assert r.status_code == 303


def session_login(client: TestClient, name: str, password: str = "correct-horse-battery") -> str:
    """Log ``name`` in through the form; the CSRF token of the session."""
    page = client.get("/login").text
    r = client.post(
        "/login", data={"name": name, "password": password, "login_token": form_token(page)}
    )
    assert r.status_code == 303, r.text
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/users", headers=HTML).text)
    assert found
    return found.group(1)


def test_the_users_page_sets_a_one_time_password_but_not_ones_own(
    client: TestClient, home: Any
) -> None:
    csrf = session_login(client, "admin1")
    page = client.get("/users", headers=HTML).text
    assert 'action="/users/inv2/password"' in page
    assert 'action="/users/admin1/password"' not in page  # one's own is changed at login
    r = client.post("/users/inv2/password", data={"password": GIVEN, "csrf_token": csrf})
    assert r.status_code == 200 and "inv2 has a one-time password now" in r.text, r.text
    assert "one-time password</span>" in r.text  # marked in the table
    r = client.post("/users/admin1/password", data={"password": GIVEN, "csrf_token": csrf})
    assert r.status_code == 422 and "your own password" in r.text
    client.cookies.clear()
    page = client.get("/login").text
    r = client.post(
        "/login", data={"name": "inv2", "password": GIVEN, "login_token": form_token(page)}
    )
    assert r.status_code == 401 and "Choose your own password" in r.text
    assert 'name="one_time" value="true"' in r.text


def test_anyone_changes_their_own_password_from_the_login_page(
    client: TestClient, home: Any
) -> None:
    page = client.get("/login").text
    assert 'href="/login?change=1"' in page
    page = client.get("/login", params={"change": "1", "next": "/cases"}).text
    assert "Change your password" in page and 'action="/login/new-password"' in page
    assert 'name="next" value="/cases"' in page
    r = client.post(
        "/login/new-password",
        data={
            "name": "inv1",
            "password": "correct-horse-battery",
            "new_password": MINE,
            "new_password_again": MINE,
            "next": "/cases",
            "login_token": form_token(page),
        },
    )
    assert r.status_code == 303 and r.headers["location"] == "/cases", r.text
    client.cookies.clear()
    page = client.get("/login").text
    r = client.post(
        "/login",
        data={"name": "inv1", "password": "correct-horse-battery", "login_token": form_token(page)},
    )
    assert r.status_code == 401  # the old one is gone
