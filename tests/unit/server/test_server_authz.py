"""Authorisation matrix: every route x {anonymous, bad token, disabled user, each role}.

The expected roles are written out here, not read from the code's permission table, so a
change in who may do what fails this test until it is made here too. Every route of the app
must appear in ROUTES: a new route without an entry fails ``test_every_route_is_in_the_matrix``.

Runs on the fake pipeline (tests/fakes.py): who may do what does not depend on real faces.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import BaseRoute
from tests.fakes import FakePipeline, face_photo, person_name

from facesearch.server import create_app

ALL = frozenset({"admin", "investigator", "auditor"})
SEARCH = frozenset({"investigator"})
REVIEW = frozenset({"investigator", "admin"})  # decide, read gallery
CURATE = frozenset({"investigator", "admin"})  # build people, name, merge, split them
OVERSEE = frozenset({"investigator", "admin", "auditor"})  # read a search (auditors oversee)
ADMIN = frozenset({"admin"})
AUDIT = frozenset({"auditor", "admin"})
METRICS = frozenset({"admin", "auditor"})
SUPERVISORS: frozenset[str] = frozenset()  # none of ROLE_USERS: see test_oversight_routes
OPERATORS: frozenset[str] = frozenset()  # none of ROLE_USERS (in the default organisation)
PUBLIC = None

# (method, route path) -> (who may, concrete path, expected status for those who may)
ROUTES: dict[tuple[str, str], tuple[frozenset[str] | None, str, int]] = {
    ("GET", "/health"): (PUBLIC, "/health", 200),
    ("GET", "/metrics"): (METRICS, "/metrics", 200),
    ("GET", "/openapi.json"): (ALL, "/openapi.json", 200),
    ("GET", "/docs"): (ALL, "/docs", 200),
    ("POST", "/docs/token"): (ALL, "/docs/token", 200),
    ("POST", "/api/v1/detect"): (SEARCH, "/api/v1/detect", 422),
    ("POST", "/api/v1/searches"): (SEARCH, "/api/v1/searches", 422),
    ("GET", "/api/v1/searches"): (REVIEW, "/api/v1/searches", 200),
    ("GET", "/api/v1/searches/{search_id:int}"): (OVERSEE, "/api/v1/searches/{S}", 200),
    ("GET", "/api/v1/searches/{search_id:int}/probe"): (OVERSEE, "/api/v1/searches/{S}/probe", 200),
    ("GET", "/api/v1/searches/{search_id:int}/probe/faces/{face:int}/crop"): (
        OVERSEE,
        "/api/v1/searches/{S}/probe/faces/{P}/crop",
        200,
    ),
    ("GET", "/api/v1/candidates"): (REVIEW, "/api/v1/candidates", 200),
    ("GET", "/api/v1/searches/{search_id:int}/candidates/{face_id:int}"): (
        OVERSEE,
        "/api/v1/searches/{S}/candidates/{F}",
        200,
    ),
    ("POST", "/api/v1/searches/{search_id:int}/candidates/{face_id:int}/decisions"): (
        REVIEW,
        "/api/v1/searches/{S}/candidates/{F}/decisions",
        422,
    ),
    ("POST", "/api/v1/verifications"): (SEARCH, "/api/v1/verifications", 422),
    ("GET", "/api/v1/faces/{face_id:int}"): (REVIEW, "/api/v1/faces/{F}", 200),
    ("GET", "/api/v1/faces/{face_id:int}/crop"): (REVIEW, "/api/v1/faces/{F}/crop", 200),
    ("GET", "/api/v1/images/{image_id:int}"): (REVIEW, "/api/v1/images/{I}", 200),
    ("GET", "/api/v1/images/{image_id:int}/file"): (REVIEW, "/api/v1/images/{I}/file", 200),
    ("GET", "/api/v1/subjects/{name}"): (REVIEW, "/api/v1/subjects/" + person_name(1), 200),
    ("GET", "/api/v1/faces"): (REVIEW, "/api/v1/faces", 200),
    ("GET", "/api/v1/images"): (REVIEW, "/api/v1/images", 200),
    ("GET", "/api/v1/subjects"): (REVIEW, "/api/v1/subjects", 200),
    ("GET", "/api/v1/collections"): (REVIEW, "/api/v1/collections", 200),
    ("GET", "/api/v1/collections/{name}"): (REVIEW, "/api/v1/collections/default", 200),
    ("GET", "/api/v1/stats"): (REVIEW, "/api/v1/stats", 200),
    ("POST", "/api/v1/erasures"): (ADMIN, "/api/v1/erasures", 422),
    ("GET", "/api/v1/erasure/status"): (ADMIN, "/api/v1/erasure/status", 200),
    ("GET", "/api/v1/people"): (REVIEW, "/api/v1/people", 200),
    ("GET", "/api/v1/people/{person_id:int}"): (REVIEW, "/api/v1/people/{N}", 200),
    ("POST", "/api/v1/people/build"): (CURATE, "/api/v1/people/build", 200),
    ("POST", "/api/v1/people/{person_id:int}/name"): (CURATE, "/api/v1/people/999999/name", 404),
    ("POST", "/api/v1/people/{person_id:int}/merge"): (CURATE, "/api/v1/people/{N}/merge", 422),
    ("POST", "/api/v1/people/{person_id:int}/split"): (CURATE, "/api/v1/people/{N}/split", 422),
    ("POST", "/api/v1/people/{person_id:int}/not"): (CURATE, "/api/v1/people/{N}/not", 422),
    ("POST", "/api/v1/ingest-jobs"): (ADMIN, "/api/v1/ingest-jobs", 422),
    ("GET", "/api/v1/ingest-jobs"): (ADMIN, "/api/v1/ingest-jobs", 200),
    ("GET", "/api/v1/ingest-jobs/{job_id}"): (ADMIN, "/api/v1/ingest-jobs/0123456789abcdef", 404),
    ("GET", "/api/v1/users"): (ADMIN, "/api/v1/users", 200),
    ("POST", "/api/v1/users"): (ADMIN, "/api/v1/users", 422),
    ("GET", "/api/v1/users/{name}"): (ADMIN, "/api/v1/users/inv1", 200),
    ("POST", "/api/v1/users/{name}/disable"): (ADMIN, "/api/v1/users/nobody/disable", 404),
    ("POST", "/api/v1/users/{name}/enable"): (ADMIN, "/api/v1/users/nobody/enable", 404),
    ("POST", "/api/v1/users/{name}/password"): (ADMIN, "/api/v1/users/nobody/password", 422),
    ("DELETE", "/api/v1/users/{name}/tokens"): (ADMIN, "/api/v1/users/nobody/tokens", 404),
    ("GET", "/api/v1/cases"): (ALL, "/api/v1/cases", 200),
    ("POST", "/api/v1/cases"): (REVIEW, "/api/v1/cases", 422),  # admins, investigators
    ("POST", "/api/v1/cases/{number:path}/close"): (ADMIN, "/api/v1/cases/K-404/close", 404),
    ("POST", "/api/v1/cases/{number:path}/members"): (ADMIN, "/api/v1/cases/K-404/members", 422),
    ("GET", "/api/v1/cases/{number:path}/timeline"): (ALL, "/api/v1/cases/K-404/timeline", 404),
    ("GET", "/api/v1/me"): (ALL, "/api/v1/me", 200),
    ("GET", "/api/v1/me/tokens"): (ALL, "/api/v1/me/tokens", 200),
    ("POST", "/api/v1/me/tokens"): (ALL, "/api/v1/me/tokens", 201),
    ("GET", "/api/v1/audit"): (AUDIT, "/api/v1/audit", 200),
    ("GET", "/api/v1/audit/head"): (AUDIT, "/api/v1/audit/head", 200),
    ("GET", "/api/v1/audit/verify"): (AUDIT, "/api/v1/audit/verify", 200),
    ("GET", "/api/v1/audit/export"): (AUDIT, "/api/v1/audit/export?format=csv", 200),
    ("GET", "/api/v1/audit/{seq:int}"): (AUDIT, "/api/v1/audit/1", 200),
    ("GET", "/api/v1/oversight"): (SUPERVISORS, "/api/v1/oversight", 200),
    ("GET", "/api/v1/alerts"): (SUPERVISORS, "/api/v1/alerts", 200),
    ("POST", "/api/v1/search-requests"): (SEARCH, "/api/v1/search-requests", 422),  # no form
    ("GET", "/api/v1/search-requests"): (SEARCH, "/api/v1/search-requests", 200),
    ("GET", "/api/v1/search-requests/{seq:int}"): (SEARCH, "/api/v1/search-requests/9999", 404),
    ("POST", "/api/v1/search-requests/{seq:int}/run"): (
        SEARCH,
        "/api/v1/search-requests/9999/run",
        404,
    ),
    ("POST", "/api/v1/search-requests/{seq:int}/{decision}"): (
        SUPERVISORS,
        "/api/v1/search-requests/9999/approve",
        404,
    ),
    ("GET", "/api/v1/orgs"): (ALL, "/api/v1/orgs", 200),
    ("POST", "/api/v1/orgs"): (OPERATORS, "/api/v1/orgs", 422),
    ("GET", "/api/v1/orgs/{name}"): (ALL, "/api/v1/orgs/default", 200),
    ("PATCH", "/api/v1/orgs/{name}"): (ADMIN, "/api/v1/orgs/default", 422),  # no body
    ("PUT", "/api/v1/collections/{name}/shares/{org}"): (
        ADMIN,
        "/api/v1/collections/nope/shares/default",
        404,
    ),
    ("DELETE", "/api/v1/collections/{name}/shares/{org}"): (
        ADMIN,
        "/api/v1/collections/nope/shares/default",
        404,
    ),
    ("GET", "/api/v1/training"): (ALL, "/api/v1/training", 200),
    ("POST", "/api/v1/training/quiz"): (ALL, "/api/v1/training/quiz", 422),  # no answers
    ("GET", "/api/v1/settings"): (ADMIN, "/api/v1/settings", 200),
    ("GET", "/login"): (PUBLIC, "/login", 200),
    ("POST", "/login"): (PUBLIC, "/login", 403),  # no login form token
    ("POST", "/login/new-password"): (PUBLIC, "/login/new-password", 403),  # no form token
    ("POST", "/logout"): (ALL, "/logout", 303),
    ("GET", "/logout"): (ALL, "/logout", 200),
    ("GET", "/"): (ALL, "/", 303),
    ("GET", "/search"): (SEARCH, "/search", 200),
    ("POST", "/search"): (SEARCH, "/search", 422),
    ("GET", "/verify"): (SEARCH, "/verify", 200),
    ("POST", "/verify"): (SEARCH, "/verify", 422),
    ("GET", "/searches/{search_id:int}"): (OVERSEE, "/searches/{S}", 200),
    ("GET", "/searches/{search_id:int}/candidates/{face_id:int}"): (
        OVERSEE,
        "/searches/{S}/candidates/{F}",
        200,
    ),
    ("POST", "/searches/{search_id:int}/candidates/{face_id:int}"): (
        REVIEW,
        "/searches/{S}/candidates/{F}",
        422,
    ),
    ("GET", "/cases"): (ALL, "/cases", 200),
    ("POST", "/cases"): (REVIEW, "/cases", 422),  # no number: admins, investigators
    ("POST", "/cases/{number:path}/{action}"): (ADMIN, "/cases/K-404/close", 404),
    ("GET", "/cases/{number:path}"): (ALL, "/cases/K-404", 404),
    ("GET", "/cases/{number:path}/report"): (ALL, "/cases/K-404/report", 404),
    ("GET", "/cases/{number:path}/report.pdf"): (ALL, "/cases/K-404/report.pdf", 404),
    ("GET", "/audit"): (AUDIT, "/audit", 200),
    ("GET", "/oversight"): (SUPERVISORS, "/oversight", 200),
    ("GET", "/approvals"): (SEARCH, "/approvals", 200),
    ("POST", "/approvals/{seq:int}/run"): (SEARCH, "/approvals/9999/run", 404),
    ("POST", "/approvals/{seq:int}/{decision}"): (SUPERVISORS, "/approvals/9999/deny", 404),
    ("GET", "/training"): (ALL, "/training", 200),
    ("POST", "/training"): (ALL, "/training", 422),  # no answers
    ("GET", "/orgs"): (ADMIN, "/orgs", 200),
    ("POST", "/orgs"): (OPERATORS, "/orgs", 400),  # no name
    ("POST", "/orgs/{name}/policy"): (ADMIN, "/orgs/default/policy", 422),  # no policy
    ("GET", "/users"): (ADMIN, "/users", 200),
    ("POST", "/users"): (ADMIN, "/users", 422),
    ("POST", "/users/{name}/{action}"): (ADMIN, "/users/nobody/disable", 404),
    ("GET", "/gallery"): (REVIEW, "/gallery", 200),
    ("POST", "/gallery/erase"): (ADMIN, "/gallery/erase", 422),
    ("GET", "/gallery/faces"): (REVIEW, "/gallery/faces", 200),
    ("GET", "/gallery/images"): (REVIEW, "/gallery/images", 200),
    ("GET", "/gallery/subjects"): (REVIEW, "/gallery/subjects", 200),
    ("GET", "/gallery/images/{image_id:int}"): (REVIEW, "/gallery/images/{I}", 200),
    ("GET", "/gallery/forget"): (ADMIN, "/gallery/forget", 200),
    ("POST", "/gallery/forget"): (ADMIN, "/gallery/forget", 422),
    ("POST", "/gallery/forget/confirm"): (ADMIN, "/gallery/forget/confirm", 422),
    ("POST", "/gallery/forget/selected"): (ADMIN, "/gallery/forget/selected", 422),
    ("POST", "/gallery/forget/again"): (ADMIN, "/gallery/forget/again", 200),
    ("GET", "/people"): (REVIEW, "/people", 200),
    ("POST", "/people/build"): (CURATE, "/people/build", 200),
    ("GET", "/people/{person_id:int}"): (REVIEW, "/people/{N}", 200),
    ("POST", "/people/{person_id:int}/name"): (CURATE, "/people/999999/name", 404),
    ("POST", "/people/{person_id:int}/merge"): (CURATE, "/people/{N}/merge", 422),
    ("POST", "/people/{person_id:int}/split"): (CURATE, "/people/{N}/split", 422),
    ("POST", "/people/{person_id:int}/not"): (CURATE, "/people/{N}/not", 422),
    ("GET", "/ingest"): (ADMIN, "/ingest", 200),
    ("POST", "/ingest"): (ADMIN, "/ingest", 422),
    ("GET", "/ingest/{job_id}"): (ADMIN, "/ingest/0123456789abcdef", 404),
    # last: it revokes the caller's own tokens
    ("DELETE", "/api/v1/me/tokens"): (ALL, "/api/v1/me/tokens", 200),
}

ROLE_USERS = {"admin": "admin1", "investigator": "inv1", "auditor": "aud1"}


@pytest.fixture(scope="module")
def home(fake_homes: Any) -> Any:
    return fake_homes("authz")


@pytest.fixture(scope="module")
def client(home: Any) -> Iterator[TestClient]:
    app = create_app(home.settings, pipelines=FakePipeline)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="module")
def ids(client: TestClient, home: Any) -> dict[str, int]:
    """Ids of a real search, one of its candidates, that candidate's image and probe face,
    and a person of the collection (its people built)."""
    r = client.post(
        "/api/v1/searches",
        headers=home.auth("inv1"),
        files={"image": ("p.png", face_photo(1, 0), "image/png")},
        data={"case": "K-matrix", "purpose": "authorisation matrix"},
    )
    assert r.status_code == 201, r.text
    search = r.json()
    face = search["faces"][0]
    cand = face["hits"][0]
    r = client.post("/api/v1/people/build", headers=home.auth("admin1"))
    assert r.status_code == 200, r.text
    person = client.get("/api/v1/people", headers=home.auth("admin1")).json()["people"][0]
    return {
        "S": search["id"],
        "F": cand["face_id"],
        "I": cand["image_id"],
        "P": face["face"],
        "N": person["person"],
    }


def identities(home: Any) -> dict[str, dict[str, str]]:
    return {
        "anonymous": {},
        "bad token": {"Authorization": "Bearer fs_" + "x" * 43},
        "malformed header": {"Authorization": "Basic YWRtaW4xOnB3"},
        "disabled user": home.auth("ghost"),
        **{role: home.auth(user) for role, user in ROLE_USERS.items()},
    }


def served(routes: list[BaseRoute], prefix: str = "") -> Iterator[tuple[str, str]]:
    """(method, path) of every APIRoute, inside included routers too (FastAPI >= 0.165 keeps
    an included router as one route that holds the router)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield from ((method, prefix + route.path) for method in route.methods)
        inner = getattr(route, "original_router", None)
        if inner is not None:
            context = getattr(route, "include_context", None)
            yield from served(inner.routes, prefix + getattr(context, "prefix", ""))


def app_routes(client: TestClient) -> set[tuple[str, str]]:
    """(method, path) of every route of the app, checked against the OpenAPI paths."""
    routes = set(served(client.app.routes))  # type: ignore[attr-defined]
    documented = client.app.openapi()["paths"]  # type: ignore[attr-defined]
    plain = {(m, re.sub(r":\w+}", "}", p)) for m, p in routes}
    for path, methods in documented.items():
        for method in methods:
            assert (method.upper(), path) in plain, f"{method} {path} is served by another router"
    return routes


def test_every_route_is_in_the_matrix(client: TestClient) -> None:
    routes = app_routes(client)
    assert routes - set(ROUTES) == set(), "routes missing from the matrix"
    assert set(ROUTES) - routes == set(), "matrix names routes the app does not have"


def test_static_and_unknown_paths(client: TestClient, home: Any) -> None:
    assert client.get("/static/style.css").status_code == 200
    assert client.get("/static/../../etc/passwd").status_code in (401, 404)
    anonymous = client.get("/no/such/page")
    assert anonymous.status_code == 401  # nothing but the public paths answers anonymously
    r = client.get("/no/such/page", headers=home.auth("inv1"))
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = client.put("/api/v1/stats", headers=home.auth("inv1"))
    assert r.status_code == 405 and r.json()["error"]["code"] == "method_not_allowed"
    page = client.get("/search", headers={"Accept": "text/html"}, follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/login?next=")


def test_bearer_wins_over_cookie_and_headers_are_set(client: TestClient, home: Any) -> None:
    r = client.get("/api/v1/me", headers=home.auth("aud1"))
    assert r.json()["name"] == "aud1" and r.json()["via"] == "token"
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["x-content-type-options"] == "nosniff"


class BrokenPipeline(FakePipeline):
    """A pipeline with a bug: analysing any image raises an unexpected error."""

    def analyse(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret internals /etc/shadow")


def test_unexpected_error_is_500_without_traceback(home: Any) -> None:
    app = create_app(home.settings, pipelines=BrokenPipeline)
    photo = {"image": ("p.png", face_photo(2, 0), "image/png")}
    use = {"case": "K-500", "purpose": "an unexpected error"}
    with TestClient(app, raise_server_exceptions=False) as client:
        r = client.post("/api/v1/searches", headers=home.auth("inv1"), files=photo, data=use)
        assert r.status_code == 500, r.text
        assert r.json() == {
            "error": {"code": "internal", "message": "internal error; it was logged"}
        }
        assert "Traceback" not in r.text and "shadow" not in r.text
        page = client.post(
            "/search",
            headers={**home.auth("inv1"), "Accept": "text/html"},
            files={"photo": photo["image"]},
            data=use,
        )
        assert page.status_code == 500, page.text
        assert "Traceback" not in page.text and "shadow" not in page.text


# Last in this file: the matrix ends by revoking every role's own tokens.
def test_authorisation_matrix(client: TestClient, home: Any, ids: dict[str, int]) -> None:
    wrong: list[str] = []
    who = identities(home)
    for (method, _), (allowed, template, ok_status) in ROUTES.items():
        path = template.format(**ids)
        for identity, headers in who.items():
            if allowed is PUBLIC:
                expected = ok_status
            elif identity in ROLE_USERS:
                expected = ok_status if identity in allowed else 403
            else:
                expected = 401
            r = client.request(method, path, headers=headers, follow_redirects=False)
            if r.status_code != expected:
                wrong.append(f"{method} {path} as {identity}: {r.status_code}, not {expected}")
            elif r.status_code >= 400 and "json" in r.headers.get("content-type", ""):
                body = r.json()
                if set(body) != {"error"} or set(body["error"]) != {"code", "message"}:
                    wrong.append(f"{method} {path} as {identity}: error shape {body}")
    assert wrong == []
