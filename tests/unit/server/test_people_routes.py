"""The people routes (``server/routes/people.py``) on the fake pipeline: build, list, show,
name, merge, split, "not this person" as JSON and as pages; roles, 404, bad input; the audit
entries each leaves; the search resource's ``person`` per hit and the result page grouped by
person.

The fake gallery holds 6 synthetic people x 4 shots, ingested with their folder as label, so
a build gives 6 persons of 4 faces (the labels anchor them)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.fakes import GALLERY_SHOTS, PEOPLE, FakePipeline, face_photo

from facesearch.server import create_app

HTML = {"Accept": "text/html"}


@pytest.fixture
def home(fake_homes: Any) -> Any:
    return fake_homes("people-routes")


@pytest.fixture
def client(home: Any) -> Iterator[TestClient]:
    app = create_app(home.settings, pipelines=FakePipeline)
    with TestClient(app, follow_redirects=False) as c:
        yield c


@pytest.fixture(scope="module")
def built(fake_homes: Any) -> Iterator[tuple[TestClient, Any, dict[str, Any]]]:
    """A client over a home whose people are built (not to be changed), and its ids: person
    A, a face of A (FA), a face of another person (FB)."""
    home = fake_homes("people-built")
    with TestClient(create_app(home.settings, pipelines=FakePipeline)) as c:
        api = Api(c, home)
        api.build()
        first, second = api.people()[:2]
        ids = {
            "A": first["person"],
            "FA": first["faces"][0]["face_id"],
            "FB": second["faces"][0]["face_id"],
            "ALL": [str(f["face_id"]) for f in first["faces"]],
        }
        yield c, home, ids


class Api:
    """The people API as one user (bearer token: no CSRF token needed)."""

    def __init__(self, client: TestClient, home: Any, user: str = "inv1") -> None:
        self.client, self.home, self.headers = client, home, home.auth(user)

    def get(self, path: str, **kw: Any) -> Any:
        return self.client.get(path, headers=self.headers, **kw)

    def post(self, path: str, data: Any = None, **kw: Any) -> Any:
        return self.client.post(path, headers=self.headers, data=data, **kw)

    def build(self) -> dict[str, Any]:
        r = self.post("/api/v1/people/build", {"collection": "default"})
        assert r.status_code == 200, r.text
        return dict(r.json())

    def people(self) -> list[dict[str, Any]]:
        r = self.get("/api/v1/people")
        assert r.status_code == 200, r.text
        return list(r.json()["people"])

    def entries(self, action: str, after: int = 0) -> list[dict[str, Any]]:
        r = self.client.get(
            "/api/v1/audit",
            headers=self.home.auth("aud1"),
            params={"action": action, "limit": 500},
        )
        assert r.status_code == 200, r.text
        return sorted((e for e in r.json()["items"] if e["seq"] > after), key=lambda e: e["seq"])

    def head(self) -> int:
        r = self.client.get("/api/v1/audit/head", headers=self.home.auth("aud1"))
        return int(r.json()["seq"])


def error_code(r: Any) -> str:
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    return str(body["error"]["code"])


def test_build_list_and_show_are_logged(client: TestClient, home: Any) -> None:
    api = Api(client, home)
    start = api.head()
    built = api.build()
    assert built["persons"] == PEOPLE and built["faces"] == PEOPLE * len(GALLERY_SHOTS)
    (entry,) = api.entries("people_build", start)
    assert entry["actor"] == "inv1" and entry["seq"] == built["id"]

    listed = api.get("/api/v1/people").json()
    people = listed["people"]
    assert len(people) == PEOPLE
    faces = [f["face_id"] for p in people for f in p["faces"]]
    assert len(faces) == len(set(faces)) == PEOPLE * len(GALLERY_SHOTS)
    for p in people:
        assert p["count"] == len(p["faces"]) == len(GALLERY_SHOTS)
        assert p["cover"] in {f["face_id"] for f in p["faces"]}
        cover = f"/api/v1/faces/{p['cover']}/crop?people_read={listed['id']}"
        assert p["links"]["cover_crop"] == cover  # part of the list's read
        assert all("/" not in f["image_path"] for f in p["faces"])  # file names, never paths

    one = api.get(f"/api/v1/people/{people[0]['person']}").json()
    certainties = [f["certainty"] for f in one["faces"]]
    assert certainties == sorted(certainties)  # the least certain first
    assert one["faces"][0]["links"]["image"].startswith("/api/v1/images/")
    reads = [e["payload"] for e in api.entries("read", start)]
    assert {"what": "people", "collection": "default"}.items() <= reads[0].items()
    assert reads[-1]["what"] == "person" and reads[-1]["person"] == one["person"]
    assert sorted(reads[-1]["face_ids"]) == sorted(f["face_id"] for f in one["faces"])


def test_review_changes_are_made_and_audited(client: TestClient, home: Any) -> None:
    api = Api(client, home)
    api.build()
    start = api.head()
    a, b, c = (p["person"] for p in api.people()[:3])

    r = api.post(f"/api/v1/people/{a}/name", {"name": "  Alice  "})
    assert r.status_code == 200, r.text
    assert r.json()["action"] == "person_name" and r.json()["person"]["name"] == "Alice"

    r = api.post(f"/api/v1/people/{a}/merge", {"other": str(b)})
    assert r.status_code == 200, r.text
    assert r.json()["person"]["count"] == 2 * len(GALLERY_SHOTS)
    gone = api.get(f"/api/v1/people/{b}")
    assert gone.status_code == 404 and error_code(gone) == "not_found"

    two = [f["face_id"] for f in api.get(f"/api/v1/people/{c}").json()["faces"][:2]]
    r = api.post(f"/api/v1/people/{c}/split", {"face_id": [str(i) for i in two]})
    assert r.status_code == 200, r.text
    new = r.json()["person"]
    assert new["person"] != c and sorted(f["face_id"] for f in new["faces"]) == sorted(two)

    left = api.get(f"/api/v1/people/{c}").json()["faces"]
    r = api.post(f"/api/v1/people/{c}/not", {"face_id": str(left[0]["face_id"])})
    assert r.status_code == 200, r.text
    assert [f["face_id"] for f in r.json()["person"]["faces"]] == [left[0]["face_id"]]

    changes = {
        action: api.entries(action, start)
        for action in ("person_name", "person_merge", "person_split", "person_not")
    }
    assert all(len(found) == 1 for found in changes.values()), changes
    assert changes["person_name"][0]["payload"]["name"] == "Alice"
    assert changes["person_merge"][0]["payload"]["other"] == b
    assert sorted(changes["person_split"][0]["payload"]["face_ids"]) == sorted(two)
    assert changes["person_not"][0]["payload"]["face_id"] == left[0]["face_id"]
    assert {e["actor"] for found in changes.values() for e in found} == {"inv1"}


def test_roles(client: TestClient, home: Any) -> None:
    admin, auditor = Api(client, home, "admin1"), Api(client, home, "aud1")
    assert admin.build()["persons"] == PEOPLE
    person = admin.people()[0]["person"]
    for r in (
        auditor.get("/api/v1/people"),
        auditor.get(f"/api/v1/people/{person}"),
        auditor.post("/api/v1/people/build"),
        auditor.post(f"/api/v1/people/{person}/name", {"name": "x"}),
    ):
        assert r.status_code == 403 and error_code(r) == "forbidden", r.text
    anonymous = client.get("/api/v1/people")
    assert anonymous.status_code == 401 and error_code(anonymous) == "unauthenticated"
    assert client.get("/people", headers=home.auth("aud1") | HTML).status_code == 403


@pytest.mark.parametrize(
    ("path", "data", "status"),
    [
        ("/api/v1/people/999999", None, 404),
        ("/api/v1/people/999999/name", {"name": "x"}, 404),
        ("/api/v1/people/999999/merge", {"other": "{A}"}, 404),
        ("/api/v1/people/{A}/merge", {"other": "999999"}, 404),
        ("/api/v1/people/{A}/merge", {"other": "{A}"}, 422),  # with itself
        ("/api/v1/people/{A}/merge", {"other": "x"}, 422),
        ("/api/v1/people/{A}/merge", {}, 422),
        ("/api/v1/people/{A}/split", {}, 422),
        ("/api/v1/people/{A}/split", {"face_id": ["{FB}"]}, 422),  # not a face of A
        ("/api/v1/people/{A}/split", {"face_id": ["{ALL}"]}, 422),  # would leave A empty
        ("/api/v1/people/{A}/not", {"face_id": "{FB}"}, 422),
        ("/api/v1/people/{A}/not", {"face_id": "-1"}, 422),
        ("/api/v1/people/{A}/name", {"name": "x" * 256}, 422),
        ("/api/v1/people?collection=nowhere", None, 404),
        ("/api/v1/people/build", {"collection": "nowhere"}, 404),
    ],
)
def test_unknown_ids_and_bad_input(
    built: tuple[TestClient, Any, dict[str, Any]],
    path: str,
    data: dict[str, Any] | None,
    status: int,
) -> None:
    client, home, ids = built
    api = Api(client, home)

    def fill(value: Any) -> Any:
        if value == ["{ALL}"]:
            return ids["ALL"]
        if isinstance(value, list):
            return [fill(v) for v in value]
        return value.format(**ids)

    filled = None if data is None else {k: fill(v) for k, v in data.items()}
    r = api.get(fill(path)) if data is None else api.post(fill(path), filled)
    assert r.status_code == status, r.text
    error_code(r)


def test_people_of_an_unbuilt_collection_is_empty_not_an_error(
    client: TestClient, home: Any
) -> None:
    api = Api(client, home)
    assert api.people() == []
    page = client.get("/people", headers=api.headers | HTML)
    assert page.status_code == 200 and 'id="not-built"' in page.text


def test_pages_build_review_and_link_each_photo(client: TestClient, home: Any) -> None:
    api = Api(client, home)
    html = api.headers | HTML
    built = client.post("/people/build", headers=html, data={"collection": "default"})
    assert built.status_code == 200 and 'id="build-report"' in built.text, built.text
    cards = re.findall(r'data-person="(\d+)"', built.text)
    assert len(cards) == PEOPLE
    person = int(cards[0])

    page = client.get(f"/people/{person}", headers=html)
    assert page.status_code == 200
    faces = [int(f) for f in re.findall(r'data-face="(\d+)"', page.text)]
    assert len(faces) == len(GALLERY_SHOTS)
    photos = r'href="/api/v1/images/\d+/file\?people_read=\d+"[^>]*>Photo<'
    assert len(re.findall(photos, page.text)) == len(faces)
    assert 'form="split-form"' in page.text and f'action="/people/{person}/not"' in page.text

    # a crop without the page's read is a logged read of the gallery, like the Gallery's
    start = api.head()
    crop = client.get(f"/api/v1/faces/{faces[0]}/crop", headers=api.headers)
    assert crop.status_code == 200 and crop.headers["content-type"] == "image/jpeg"
    (read,) = api.entries("read", start)
    assert read["payload"] == {"what": "face_crop", "face_id": faces[0]}

    r = client.post(f"/people/{person}/name", headers=html, data={"name": "Bob"})
    assert r.status_code == 303 and r.headers["location"] == f"/people/{person}?done=name"
    r = client.post(f"/people/{person}/split", headers=html, data={"face_id": [str(faces[0])]})
    assert r.status_code == 303, r.text
    new = int(r.headers["location"].rsplit("new=", 1)[1])
    shown = client.get(r.headers["location"], headers=html).text
    assert "Bob" in shown and f'href="/people/{new}"' in shown
    assert len(re.findall(r'data-face="\d+"', shown)) == len(GALLERY_SHOTS) - 1

    # merge this person into the new one: back on the new one, which holds them all
    r = client.post(f"/people/{person}/merge", headers=html, data={"into": f"#{new}"})
    assert r.status_code == 303 and r.headers["location"] == f"/people/{new}?done=merge"
    merged = client.get(r.headers["location"], headers=html).text
    assert len(re.findall(r'data-face="\d+"', merged)) == len(GALLERY_SHOTS)

    # bad input shows the page again with the message
    r = client.post(f"/people/{new}/merge", headers=html, data={"into": "nobody"})
    assert r.status_code == 422 and 'role="alert"' in r.text
    r = client.post(f"/people/{new}/split", headers=html, data={})
    assert r.status_code == 422 and "name at least one face" in r.text


def test_search_hits_carry_their_person_and_group_by_it(client: TestClient, home: Any) -> None:
    api = Api(client, home)
    use = {"case": "K-PEOPLE", "purpose": "search by person"}
    photo = {"image": ("p.png", face_photo(1, 0), "image/png")}

    def search() -> dict[str, Any]:
        r = client.post("/api/v1/searches", headers=api.headers, files=photo, data=use)
        assert r.status_code == 201, r.text
        return dict(r.json())

    before = search()
    assert [h["person"] for h in before["faces"][0]["hits"]] == [None] * len(
        before["faces"][0]["hits"]
    )

    api.build()
    people = {f["face_id"]: p["person"] for p in api.people() for f in p["faces"]}
    after = search()
    hits = after["faces"][0]["hits"]
    assert hits and all(h["person"] == people[h["face_id"]] for h in hits)
    again = api.get(f"/api/v1/searches/{after['id']}").json()
    assert [h["person"] for h in again["faces"][0]["hits"]] == [h["person"] for h in hits]
    # an auditor overseeing the search may not read the gallery: no persons for them
    oversight = client.get(f"/api/v1/searches/{after['id']}", headers=home.auth("aud1"))
    assert {h["person"] for h in oversight.json()["faces"][0]["hits"]} == {None}

    html = api.headers | HTML
    flat = client.get(f"/searches/{after['id']}", headers=html).text
    assert 'id="group-by-person"' in flat and "person-group" not in flat
    grouped = client.get(f"/searches/{after['id']}?group=person", headers=html).text
    groups = re.findall(r'class="card candidate person-group" data-person="(\d+)"', grouped)
    assert groups and len(groups) == len(set(groups)) == len({h["person"] for h in hits})
    assert groups[0] == str(hits[0]["person"])  # the best hit's person first
    assert f'href="/people/{groups[0]}"' in grouped


def test_search_hits_carry_their_persons_name_and_the_grouped_page_shows_it(
    client: TestClient, home: Any
) -> None:
    api = Api(client, home)
    api.build()
    use = {"case": "K-PEOPLE", "purpose": "search by person"}
    photo = {"image": ("p.png", face_photo(1, 0), "image/png")}

    def search() -> dict[str, Any]:
        r = client.post("/api/v1/searches", headers=api.headers, files=photo, data=use)
        assert r.status_code == 201, r.text
        return dict(r.json())

    hits = search()["faces"][0]["hits"]
    assert hits and {h["person_name"] for h in hits} == {None}
    best = hits[0]["person"]
    assert api.post(f"/api/v1/people/{best}/name", {"name": "Alice Liddell"}).status_code == 200
    after = search()
    hits = after["faces"][0]["hits"]
    assert all(isinstance(h["person"], int) for h in hits)
    assert {h["person_name"] for h in hits if h["person"] == best} == {"Alice Liddell"}
    assert {h["person_name"] for h in hits if h["person"] != best} <= {None}
    oversight = client.get(f"/api/v1/searches/{after['id']}", headers=home.auth("aud1"))
    assert {h["person_name"] for h in oversight.json()["faces"][0]["hits"]} == {None}
    grouped = client.get(f"/searches/{after['id']}?group=person", headers=api.headers | HTML)
    card = grouped.text.split(f'data-person="{best}"', 1)[1].split('class="subject"', 1)[1]
    assert card.split("</div>", 1)[0].startswith(">Alice Liddell")
    assert f"Person #{best}" not in grouped.text


def test_people_of_an_organisation_without_collections_is_an_empty_page(
    client: TestClient, home: Any
) -> None:
    """A new organisation's admin opening People got 404 "no collection named 'default'"
    from the navigation's own link."""
    from tests.homes import PASSWORD

    from facesearch.accountability import AccountabilityStore, local_actor

    me = local_actor("tester")
    with AccountabilityStore.open(home.home) as store:
        store.orgs.add("south", by=me)
        store.accounts.add_user("sadm", "admin", PASSWORD, by=me, org="south")
        token = store.accounts.issue_token("sadm", by=me)
    headers = {"Authorization": f"Bearer {token}", **HTML}
    page = client.get("/people", headers=headers)
    assert page.status_code == 200 and "Empty: ingest photos first." in page.text
    assert client.get("/people?collection=default", headers=headers).status_code == 404


def test_a_person_s_faces_come_a_page_at_a_time(
    client: TestClient, home: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A person of 537 faces showed them all on one page: 537 crop reads ran into the read
    rate limit (crops failed with 429) and filled the audit trail."""
    from facesearch.server.routes import people as people_routes

    api = Api(client, home)
    html = api.headers | HTML
    built = client.post("/people/build", headers=html, data={"collection": "default"})
    person = int(re.findall(r'data-person="(\d+)"', built.text)[0])
    monkeypatch.setattr(people_routes, "FACES_PER_PAGE", 3)
    first = client.get(f"/people/{person}", headers=html).text
    second = client.get(f"/people/{person}?at=2", headers=html).text
    shown = [re.findall(r'data-face="(\d+)"', page) for page in (first, second)]
    assert [len(s) for s in shown] == [3, len(GALLERY_SHOTS) - 3]
    assert not set(shown[0]) & set(shown[1])
    assert "page 1 of 2" in first and f'href="/people/{person}?at=2"' in first


def test_a_page_past_the_last_shows_the_last(
    client: TestClient, home: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Attack pass: /people?at=999999 said "Persons 47,999,953–47,999,952 of 57", and a
    person page past its last page "page 50 of 2" with no face (a person split meanwhile
    leaves a bookmarked later page so)."""
    from facesearch.server.routes import people as people_routes

    api = Api(client, home)
    html = api.headers | HTML
    built = client.post("/people/build", headers=html, data={"collection": "default"})
    person = int(re.findall(r'data-person="(\d+)"', built.text)[0])
    grid = client.get("/people?at=999999", headers=html)
    assert grid.status_code == 200
    assert f"Persons 1–{PEOPLE} of {PEOPLE}," in grid.text
    assert len(re.findall(r'data-person="\d+"', grid.text)) == PEOPLE
    monkeypatch.setattr(people_routes, "FACES_PER_PAGE", 3)
    late = client.get(f"/people/{person}?at=50", headers=html).text
    assert "page 2 of 2" in late
    assert len(re.findall(r'data-face="\d+"', late)) == len(GALLERY_SHOTS) - 3


def test_a_name_as_long_as_the_cli_allows_is_taken_by_the_api_and_the_page(
    client: TestClient, home: Any
) -> None:
    """Attack pass: `people name` takes 255 characters, the API and the person page only 200:
    a person the CLI named 240 characters long could not be saved again from its page (it
    answered a bare 422 page, "name: string should have at most 200 characters")."""
    api = Api(client, home)
    html = api.headers | HTML
    api.build()
    person = api.people()[0]["person"]
    name = "Ann " * 60  # 240 characters
    r = api.post(f"/api/v1/people/{person}/name", {"name": name})
    assert r.status_code == 200 and r.json()["person"]["name"] == name.strip(), r.text
    page = client.get(f"/people/{person}", headers=html).text
    assert 'maxlength="255"' in page
    r = client.post(f"/people/{person}/name", headers=html, data={"name": name + "Bo"})
    assert r.status_code == 303, r.text
    r = api.post(f"/api/v1/people/{person}/name", {"name": "x" * 256})
    assert r.status_code == 422 and error_code(r) == "invalid_request"


def test_a_built_collection_left_without_faces_is_built_not_yet_to_build(
    client: TestClient, home: Any
) -> None:
    """Attack pass: after `forget` took every face of a built collection (or a build of a
    collection of no face), the People page said "The people of solo have not been built
    yet" and offered "Build": it had been, and an ingest into it attaches new faces."""
    from facesearch.gallery.catalog import Catalog

    api = Api(client, home)
    html = api.headers | HTML
    api.build()
    with Catalog.open(home.home / "catalog.sqlite") as catalog:
        catalog.delete_faces([f["face_id"] for p in api.people() for f in p["faces"]])
    page = client.get("/people", headers=html)
    assert page.status_code == 200, page.text
    assert 'id="no-persons"' in page.text and 'id="not-built"' not in page.text
    assert "Rebuild the people of default" in page.text


def test_a_collection_shared_read_only_offers_no_review(client: TestClient, home: Any) -> None:
    """Attack pass: an organisation's admin looking at the persons of a collection shared
    with it read-only was offered Build, Name, Merge, Split and "Not this person"; each
    answered 404 "no person with id 45" under the very person the page showed. The pages
    now say the collection is read-only and offer no change; its owner's pages are as
    before."""
    from facesearch.accountability import AccountabilityStore, local_actor

    Api(client, home).build()
    with AccountabilityStore.open(home.home) as store:
        me = local_actor("tester")
        store.orgs.add("north", by=me)
        store.accounts.add_user("northadm", "admin", "correct horse battery staple", by=me,
                                org="north")  # fmt: skip
        token = store.accounts.issue_token("northadm", by=me)
        store.orgs.grant("default", "north", by=me)
    north = {"Authorization": f"Bearer {token}"} | HTML
    grid = client.get("/people?collection=default", headers=north)
    assert grid.status_code == 200, grid.text
    person = re.findall(r'data-person="(\d+)"', grid.text)[0]
    assert 'id="read-only"' in grid.text and 'id="build-button"' not in grid.text
    page = client.get(f"/people/{person}", headers=north).text
    assert 'id="read-only"' in page
    assert f'action="/people/{person}/' not in page and 'form="split-form"' not in page
    own = Api(client, home).headers | HTML
    mine = client.get(f"/people/{person}", headers=own).text
    assert 'id="read-only"' not in mine and f'action="/people/{person}/name"' in mine
