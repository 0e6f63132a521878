"""The search-request routes on the fake pipeline, in an organisation whose policy asks for
approval: a search is 403 until a supervisor approves a request; the requester runs it once
(the answer is the search); another organisation's supervisor gets the 404 of an unknown
request; the Approvals page shows the Approve, Deny and Run buttons, and the Search page
asks for approval instead of searching."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.fakes import FakePipeline, face_photo
from tests.homes import PASSWORD

from facesearch.server import create_app

USE = {"case": "K-appr", "purpose": "approval test"}
HTML = {"Accept": "text/html"}


@pytest.fixture(scope="module")
def home(fake_homes: Any) -> Any:
    """The fake gallery with search approval on in ``default``, its supervisor sup1, and
    zsup, the supervisor of another organisation."""
    from facesearch.accountability import AccountabilityStore, local_actor

    made = fake_homes("approvals")
    me = local_actor("tester")
    with AccountabilityStore.open(made.home) as store:
        store.orgs.change("default", policy={"search_approval": True}, by=me)
        store.orgs.add("south", by=me)
        store.accounts.add_user("sup1", "supervisor", PASSWORD, by=me)
        store.accounts.add_user("zsup", "supervisor", PASSWORD, by=me, org="south")
        for name in ("sup1", "zsup"):
            made.tokens[name] = store.accounts.issue_token(name, by=me)
    return made


@pytest.fixture(scope="module")
def client(home: Any) -> Iterator[TestClient]:
    app = create_app(home.settings, pipelines=FakePipeline)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def _ask(client: TestClient, home: Any, person: int, **data: Any) -> Any:
    return client.post(
        "/api/v1/search-requests",
        headers=home.auth("inv1"),
        files={"image": ("probe.png", face_photo(person, 0), "image/png")},
        data={**USE, **data},
    )


def test_request_approve_run_through_the_api(client: TestClient, home: Any) -> None:
    photo = {"image": ("p.png", face_photo(1, 0), "image/png")}
    r = client.post("/api/v1/searches", headers=home.auth("inv1"), files=photo, data=USE)
    assert r.status_code == 403 and "approval first" in r.json()["error"]["message"]

    r = _ask(client, home, 1, top=2)
    assert r.status_code == 201, r.text
    asked = r.json()
    assert asked["state"] == "pending" and asked["parameters"]["top"] == 2
    seq = asked["id"]
    r = client.get("/api/v1/search-requests", headers=home.auth("sup1"), params={"pending": 1})
    assert [i["id"] for i in r.json()["items"]] == [seq]
    assert client.get("/api/v1/search-requests", headers=home.auth("inv2")).json()["items"] == []
    for path in (f"/api/v1/search-requests/{seq}", "/api/v1/search-requests/99999"):
        assert client.get(path, headers=home.auth("zsup")).status_code == 404
        assert client.post(f"{path}/approve", headers=home.auth("zsup")).status_code == 404
    assert (
        client.post(f"/api/v1/search-requests/{seq}/approve", headers=home.auth("inv1")).status_code
        == 403
    )
    run = f"/api/v1/search-requests/{seq}/run"
    assert client.post(run, headers=home.auth("inv1")).status_code == 403  # not approved yet

    r = client.post(
        f"/api/v1/search-requests/{seq}/approve", headers=home.auth("sup1"), data={"note": "ok"}
    )
    assert r.status_code == 200 and r.json()["state"] == "approved", r.text
    assert client.post(run, headers=home.auth("inv2")).status_code == 404  # not theirs
    r = client.post(run, headers=home.auth("inv1"))
    assert r.status_code == 201, r.text
    search = r.json()
    assert search["case"] == "K-appr" and search["top"] == 2 and search["faces"][0]["hits"]
    again = client.post(run, headers=home.auth("inv1"))
    assert again.status_code == 422 and "ran already" in again.json()["error"]["message"]
    state = client.get(f"/api/v1/search-requests/{seq}", headers=home.auth("inv1")).json()
    assert state["state"] == "run" and state["search_id"] == search["id"]


def test_a_request_is_checked_like_a_search(client: TestClient, home: Any) -> None:
    r = client.post(
        "/api/v1/search-requests",
        headers=home.auth("inv1"),
        files={"image": ("x.png", b"not an image", "image/png")},
        data=USE,
    )
    assert r.status_code == 415, r.text
    assert _ask(client, home, 2, case="").status_code == 422
    assert _ask(client, home, 2, collections="nowhere").status_code == 404
    r = client.post(
        "/api/v1/search-requests",
        headers=home.auth("sup1"),
        files={"image": ("probe.png", face_photo(2, 0), "image/png")},
        data=USE,
    )
    assert r.status_code == 403  # supervisors do not search


def test_the_approvals_page(client: TestClient, home: Any) -> None:
    r = client.post(
        "/search",
        headers={**home.auth("inv1"), **HTML},
        files={"photo": ("p.png", face_photo(3, 0), "image/png")},
        data=USE,
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/approvals", r.text
    mine = client.get("/api/v1/search-requests", headers=home.auth("inv1")).json()["items"][0]
    assert mine["state"] == "pending" and mine["probe"] == "p.png"
    seq = mine["id"]

    page = client.get("/approvals", headers={**home.auth("sup1"), **HTML}).text
    assert f'action="/approvals/{seq}/approve"' in page and "Deny" in page
    assert 'href="/approvals"' in page  # the nav link
    r = client.post(
        f"/approvals/{seq}/approve",
        headers={**home.auth("sup1"), **HTML},
        data={"note": "fine"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    page = client.get("/approvals", headers={**home.auth("inv1"), **HTML}).text
    assert f'action="/approvals/{seq}/run"' in page and 'approve"' not in page
    r = client.post(
        f"/approvals/{seq}/run", headers={**home.auth("inv1"), **HTML}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"].startswith("/searches/"), r.text
    r = client.post(f"/approvals/{seq}/deny", headers={**home.auth("sup1"), **HTML})
    assert r.status_code == 422 and "already" in r.text  # decided: the page says why


def test_a_supervisor_revokes_an_approval_through_the_api_and_the_page(
    client: TestClient, home: Any
) -> None:
    seqs = []
    for person in (4, 5):
        r = _ask(client, home, person)
        assert r.status_code == 201, r.text
        seqs.append(r.json()["id"])
        r = client.post(
            f"/api/v1/search-requests/{seqs[-1]}/approve", headers=home.auth("sup1"), data={}
        )
        assert r.status_code == 200, r.text
    by_api, by_page = seqs
    r = client.post(
        f"/api/v1/search-requests/{by_api}/revoke",
        headers=home.auth("zsup"),  # another organisation's supervisor: unknown
        data={"note": "x"},
    )
    assert r.status_code == 404
    r = client.post(f"/api/v1/search-requests/{by_api}/revoke", headers=home.auth("inv1"), data={})
    assert r.status_code == 403
    r = client.post(
        f"/api/v1/search-requests/{by_api}/revoke",
        headers=home.auth("sup1"),
        data={"note": "no longer needed"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "revoked" and r.json()["revoke_note"] == "no longer needed"
    r = client.post(f"/api/v1/search-requests/{by_api}/run", headers=home.auth("inv1"))
    assert r.status_code == 403 and "revoked by sup1" in r.json()["error"]["message"]

    page = client.get("/approvals", headers={**home.auth("sup1"), **HTML}).text
    assert f'action="/approvals/{by_page}/revoke"' in page
    assert f'action="/approvals/{by_api}/revoke"' not in page  # revoked already
    r = client.post(
        f"/approvals/{by_page}/revoke",
        headers={**home.auth("sup1"), **HTML},
        data={"note": "given by mistake"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    page = client.get("/approvals", headers={**home.auth("inv1"), **HTML}).text
    assert f'action="/approvals/{by_page}/run"' not in page and "given by mistake" in page
