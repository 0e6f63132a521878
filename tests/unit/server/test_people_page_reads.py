"""The crops and photos a People or person page shows are part of that page's read
(``?people_read=SEQ``, ``app.people_reads``): neither charged to the reader's
``server_read_rate_limit`` nor logged again; anything but a face that read showed, still held
and in reach, of the reader's own recent People or person read, is 404 (uncharged, unlogged).

The fake gallery holds 6 synthetic people x 4 shots ("default"); the read limit is set to 3 a
minute, fewer than the persons of a page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.fakes import GALLERY_SHOTS, PEOPLE, FakePipeline, face_photo
from tests.homes import PASSWORD
from tests.jobs import job_finished

from facesearch.accountability import AccountabilityStore, local_actor
from facesearch.server import create_app

HTML = {"Accept": "text/html"}
READS_A_MINUTE = 3
PARTNER = "partner"  # an organisation "default" is shared with; its investigator pinv


@pytest.fixture
def home(fake_homes: Any) -> Any:
    made = fake_homes("people-page-reads", server_read_rate_limit=READS_A_MINUTE)
    me = local_actor("tester")
    with AccountabilityStore.open(made.home) as store:
        store.orgs.add(PARTNER, by=me)
        store.accounts.add_user("pinv", "investigator", PASSWORD, by=me, org=PARTNER)
        made.tokens["pinv"] = store.accounts.issue_token("pinv", by=me)
    return made


@pytest.fixture
def client(home: Any) -> Iterator[TestClient]:
    with TestClient(create_app(home.settings, pipelines=FakePipeline)) as c:
        yield c


def reads(client: TestClient, home: Any, after: int) -> list[dict[str, Any]]:
    """The ``read`` entries after seq ``after`` (the auditor's reads of the trail are not
    reads of personal data: not charged)."""
    r = client.get(
        "/api/v1/audit", headers=home.auth("aud1"), params={"action": "read", "limit": 500}
    )
    assert r.status_code == 200, r.text
    return sorted((e for e in r.json()["items"] if e["seq"] > after), key=lambda e: e["seq"])


def head(client: TestClient, home: Any) -> int:
    return int(client.get("/api/v1/audit/head", headers=home.auth("aud1")).json()["seq"])


def build(client: TestClient, home: Any, collection: str = "default", who: str = "inv1") -> int:
    r = client.post("/api/v1/people/build", headers=home.auth(who), data={"collection": collection})
    assert r.status_code == 200, r.text
    return int(r.json()["id"])


def test_a_people_page_of_more_persons_than_the_read_limit_loads_every_crop_as_one_read(
    client: TestClient, home: Any
) -> None:
    """A People page showed 48 cover crops, each a read of its own: with 120 reads a minute
    the third page's crops failed with 429 (broken images) and the trail held an entry per
    thumbnail. The crops are now part of the page's read."""
    build(client, home)
    html = home.auth("inv1") | HTML
    start = head(client, home)
    grid = client.get("/people", headers=html)
    assert grid.status_code == 200, grid.text
    crops = re.findall(r'<img src="(/api/v1/faces/\d+/crop[^"]*)"', grid.text)
    assert len(crops) == PEOPLE > READS_A_MINUTE
    codes = [client.get(c, headers=home.auth("inv1")).status_code for c in crops]
    assert codes == [200] * PEOPLE, codes
    (page,) = reads(client, home, start)
    assert page["payload"]["what"] == "people" and page["actor"] == "inv1"
    assert all(c.endswith(f"?people_read={page['seq']}") for c in crops), crops

    # a person page: its crops and photos likewise part of its read
    person = re.findall(r'data-person="(\d+)"', grid.text)[0]
    shown = client.get(f"/people/{person}", headers=html)
    assert shown.status_code == 200, shown.text
    links = set(
        re.findall(r'(?:src|href)="(/api/v1/(?:faces|images)/\d+/[a-z]+[^"]*)"', shown.text)
    )
    assert len([u for u in links if "/crop" in u]) == len(GALLERY_SHOTS)
    assert len([u for u in links if "/file" in u]) >= 1
    codes = [client.get(u, headers=home.auth("inv1")).status_code for u in sorted(links)]
    assert codes == [200] * len(links), codes
    _, one = reads(client, home, start)
    assert one["payload"]["what"] == "person" and one["payload"]["person"] == int(person)
    assert all(u.endswith(f"?people_read={one['seq']}") for u in links), links


def test_the_api_s_links_name_its_read(client: TestClient, home: Any) -> None:
    build(client, home)
    auth = home.auth("inv1")
    listed = client.get("/api/v1/people", headers=auth).json()
    first = listed["people"][0]
    assert first["links"]["cover_crop"].endswith(f"/crop?people_read={listed['id']}")
    one = client.get(f"/api/v1/people/{first['person']}", headers=auth).json()
    assert one["read"] == reads(client, home, 0)[-1]["seq"]
    for face in one["faces"]:
        for link in (face["links"]["crop"], face["links"]["image"]):
            assert link.endswith(f"?people_read={one['read']}"), link
            assert client.get(link, headers=auth).status_code == 200, link


def test_a_crop_outside_the_read_is_not_found_uncharged_and_unlogged(
    client: TestClient, home: Any
) -> None:
    admin, inv1 = home.auth("admin1"), home.auth("inv1")
    r = client.post(
        "/api/v1/ingest-jobs",
        headers=admin,
        files={"files": ("o.png", face_photo(5, 0), "image/png")},
        data={"collection": "other"},
    )
    assert r.status_code == 202, r.text
    job = job_finished(lambda path: client.get(path, headers=admin), r.json(), 60, 0.1)
    assert job["status"] == "completed", job
    r = client.put(f"/api/v1/collections/default/shares/{PARTNER}", headers=admin)
    assert r.status_code == 200, r.text
    built = build(client, home)
    build(client, home, "other")

    listed = client.get("/api/v1/people", headers=inv1).json()  # inv1's 1st read
    people = listed["id"]
    a, b = listed["people"][:2]
    person = client.get(f"/api/v1/people/{a['person']}", headers=inv1).json()  # 2nd read
    theirs = client.get("/api/v1/people", headers=home.auth("inv2")).json()["id"]
    shared = client.get("/api/v1/people", headers=home.auth("pinv")).json()["id"]
    elsewhere = client.get("/api/v1/people?collection=other", headers=admin).json()
    other_face = elsewhere["people"][0]["faces"][0]["face_id"]
    search = client.post(
        "/api/v1/searches",
        headers=inv1,
        files={"image": ("p.png", face_photo(1, 0), "image/png")},
        data={"case": "K-PEOPLE", "purpose": "people reads"},
    )
    assert search.status_code == 201, search.text
    kept, gone = (f["face_id"] for f in person["faces"][:2])
    erased = client.post(
        "/api/v1/erasures", headers=admin, data={"face_id": str(gone), "reason": "asked"}
    )
    assert erased.status_code == 201 and erased.json()["face_ids"] == [gone], erased.text
    b_face, b_image = b["faces"][0]["face_id"], b["faces"][0]["image_id"]

    def crop(face: int, seq: int, who: str = "inv1") -> Any:
        return client.get(f"/api/v1/faces/{face}/crop?people_read={seq}", headers=home.auth(who))

    def not_found(r: Any) -> None:
        assert r.status_code == 404, r.text
        assert r.json()["error"]["code"] == "not_found", r.text

    # the faces each read showed, still held: 200 (pinv: "default" is shared with partner)
    assert crop(kept, people).status_code == 200
    assert crop(kept, person["read"]).status_code == 200
    assert crop(b_face, people).status_code == 200
    assert crop(kept, shared, "pinv").status_code == 200
    start = head(client, home)
    for r in [
        crop(kept, theirs),  # another user's People read
        crop(kept, shared),  # another organisation's user's
        crop(kept, search.json()["id"]),  # a search, not a People read
        crop(kept, built),  # inv1's own build of the people: not a read
        crop(kept, erased.json()["id"]),  # an erasure
        crop(kept, start + 1000),  # no entry at all
        crop(other_face, people),  # a face of another collection
        crop(b_face, person["read"]),  # a face of another person than the one read
        client.get(f"/api/v1/images/{b_image}/file?people_read={person['read']}", headers=inv1),
        crop(gone, people),  # erased since the read
        crop(gone, person["read"]),
        crop(kept, 2**63),  # past int64
        crop(kept, 10**30),
        crop(other_face, shared, "pinv"),  # a collection partner does not see
    ]:
        not_found(r)
    withdrawn = client.delete(f"/api/v1/collections/default/shares/{PARTNER}", headers=admin)
    assert withdrawn.status_code == 200, withdrawn.text
    not_found(crop(kept, shared, "pinv"))  # a share withdrawn since the read
    assert reads(client, home, start) == []  # no refusal was logged

    # none was charged: inv1 has spent 2 of 3 reads; a crop without people_read is charged
    # and logged as before
    plain = client.get(f"/api/v1/faces/{kept}/crop", headers=inv1)
    assert plain.status_code == 200, plain.text
    (logged,) = reads(client, home, start)
    assert logged["payload"] == {"what": "face_crop", "face_id": kept}
    assert client.get(f"/api/v1/faces/{kept}/crop", headers=inv1).status_code == 429
    # ... while the page's own links are not: part of the read
    assert crop(kept, people).status_code == 200
    assert len(reads(client, home, start)) == 1


def test_a_read_covers_what_it_showed_not_the_rest_of_the_collection(
    client: TestClient, home: Any
) -> None:
    """A People page's read covered every face of every person of the collection, and an
    API list's read the faces ingested after it too: one read an hour opened every crop and
    photo of the collection, uncharged and unlogged (found by the review). A page's read now
    covers the covers it showed; an API list's, the faces it listed."""
    build(client, home)
    inv1, html = home.auth("inv1"), home.auth("inv1") | HTML
    start = head(client, home)
    grid = client.get("/people", headers=html).text
    covers = {int(f) for f in re.findall(r'<img src="/api/v1/faces/(\d+)/crop', grid)}
    (page,) = reads(client, home, start)
    assert set(page["payload"]["face_ids"]) == covers and page["payload"]["page"] == 1
    listed = client.get("/api/v1/people", headers=inv1).json()
    every = {f["face_id"]: f["image_id"] for p in listed["people"] for f in p["faces"]}
    others = sorted(set(every) - covers)
    assert others and len(covers) == PEOPLE

    def get(path: str) -> int:
        return client.get(path, headers=inv1).status_code

    seq = page["seq"]
    assert get(f"/api/v1/faces/{others[0]}/crop?people_read={seq}") == 404  # not shown
    assert get(f"/api/v1/images/{every[others[0]]}/file?people_read={seq}") == 404
    assert get(f"/api/v1/faces/{others[0]}/crop?people_read={listed['id']}") == 200  # listed

    admin = home.auth("admin1")
    r = client.post(
        "/api/v1/ingest-jobs",
        headers=admin,
        files={"files": ("later.png", face_photo(1, 7), "image/png")},
        data={"collection": "default"},
    )
    assert r.status_code == 202, r.text
    job = job_finished(lambda path: client.get(path, headers=admin), r.json(), 60, 0.1)
    assert job["status"] == "completed", job
    build(client, home)
    now = client.get("/api/v1/people", headers=admin).json()
    later = max(f["face_id"] for p in now["people"] for f in p["faces"])
    assert later not in every  # ingested after inv1's list
    assert get(f"/api/v1/faces/{later}/crop?people_read={listed['id']}") == 404
