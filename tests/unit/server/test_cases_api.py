"""The case registry through the API, on the fake pipeline: admins open and close cases and
add members, each user lists their cases, and a search or verification under a closed case or
a case the user is not a member of is 403 and an audit entry."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tests.fakes import face_photo


@pytest.fixture(scope="module")
def home(fake_homes: Any) -> Any:
    return fake_homes("cases-api")


@pytest.fixture(scope="module")
def api(home: Any, fake_server: Any) -> Iterator[httpx.Client]:
    with fake_server(home.settings) as url, httpx.Client(base_url=url, timeout=60) as client:
        yield client


def _search(api: httpx.Client, home: Any, who: str, case: str) -> httpx.Response:
    return api.post(
        "/api/v1/searches",
        headers=home.auth(who),
        files={"image": ("probe.png", face_photo(1, 0))},
        data={"case": case, "purpose": "cases api"},
    )


def _refusals(api: httpx.Client, home: Any) -> list[tuple[str, str, str, str]]:
    r = api.get("/api/v1/audit", headers=home.auth("aud1"), params={"action": "case_refused"})
    assert r.status_code == 200, r.text
    return [
        (e["actor"], e["case"], e["payload"]["attempt"], e["payload"]["reason"])
        for e in r.json()["items"]
    ]


def test_cases_through_the_api(api: httpx.Client, home: Any) -> None:
    admin = home.auth("admin1")
    r = api.post(
        "/api/v1/cases",
        headers=admin,
        data={"number": "K-A", "title": "Robbery", "legal_basis": "warrant 12", "member": "inv1"},
    )
    assert r.status_code == 201, r.text
    assert r.json()["members"] == ["inv1"] and r.json()["status"] == "open"
    assert api.post("/api/v1/cases", headers=admin, data={"number": "K-B", "title": "x"}).is_success
    r = api.post("/api/v1/cases", headers=admin, data={"number": "K-A", "title": "again"})
    assert r.status_code == 422 and "exists already" in r.json()["error"]["message"]
    r = api.post("/api/v1/cases", headers=home.auth("aud1"), data={"number": "K-C", "title": "x"})
    assert r.status_code == 403

    def numbers(who: str) -> list[str]:
        r = api.get("/api/v1/cases", headers=home.auth(who))
        assert r.status_code == 200, r.text
        return [c["number"] for c in r.json()["items"]]

    assert numbers("inv1") == ["K-A"] and numbers("inv2") == []
    assert numbers("admin1") == numbers("aud1") == ["K-B", "K-A"]

    assert _search(api, home, "inv1", "K-A").status_code == 201
    refused = _search(api, home, "inv2", "K-A")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    assert "inv2 is not a member of case K-A" in refused.json()["error"]["message"]
    r = api.post("/api/v1/cases/K-A/members", headers=admin, data={"name": "inv2"})
    assert r.status_code == 200 and r.json()["members"] == ["inv1", "inv2"]
    assert _search(api, home, "inv2", "K-A").status_code == 201

    r = api.post("/api/v1/cases/K-A/close", headers=admin)
    assert r.status_code == 200 and r.json()["status"] == "closed" and r.json()["closed_by"]
    assert _search(api, home, "inv1", "K-A").status_code == 403
    verify = api.post(
        "/api/v1/verifications",
        headers=home.auth("inv1"),
        files={"a": ("a.png", face_photo(1, 0)), "b": ("b.png", face_photo(1, 1))},
        data={"case": "K-A", "purpose": "cases api"},
    )
    assert verify.status_code == 403, verify.text
    assert api.post("/api/v1/cases/K-A/close", headers=admin).status_code == 422
    assert api.post("/api/v1/cases/K-Z/close", headers=admin).status_code == 404
    assert _refusals(api, home) == [
        ("inv2", "K-A", "search", "not_member"),
        ("inv1", "K-A", "search", "closed"),
        ("inv1", "K-A", "verify", "closed"),
    ]


def test_an_investigator_opens_a_case_of_which_they_are_a_member(
    api: httpx.Client, home: Any
) -> None:
    r = api.post(
        "/api/v1/cases",
        headers=home.auth("inv2"),
        data={"number": "K-INV", "title": "Fraud", "member": "inv1"},
    )
    assert r.status_code == 201, r.text
    assert r.json()["members"] == ["inv1", "inv2"] and r.json()["opened_by"] == "inv2"
    closing = api.post("/api/v1/cases/K-INV/close", headers=home.auth("inv2"))
    assert closing.status_code == 403  # closing stays the admins'


def test_the_cases_page_opens_closes_and_adds_members(api: httpx.Client, home: Any) -> None:
    page = {**home.auth("admin1"), "Accept": "text/html"}
    r = api.post(
        "/cases", headers=page, data={"number": "K-P", "title": "Theft", "members": "inv1"}
    )
    assert r.status_code == 200 and "case K-P opened" in r.text
    r = api.post("/cases/K-P/members", headers=page, data={"name": "inv2"})
    assert r.status_code == 200 and "inv2 is a member of case K-P" in r.text
    r = api.post("/cases/K-P/close", headers=page)
    assert r.status_code == 200 and "case K-P closed" in r.text
    again = api.post("/cases", headers=page, data={"number": "K-P", "title": "Theft"})
    assert again.status_code == 422 and "exists already" in again.text
    case = api.get("/api/v1/cases/K-P/timeline", headers=home.auth("admin1")).json()["case"]
    assert case["members"] == ["inv1", "inv2"] and case["status"] == "closed"
