"""The table of the cross-tenant matrix (test_cross_tenant.py): what each path parameter is
for organisation A's real id and for an id that does not exist, the bodies that reach the
lookup, every route and page of the app, and how two answers are compared.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import BaseRoute
from tests.homes import PASSWORD
from tests.integration.cross_tenant_world import Tenant

MISSING_JOB = "0123456789abcdef"
DENIED = frozenset({401, 403, 404, 405})
REFUSED = DENIED | {409, 422}  # an id in a form may be refused as input, alike for all
HTML = {"Accept": "text/html"}

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
    "decision": lambda p, a, b: "approve",
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
    "decision": lambda p, a, b: "approve",
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
        ("POST", "/api/v1/search-requests/{seq}/{decision}"): {"data": {"note": "n"}},
        ("POST", "/approvals/{seq}/{decision}"): {"data": {"note": "n"}},
    }


def fill(path: str, values: dict[str, Value], a: Tenant, b: Tenant) -> str:
    def one(match: re.Match[str]) -> str:
        param = match.group(1)
        if param not in values:
            raise AssertionError(f"{path}: the matrix has no id for path parameter {param!r}")
        return str(values[param](path, a, b))

    return re.sub(r"\{(\w+)(?::\w+)?\}", one, path)


def named(path: str, a: Tenant, b: Tenant) -> list[tuple[object, object]]:
    """(A's id, no one's id) of each path parameter that differs between the two: what an
    error message may name."""
    params = re.findall(r"\{(\w+)(?::\w+)?\}", path)
    pairs = [(THEIRS[p](path, a, b), NOBODYS[p](path, a, b)) for p in params]
    return [pair for pair in pairs if pair[0] != pair[1]]


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


def message(r: Any, values: Sequence[object]) -> str | None:
    """The error message of a JSON answer or a page (else the text of the page's main part),
    each of ``values`` (the ids asked for) replaced by ``<id>``."""
    if "text/html" in r.headers.get("content-type", ""):
        shown = re.search(r'<div class="error" role="alert">(.*?)</div>', r.text, re.S)
        shown = shown or re.search(r"<main[^>]*>(.*)</main>", r.text, re.S)  # the error, else all
        said = " ".join(re.sub(r"<[^>]+>", " ", shown.group(1) if shown else r.text).split())
    elif error_code(r) is None:
        return None
    else:
        said = str(r.json()["error"]["message"])
    for value in sorted(map(str, values), key=len, reverse=True):
        said = re.sub(rf"(?<![\w:]){re.escape(value)}(?![\w:])", "<id>", said) if value else said
    return said


def compare(
    what: str,
    theirs: Any,
    nobodys: Any,
    values: Sequence[tuple[object, object]] = (),
    denied: frozenset[int] = DENIED,
) -> list[str]:
    """What is wrong with the answer to A's id, next to the answer to no one's id: a status
    outside ``denied``, another status or error code, or another message once each names its
    own id (``values``)."""
    wrong = []
    if theirs.status_code not in denied or theirs.status_code != nobodys.status_code:
        wrong.append(f"{what}: {theirs.status_code} for A's id, {nobodys.status_code} for none")
    elif error_code(theirs) != error_code(nobodys):
        wrong.append(f"{what}: error {error_code(theirs)} for A's id, {error_code(nobodys)}")
    elif (said := message(theirs, [v[0] for v in values])) != (
        other := message(nobodys, [v[1] for v in values])
    ):
        wrong.append(f"{what}: {said!r} for A's id, {other!r} for none")
    return wrong


def leaked(text: str, a: Tenant) -> list[str]:
    found = [name for name in a.names() if name in text]
    found += re.findall(rf"\b{re.escape(a.org)}[\w-]*", text)
    return sorted(set(found))


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
