"""The cross-tenant matrix (issue 10): every route of the OpenAPI spec and every page with an
id in its path, asked by each user of organisation B (every role) for organisation A's real
ids, answers exactly as for an id that does not exist: the same status (404, or 403/401/405
where the role may never use the route) and the same error code; never 2xx, never a 422
that would hide the check. B's lists hold nothing of A's.

A new route whose path parameter the table below does not know fails the test: no route is
skipped silently. Runs on the fake pipeline (tests/fakes.py): this is about authorisation.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import BaseRoute
from tests.fakes import FakePipeline
from tests.homes import PASSWORD
from tests.integration.cross_tenant_world import (
    ROLES,
    Tenant,
    add_accounts,
    ingest_collection,
    make_data,
    png,
)

from facesearch.accountability import AccountabilityStore
from facesearch.server import create_app

A_ORG, B_ORG = "tenantqa", "tenantqb"
MISSING_JOB = "0123456789abcdef"
DENIED = {401, 403, 404, 405}
HTML = {"Accept": "text/html"}


@dataclass(frozen=True)
class World:
    client: TestClient
    a: Tenant
    b: Tenant


@pytest.fixture(scope="module")
def world(fake_homes: Any, fake_pipeline: FakePipeline) -> Iterator[World]:
    home = fake_homes("cross-tenant", users=False, server_login_rate_limit=10_000)
    accounts = {}
    people = {A_ORG: range(0, 3), B_ORG: range(3, 6)}
    with AccountabilityStore.open(home.home) as store:
        for org in (A_ORG, B_ORG):
            accounts[org] = add_accounts(store, org)
            ingest_collection(fake_pipeline, home.home, store, org, people[org])
    app = create_app(home.settings, pipelines=FakePipeline)
    with TestClient(app, raise_server_exceptions=False) as client:
        a, b = (make_data(client, org, *accounts[org], people[org]) for org in (A_ORG, B_ORG))
        yield World(client, a, b)


# --- what each path parameter is, for A's real id and for one that does not exist ----------

Value = Callable[[str, Tenant, Tenant], object]  # (path, A, B) -> the value in the path


def _name(path: str, a: Tenant, b: Tenant) -> object:
    """``{name}``: what it names depends on the resource."""
    for prefix, value in (
        ("/api/v1/subjects/", a.subject),
        ("/api/v1/collections/", a.collection),
        ("/api/v1/users/", a.user("inv1")),
        ("/users/", a.user("inv1")),
        ("/api/v1/orgs/", a.org),
        ("/orgs/", a.org),
    ):
        if path.startswith(prefix):
            return value
    raise AssertionError(f"{path}: the matrix does not know what {{name}} names here")


def _seq(path: str, a: Tenant, b: Tenant) -> object:
    """``{seq}``: an audit entry, or a search request (an entry too)."""
    if path.startswith(("/api/v1/search-requests/", "/approvals/")):
        assert a.request is not None, f"{path}: the server took no search request"
        return a.request
    if path.startswith("/api/v1/audit/"):
        return a.search
    raise AssertionError(f"{path}: the matrix does not know what {{seq}} is here")


THEIRS: dict[str, Value] = {
    "search_id": lambda p, a, b: a.search,
    "face": lambda p, a, b: a.probe_face,
    "face_id": lambda p, a, b: a.face,
    "image_id": lambda p, a, b: a.image,
    "person_id": lambda p, a, b: a.person,
    "job_id": lambda p, a, b: a.job,
    "number": lambda p, a, b: a.case,
    "seq": _seq,
    "name": _name,
    "org": lambda p, a, b: b.org,  # B shares A's collection with itself
    "action": lambda p, a, b: "disable",
}
NOBODYS: dict[str, Value] = {
    "search_id": lambda p, a, b: 999_999,
    "face": lambda p, a, b: a.probe_face,
    "face_id": lambda p, a, b: 999_999,
    "image_id": lambda p, a, b: 999_999,
    "person_id": lambda p, a, b: 999_999,
    "job_id": lambda p, a, b: MISSING_JOB,
    "number": lambda p, a, b: "K-nobody-404",
    "seq": lambda p, a, b: 999_999,
    "name": lambda p, a, b: "nobody404",
    "org": lambda p, a, b: b.org,
    "action": lambda p, a, b: "disable",
}


def bodies(a: Tenant, b: Tenant) -> dict[tuple[str, str], dict[str, Any]]:
    """Bodies good enough to reach the lookup: (method, path) -> request keywords. Ids in a
    body are A's, so a route that only checked the path would still show the leak."""
    decide = {"data": {"verdict": "possible_match", "note": "n"}}
    return {
        ("POST", "/api/v1/searches/{search_id}/candidates/{face_id}/decisions"): decide,
        ("POST", "/searches/{search_id}/candidates/{face_id}"): decide,
        ("POST", "/api/v1/people/{person_id}/name"): {"data": {"name": "Renamed"}},
        ("POST", "/people/{person_id}/name"): {"data": {"name": "Renamed"}},
        ("POST", "/api/v1/people/{person_id}/merge"): {"data": {"other": a.other_person}},
        ("POST", "/people/{person_id}/merge"): {"data": {"into": str(a.other_person)}},
        ("POST", "/api/v1/people/{person_id}/split"): {"data": {"face_id": [a.face]}},
        ("POST", "/people/{person_id}/split"): {"data": {"face_id": [a.face]}},
        ("POST", "/api/v1/people/{person_id}/not"): {"data": {"face_id": a.face}},
        ("POST", "/people/{person_id}/not"): {"data": {"face_id": a.face}},
        ("POST", "/api/v1/users/{name}/password"): {"data": {"password": PASSWORD + "-new"}},
        ("POST", "/api/v1/cases/{number}/members"): {"data": {"name": b.user("inv2")}},
        ("PATCH", "/api/v1/orgs/{name}"): {"json": {"two_person": False}},
        ("POST", "/orgs/{name}/policy"): {"data": {"key": "two_person", "value": "false"}},
        ("POST", "/api/v1/search-requests/{seq}/approve"): {"data": {"note": "n"}},
        ("POST", "/api/v1/search-requests/{seq}/deny"): {"data": {"note": "n"}},
        ("POST", "/approvals/{seq}/approve"): {"data": {"note": "n"}},
        ("POST", "/approvals/{seq}/deny"): {"data": {"note": "n"}},
    }


def fill(path: str, values: dict[str, Value], a: Tenant, b: Tenant) -> str:
    def one(match: re.Match[str]) -> str:
        param = match.group(1)
        if param not in values:
            raise AssertionError(f"{path}: the matrix has no id for path parameter {param!r}")
        return str(values[param](path, a, b))

    return re.sub(r"\{(\w+)(?::\w+)?\}", one, path)


def plain(path: str) -> str:
    return re.sub(r"\{(\w+):\w+\}", r"{\1}", path)


def served(routes: list[BaseRoute], prefix: str = "") -> Iterator[tuple[APIRoute, str]]:
    """Every APIRoute with its full path, inside included routers too."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route, prefix + route.path
        inner = getattr(route, "original_router", None)
        if inner is not None:
            context = getattr(route, "include_context", None)
            yield from served(inner.routes, prefix + getattr(context, "prefix", ""))


def api_routes(client: TestClient) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, operation) of every route of the OpenAPI spec."""
    spec = client.app.openapi()["paths"]  # type: ignore[attr-defined]
    return [(m.upper(), p, op) for p, ops in spec.items() for m, op in ops.items()]


def page_routes(client: TestClient) -> list[tuple[str, str]]:
    """(method, path) of every page outside the spec (HTML routes)."""
    found = {
        (method, plain(path))
        for route, path in served(client.app.routes)  # type: ignore[attr-defined]
        if not route.include_in_schema
        for method in route.methods
    }
    return sorted(found)


def takes_case(op: dict[str, Any]) -> bool:
    """Whether the operation takes a ``case`` query parameter (then it is given one)."""
    return any(p["name"] == "case" for p in op.get("parameters", []))


def error_code(r: Any) -> str | None:
    if "json" not in r.headers.get("content-type", ""):
        return None
    body = r.json()
    return body.get("error", {}).get("code") if isinstance(body, dict) else None


def compare(what: str, theirs: Any, nobodys: Any, a: Tenant) -> list[str]:
    """What is wrong with the answer to A's id, next to the answer to no one's id."""
    wrong = []
    if theirs.status_code not in DENIED or theirs.status_code != nobodys.status_code:
        wrong.append(f"{what}: {theirs.status_code} for A's id, {nobodys.status_code} for none")
    elif error_code(theirs) != error_code(nobodys):
        wrong.append(f"{what}: error {error_code(theirs)} for A's id, {error_code(nobodys)}")
    return wrong


# --- B's lists hold nothing of A's (first: the matrix's own attempts are logged in B) ------


def leaked(text: str, a: Tenant) -> list[str]:
    found = [name for name in a.names() if name in text]
    found += re.findall(rf"\b{re.escape(A_ORG)}[\w-]*", text)
    return sorted(set(found))


def test_lists_of_b_hold_nothing_of_a(world: World) -> None:
    a, b, client = world.a, world.b, world.client
    routes = [(m, p) for m, p, _ in api_routes(client) if m == "GET" and "{" not in p]
    routes += [(m, p) for m, p in page_routes(client) if m == "GET" and "{" not in p]
    assert ("GET", "/api/v1/audit") in routes and ("GET", "/gallery/faces") in routes
    wrong = []
    for role in ROLES:
        for method, path in routes:
            params = {"case": b.case, "format": "csv"} if "audit/export" in path else {}
            if path.startswith("/api/v1/") and "audit/export" not in path:
                params = {"case": b.case} if path.split("/")[3] in {"faces", "images"} else {}
            headers = b.auth(role) if path.startswith("/api/") else {**b.auth(role), **HTML}
            r = client.request(method, path, headers=headers, params=params)
            if r.status_code < 400 and (names := leaked(r.text, a)):
                wrong.append(f"{method} {path} as B's {role}: {names}")
    assert not wrong, "\n".join(wrong)


def test_b_sees_its_own_lists(world: World) -> None:
    """The lists checked above are not empty for B's own data (the check could fail)."""
    b, client = world.b, world.client
    text = client.get("/api/v1/collections", headers=b.auth("admin")).text
    assert b.collection in text
    entries = client.get("/api/v1/audit", headers=b.auth("aud"), params={"limit": 1000})
    assert {e["seq"] for e in entries.json()["items"]} == set(b.audit) | {
        e["seq"] for e in entries.json()["items"] if e["seq"] > max(b.audit)
    }


# --- the matrix -----------------------------------------------------------------------------


def test_a_reads_its_own_ids(world: World) -> None:
    """The ids are real: every GET route with an id answers 200 to some user of A."""
    a, client = world.a, world.client
    wrong = []
    for method, path, op in api_routes(client):
        if method != "GET" or "{" not in path:
            continue
        url = fill(path, THEIRS, a, a)
        query = {"case": a.case} if takes_case(op) else {}
        codes = {client.get(url, headers=a.auth(r), params=query).status_code for r in ROLES}
        if 200 not in codes:
            wrong.append(f"GET {url}: {sorted(codes)} for every user of A")
    assert not wrong, "\n".join(wrong)


def test_api_matrix(world: World) -> None:
    a, b, client = world.a, world.b, world.client
    known = bodies(a, b)
    wrong = []
    for method, path, op in api_routes(client):
        if "{" not in path:
            continue
        extra = known.get((method, path), {})
        if "requestBody" in op and not extra:
            raise AssertionError(f"{method} {path}: the matrix has no body for this route")
        query = {"case": b.case} if takes_case(op) else {}
        for role in ROLES:
            asked = [
                client.request(
                    method,
                    fill(path, values, a, b),
                    headers=b.auth(role),
                    params=query,
                    follow_redirects=False,
                    **extra,
                )
                for values in (THEIRS, NOBODYS)
            ]
            wrong += compare(f"{method} {path} as B's {role}", *asked, a)
    assert not wrong, "\n".join(wrong)


def login(client: TestClient, name: str) -> str:
    """A session for ``name`` (the form, a cookie); the session's CSRF token."""
    client.cookies.clear()
    page = client.get("/login")
    token = re.search(r'name="login_token" value="([^"]*)"', page.text)
    assert token is not None
    data = {"name": name, "password": PASSWORD, "login_token": token.group(1)}
    assert client.post("/login", data=data, follow_redirects=False).status_code == 303
    me = client.get("/cases", headers=HTML)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', me.text)
    assert csrf is not None, me.text
    return csrf.group(1)


def test_page_matrix(world: World) -> None:
    a, b, client = world.a, world.b, world.client
    known = bodies(a, b)
    routes = [(m, p) for m, p in page_routes(client) if "{" in p]
    assert ("GET", "/searches/{search_id}") in routes and ("GET", "/cases/{number}") in routes
    wrong = []
    try:
        for role in ROLES:
            csrf = login(client, b.user(role))
            for method, path in routes:
                extra = dict(known.get((method, path), {"data": {}}))
                if method == "POST":
                    extra["data"] = {**extra.get("data", {}), "csrf_token": csrf}
                elif method == "GET":
                    extra = {}
                asked = [
                    client.request(
                        method,
                        fill(path, values, a, b),
                        headers=HTML,
                        follow_redirects=False,
                        **extra,
                    )
                    for values in (THEIRS, NOBODYS)
                ]
                wrong += compare(f"{method} {path} as B's {role} (session)", *asked, a)
                if asked[0].status_code < 400 and (names := leaked(asked[0].text, a)):
                    wrong.append(f"{method} {path} as B's {role}: shows {names}")
    finally:
        client.cookies.clear()
    assert not wrong, "\n".join(wrong)


def test_audit_entries_of_a_are_not_found_by_b(world: World) -> None:
    a, b, client = world.a, world.b, world.client
    wrong = []
    for role in ("aud", "admin", "sup"):
        missing = client.get("/api/v1/audit/999999", headers=b.auth(role))
        for seq in a.audit:
            r = client.get(f"/api/v1/audit/{seq}", headers=b.auth(role))
            wrong += compare(f"GET /api/v1/audit/{seq} as B's {role}", r, missing, a)
    assert not wrong, "\n".join(wrong)


def test_drafts_and_uploads_of_a_are_out_of_reach(world: World) -> None:
    """B's admin cannot confirm A's erasure draft; A's collection is neither searched,
    browsed nor ingested into by B (the same answer as for a collection that is not)."""
    a, b, client = world.a, world.b, world.client
    csrf = login(client, b.user("admin"))
    try:
        confirm = [
            client.post(
                "/gallery/forget/confirm",
                headers=HTML,
                data={"token": token, "reason": "r", "csrf_token": csrf},
            )
            for token in (a.draft, "no-such-draft")
        ]
    finally:
        client.cookies.clear()
    wrong = compare("POST /gallery/forget/confirm A's draft", *confirm, a)
    for path in ("/api/v1/faces", "/api/v1/images", "/api/v1/subjects", "/api/v1/people"):
        asked = [
            client.get(path, headers=b.auth("admin"), params={"collection": name})
            for name in (a.collection, "nobody404")
        ]
        wrong += compare(f"GET {path}?collection=A's", *asked, a)
    use = {"case": b.case, "purpose": "p"}
    asked = [
        client.post(
            "/api/v1/searches",
            headers=b.auth("inv1"),
            files={"image": png(a.people[0], 0)},
            data={**use, "collections": name},
        )
        for name in (a.collection, "nobody404")
    ]
    wrong += compare("POST /api/v1/searches collections=A's", *asked, a)
    asked = [
        client.post("/api/v1/people/build", headers=b.auth("admin"), data={"collection": name})
        for name in (a.collection, "nobody404")
    ]
    wrong += compare("POST /api/v1/people/build collection=A's", *asked, a)
    assert not wrong, "\n".join(wrong)
