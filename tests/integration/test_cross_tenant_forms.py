"""The cross-tenant matrix, continued (issue 10): organisation A's ids given to B's users in
forms and queries (of the API and the pages), lists filtered by A's names, B's counts, A's
erasure drafts, and a collection A shares with B, which stays read-only for B: each answers
as for an id that does not exist. The two organisations: cross_tenant_world.py.
"""

from __future__ import annotations

import re
from typing import Any

from tests.homes import PASSWORD
from tests.integration.cross_tenant_table import HTML, REFUSED, compare, leaked, login
from tests.integration.cross_tenant_world import World, png, world

__all__ = ["world"]  # the fixture


def test_drafts_and_uploads_of_a_are_out_of_reach(world: World) -> None:
    """B's admin cannot confirm A's erasure draft; B can neither search, browse nor build
    the people of A's collection (the same answer as for a collection that is not)."""
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


def test_pages_with_ids_of_a_in_forms_and_queries(world: World) -> None:
    """The pages given A's ids in a form or a query answer as for unknown ids."""
    a, b, client = world.a, world.b, world.client
    photo = {"photo": png(b.people[0], 0)}
    use = {"case": b.case, "purpose": "p"}
    # (who, method, path, key, A's value, no one's value, other fields, files)
    cases: list[tuple[str, str, str, str, object, object, dict[str, Any], dict[str, Any]]] = [
        ("admin", "POST", "/gallery/erase", "face_ids", a.face, 999_999, {"reason": "r"}, {}),
        ("admin", "POST", "/gallery/erase", "image_id", a.image, 999_999, {"reason": "r"}, {}),
        ("admin", "POST", "/gallery/erase", "subject", a.subject, "nobody404", {"reason": "r"}, {}),
        ("inv1", "POST", "/search", "collection", a.collection, "nobody404", use, photo),
    ]
    cases += [
        ("admin", "GET", path, "collection", a.collection, "nobody404", {}, {})
        for path in ("/gallery/faces", "/gallery/images", "/gallery/subjects", "/people")
    ]
    wrong = []
    try:
        for role in ("admin", "inv1"):
            csrf = login(client, b.user(role))
            for who, method, path, key, theirs, nobodys, rest, files in cases:
                if who != role:
                    continue
                asked = []
                for value in (theirs, nobodys):
                    fields = {**rest, key: str(value)}
                    if method == "GET":
                        asked.append(client.get(path, headers=HTML, params=fields))
                    else:
                        data = {**fields, "csrf_token": csrf}
                        asked.append(client.post(path, headers=HTML, data=data, files=files))
                what = f"{method} {path} {key}=A's as B's {role}"
                wrong += compare(what, *asked, [(theirs, nobodys)], REFUSED | {200})
                if asked[0].status_code < 400 and (names := leaked(asked[0].text, a)):
                    wrong.append(f"{what}: shows {names}")
    finally:
        client.cookies.clear()
    assert not wrong, "\n".join(wrong)


def test_a_s_faces_are_neither_found_nor_erased_by_b_s_photos(world: World) -> None:
    """B's search of a photo of A's person finds B's faces only; B's erasure "like" that
    photo erases nothing of A's and answers as for a photo of nobody in any collection (both
    blocklist the photo for B's own ingests: an opt-out before any photo of them arrives)."""
    a, b, client = world.a, world.b, world.client
    use = {"case": b.case, "purpose": "p"}
    photo = {"image": png(a.people[0], 7)}
    found = client.post("/api/v1/searches", headers=b.auth("inv1"), files=photo, data=use)
    assert found.status_code == 201, found.text
    hits = [h for f in found.json()["faces"] for h in f["hits"]]
    assert a.face not in {h["face_id"] for h in hits}
    assert {h["collection"] for h in hits} <= {b.collection}, hits
    asked = [
        client.post(
            "/api/v1/erasures",
            headers=b.auth("admin"),
            data={"reason": "r"},
            files={"like": png(person, 7)},
        )
        for person in (a.people[0], 9)  # person 9 is in no collection
    ]
    assert [r.status_code for r in asked] == [201, 201], [r.text for r in asked]
    told = [r.json() for r in asked]
    assert [t["faces_removed"] for t in told] == [0, 0] and all(t["blocklisted"] for t in told)
    hidden = {"id", "probes_deleted"}  # the entry's id; B's own probe of A's person, searched above
    wrong = (
        []
        if {k: v for k, v in told[0].items() if k not in hidden}
        == {k: v for k, v in told[1].items() if k not in hidden}
        else [f"erase like A's person: {told[0]} against {told[1]}"]
    )
    still = client.get(f"/api/v1/faces/{a.face}", headers=a.auth("admin"), params={"case": a.case})
    assert still.status_code == 200, still.text
    assert not wrong, "\n".join(wrong)


def test_b_s_erasure_preview_shows_none_of_a_s_faces(world: World) -> None:
    """The forget page's preview of an erasure "like" a photo (the confirmation step) lists
    the faces the erasure would take: for B's admin, B's faces only. A photo of A's person
    previews as a photo of nobody in any collection, and a photo of B's person shows B's
    faces and nothing of A's."""
    a, b, client = world.a, world.b, world.client
    csrf = login(client, b.user("admin"))
    try:
        pages = [
            client.post(
                "/gallery/forget",
                headers=HTML,
                data={"reason": "r", "csrf_token": csrf},
                files={"photo": png(person, 7)},
            )
            for person in (a.people[0], 9, b.people[0])  # person 9 is in no collection
        ]
    finally:
        client.cookies.clear()
    assert all(p.status_code == 200 for p in pages), [p.status_code for p in pages]
    wrong = [
        f"preview like {what}: shows {names}"
        for what, page in zip(("A's person", "nobody", "B's person"), pages, strict=True)
        if (names := leaked(page.text, a))
    ]
    ids = [re.findall(r"/faces/(\d+)", p.text) for p in pages]
    assert not ids[1], "a photo of nobody previews faces"
    assert ids[2], "B's own person previews none of B's faces"
    if ids[0] != ids[1]:
        wrong.append(f"preview like A's person: faces {ids[0]} (nobody: {ids[1]})")
    assert not wrong, "\n".join(wrong)
