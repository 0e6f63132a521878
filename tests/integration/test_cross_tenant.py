"""The cross-tenant matrix (issue 10): every route of the OpenAPI spec and every page with an
id in its path, asked by each user of organisation B (every role) for organisation A's real
ids, answers exactly as for an id that does not exist: the same status (404, or 403/401/405
where the role may never use the route) and the same error code; never 2xx, never a 422
that would hide the check (the message too, once each names its own id). B's lists hold
nothing of A's. (A's ids in forms and queries: test_cross_tenant_forms.py.)

A route whose path parameter the table (cross_tenant_table.py) does not know fails the test:
none is skipped silently. On the fake pipeline (tests/fakes.py): this is about authorisation.
"""

from __future__ import annotations

from typing import Any

from tests.integration.cross_tenant_table import (
    HTML,
    NOBODYS,
    THEIRS,
    api_routes,
    bodies,
    compare,
    fill,
    leaked,
    login,
    named,
    page_routes,
    takes_case,
)
from tests.integration.cross_tenant_world import ROLES, Tenant, World, world

__all__ = ["world"]  # the fixture


# --- B's lists hold nothing of A's (first: the matrix's own attempts are logged in B) ------


def list_params(path: str, b: Tenant) -> list[dict[str, Any]]:
    """The queries a list route is read with: whole lists, the audit export in each format."""
    if path.endswith("/audit/export"):
        return [{"format": "csv"}, {"format": "json"}]
    if path in ("/api/v1/audit", "/audit"):
        return [{"limit": 1000}]
    if path in ("/api/v1/faces", "/api/v1/images", "/api/v1/subjects"):
        return [{"case": b.case, "per_page": 1000}]
    return [{}]


def test_lists_of_b_hold_nothing_of_a(world: World) -> None:
    a, b, client = world.a, world.b, world.client
    routes = [(m, p) for m, p, _ in api_routes(client) if m == "GET" and "{" not in p]
    routes += [(m, p) for m, p in page_routes(client) if m == "GET" and "{" not in p]
    assert ("GET", "/api/v1/audit") in routes and ("GET", "/gallery/faces") in routes
    wrong = []
    for role in ROLES:
        for method, path in routes:
            headers = b.auth(role) if path.startswith("/api/") else {**b.auth(role), **HTML}
            for params in list_params(path, b):
                r = client.request(method, path, headers=headers, params=params)
                if r.status_code < 400 and (names := leaked(r.text, a)):
                    wrong.append(f"{method} {path} {params} as B's {role}: {names}")
    assert not wrong, "\n".join(wrong)


def test_b_sees_its_own_lists(world: World) -> None:
    """The lists checked above show B its own data (so the check above could fail)."""
    b, client = world.b, world.client
    admin = b.auth("admin")
    assert b.collection in client.get("/api/v1/collections", headers=admin).text
    jobs = client.get("/api/v1/ingest-jobs", headers=admin).json()["items"]
    assert [j["id"] for j in jobs] == [b.job]
    people = client.get("/api/v1/people", headers=admin, params={"collection": b.collection})
    assert b.person in {p["person"] for p in people.json()["people"]}
    entries = client.get("/api/v1/audit", headers=b.auth("aud"), params={"limit": 1000})
    assert {b.search, b.verification} <= {e["seq"] for e in entries.json()["items"]}
    faces = client.get("/gallery/faces", headers={**admin, **HTML})
    assert b.subject in faces.text


# --- the matrix -----------------------------------------------------------------------------


def test_a_reads_its_own_ids(world: World) -> None:
    """The ids are real: every GET route and page with an id answers 200 to some user of A."""
    a, client = world.a, world.client
    reads = [
        (path, {"case": a.case} if takes_case(op) else {}, {})
        for method, path, op in api_routes(client)
        if method == "GET" and "{" in path
    ]
    reads += [(p, {}, HTML) for m, p in page_routes(client) if m == "GET" and "{" in p]
    wrong = []
    for path, query, accept in reads:
        url = fill(path, THEIRS, a, a)
        codes = {
            client.get(url, headers={**a.auth(r), **accept}, params=query).status_code
            for r in ROLES
        }
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
            wrong += compare(f"{method} {path} as B's {role}", *asked, named(path, a, b))
    assert not wrong, "\n".join(wrong)


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
                what = f"{method} {path} as B's {role} (session)"
                wrong += compare(what, *asked, named(path, a, b))
                if asked[0].status_code < 400 and (names := leaked(asked[0].text, a)):
                    wrong.append(f"{method} {path} as B's {role}: shows {names}")
    finally:
        client.cookies.clear()
    assert not wrong, "\n".join(wrong)


def test_entries_of_a_are_not_found_by_b(world: World) -> None:
    """Every entry of A's trail (its search, verification, search request, case, reads...),
    asked for by B as an audit entry, a search or a search request, is not found."""
    a, b, client = world.a, world.b, world.client
    wrong = []
    for role in ROLES:
        for kind in ("audit", "searches", "search-requests"):
            missing = client.get(f"/api/v1/{kind}/999999", headers=b.auth(role))
            for seq in a.audit:
                r = client.get(f"/api/v1/{kind}/{seq}", headers=b.auth(role))
                what = f"GET /api/v1/{kind}/{seq} as B's {role}"
                wrong += compare(what, r, missing, [(seq, 999999)])
    assert a.verification in a.audit and a.request in a.audit
    assert not wrong, "\n".join(wrong)
