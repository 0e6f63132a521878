"""The cross-tenant matrix (issue 10): every route of the OpenAPI spec and every page with an
id in its path, asked by each user of organisation B (every role) for organisation A's real
ids, answers exactly as for an id that does not exist: the same status (404, or 403/401/405
where the role may never use the route) and the same error code; never 2xx, never a 422
that would hide the check (the message too, once each names its own id). B's lists hold
nothing of A's; A's ids given in forms and queries answer as unknown ones; a collection A
shares with B stays read-only for B.

A route whose path parameter the table (cross_tenant_table.py) does not know fails the test:
none is skipped silently. On the fake pipeline (tests/fakes.py): this is about authorisation.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.fakes import FakePipeline
from tests.homes import PASSWORD
from tests.integration.cross_tenant_table import (
    A_ORG,
    B_ORG,
    HTML,
    NOBODYS,
    REFUSED,
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


@dataclass(frozen=True)
class World:
    client: TestClient
    a: Tenant
    b: Tenant


@pytest.fixture(scope="module")
def world(fake_homes: Any, fake_pipeline: FakePipeline) -> Iterator[World]:
    home = fake_homes(
        "cross-tenant", users=False, server_login_rate_limit=10_000, training_required=False
    )
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


def test_audit_entries_of_a_are_not_found_by_b(world: World) -> None:
    a, b, client = world.a, world.b, world.client
    wrong = []
    for role in ("aud", "admin", "sup"):
        missing = client.get("/api/v1/audit/999999", headers=b.auth(role))
        for seq in a.audit:
            r = client.get(f"/api/v1/audit/{seq}", headers=b.auth(role))
            wrong += compare(f"GET /api/v1/audit/{seq} as B's {role}", r, missing, [(seq, 999999)])
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
    wrong = compare("POST /gallery/forget/confirm A's draft", *confirm)
    for path in ("/api/v1/faces", "/api/v1/images", "/api/v1/subjects", "/api/v1/people"):
        asked = [
            client.get(path, headers=b.auth("admin"), params={"collection": name})
            for name in (a.collection, "nobody404")
        ]
        wrong += compare(f"GET {path}?collection=A's", *asked, [(a.collection, "nobody404")])
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
    wrong += compare("POST /api/v1/searches collections=A's", *asked, [(a.collection, "nobody404")])
    asked = [
        client.post("/api/v1/people/build", headers=b.auth("admin"), data={"collection": name})
        for name in (a.collection, "nobody404")
    ]
    wrong += compare(
        "POST /api/v1/people/build collection=A's", *asked, [(a.collection, "nobody404")]
    )
    assert not wrong, "\n".join(wrong)


def test_ids_of_a_in_bodies_and_queries(world: World) -> None:
    """A's ids given in a form or a query, next to B's own path ids, answer as unknown ids."""
    a, b, client = world.a, world.b, world.client
    admin, inv = b.auth("admin"), b.auth("inv1")
    erase = "/api/v1/erasures"
    person, search = f"/api/v1/people/{b.person}", f"/api/v1/searches/{b.search}"
    # (what, method, path, headers, key, A's value, no one's value, other fields)
    cases: list[tuple[str, str, str, dict[str, str], str, object, object, dict[str, Any]]] = [
        ("erase A's face", "POST", erase, admin, "face_id", a.face, 999_999, {"reason": "r"}),
        ("erase A's image", "POST", erase, admin, "image_id", a.image, 999_999, {"reason": "r"}),
        (
            "erase A's subject",
            "POST",
            erase,
            admin,
            "subject",
            a.subject,
            "nobody404",
            {"reason": "r"},
        ),
        (
            "user of A's org",
            "POST",
            "/api/v1/users",
            admin,
            "org",
            a.org,
            "nobody404",
            {"name": "newcomer", "role": "investigator", "password": PASSWORD},
        ),
        (
            "case with A's user",
            "POST",
            "/api/v1/cases",
            admin,
            "member",
            a.user("inv1"),
            "nobody404",
            {"number": "K-new", "title": "t"},
        ),
        ("merge A's person", "POST", f"{person}/merge", admin, "other", a.person, 999_999, {}),
        ("split off A's face", "POST", f"{person}/split", admin, "face_id", a.face, 999_999, {}),
        ("A's face is not", "POST", f"{person}/not", admin, "face_id", a.face, 999_999, {}),
        (
            "crop via A's search",
            "GET",
            f"/api/v1/faces/{b.face}/crop",
            inv,
            "search",
            a.search,
            999_999,
            {},
        ),
        (
            "file via A's search",
            "GET",
            f"/api/v1/images/{b.image}/file",
            inv,
            "search",
            a.search,
            999_999,
            {},
        ),
    ]
    wrong = []
    for what, method, path, headers, key, theirs, nobodys, rest in cases:
        where = "params" if method == "GET" else "data"
        asked = [
            client.request(method, path, headers=headers, **{where: {**rest, key: value}})
            for value in (theirs, nobodys)
        ]
        wrong += compare(what, *asked, [(theirs, nobodys)], REFUSED)
    decide = f"{search}/candidates/{{}}/decisions"
    asked = [
        client.post(decide.format(face), headers=inv, data={"verdict": "rejected"})
        for face in (a.face, 999_999)
    ]
    wrong += compare("decide on A's face in B's search", *asked, [(a.face, 999_999)], REFUSED)
    assert not wrong, "\n".join(wrong)


def test_filters_by_a_s_names_find_nothing(world: World) -> None:
    """Lists filtered by A's user, case or subject answer as for names that do not exist."""
    a, b, client = world.a, world.b, world.client
    filters = [
        ("/api/v1/audit", "aud", {"actor": a.user("inv1")}, {"actor": "nobody404"}),
        ("/api/v1/audit", "aud", {"case": a.case}, {"case": "K-nobody-404"}),
        ("/api/v1/faces", "admin", {"subject": a.subject}, {"subject": "nobody404"}),
        ("/api/v1/images", "admin", {"subject": a.subject}, {"subject": "nobody404"}),
    ]
    wrong = []
    for path, role, theirs, nobodys in filters:
        asked = [client.get(path, headers=b.auth(role), params=q) for q in (theirs, nobodys)]
        if asked[0].status_code != asked[1].status_code:
            wrong.append(f"{path} {theirs}: {asked[0].status_code}, {asked[1].status_code}")
        elif asked[0].status_code == 200 and asked[0].json()["items"]:
            wrong.append(f"{path} {theirs}: {asked[0].json()['items']}")
    assert not wrong, "\n".join(wrong)


def test_counts_of_b_are_its_own(world: World) -> None:
    """B's gallery counts are those of its own collection: none counts A's faces."""
    b, client = world.b, world.client
    own = client.get(f"/api/v1/collections/{b.collection}", headers=b.auth("admin")).json()
    stats = client.get("/api/v1/stats", headers=b.auth("admin")).json()
    assert (stats["faces"], stats["images"]) == (own["faces"], own["images"])
    assert all(m.get("faces", 0) <= own["faces"] for m in stats["models"]), stats


def test_a_shared_collection_is_read_only_for_b(world: World) -> None:
    """Once A shares its collection with B, B reads its persons and faces, but changing them
    (naming, building, erasing) answers as for ids that do not exist."""
    a, b, client = world.a, world.b, world.client
    share = f"/api/v1/collections/{a.collection}/shares/{b.org}"
    ok = client.put(share, headers=a.auth("admin"))
    assert ok.status_code == 200, ok.text
    admin = b.auth("admin")
    try:
        assert client.get(f"/api/v1/people/{a.person}", headers=admin).status_code == 200
        assert client.get(f"/api/v1/faces/{a.face}", headers=admin).status_code == 200
        wrong = []
        asked = [
            client.post(f"/api/v1/people/{p}/name", headers=admin, data={"name": "X"})
            for p in (a.person, 999_999)
        ]
        wrong += compare("name A's shared person", *asked, [(a.person, 999_999)])
        asked = [
            client.post("/api/v1/people/build", headers=admin, data={"collection": name})
            for name in (a.collection, "nobody404")
        ]
        wrong += compare("build A's shared collection", *asked, [(a.collection, "nobody404")])
        asked = [
            client.post("/api/v1/erasures", headers=admin, data={"reason": "r", "face_id": f})
            for f in (a.face, 999_999)
        ]
        wrong += compare("erase a face of A's shared collection", *asked, [(a.face, 999_999)])
    finally:
        assert client.delete(share, headers=a.auth("admin")).status_code == 200
    assert not wrong, "\n".join(wrong)
