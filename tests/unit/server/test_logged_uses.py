"""Every use through the API leaves its audit entry, on the fake pipeline: a failed search or
verification with its outcome (a refused poor probe too), a read of personal data with its
case, a purpose typed on two lines. (tests/integration/test_server_reads.py has the fuller
real-model versions.)"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tests.fakes import face_photo, no_face_photo, person_name

USE = {"case": "K-LOG", "purpose": "logged uses"}


@pytest.fixture(scope="module")
def home(fake_homes: Any) -> Any:
    return fake_homes("logged-uses")


@pytest.fixture(scope="module")
def api(home: Any, fake_server: Any) -> Iterator[httpx.Client]:
    with fake_server(home.settings) as url, httpx.Client(base_url=url, timeout=60) as client:
        yield client


def after(api: httpx.Client, home: Any, seq: int, **filters: str) -> list[dict[str, Any]]:
    r = api.get("/api/v1/audit", headers=home.auth("aud1"), params={"limit": 500, **filters})
    assert r.status_code == 200, r.text
    return sorted((e for e in r.json()["items"] if e["seq"] > seq), key=lambda e: e["seq"])


def head(api: httpx.Client, home: Any) -> int:
    return int(api.get("/api/v1/audit/head", headers=home.auth("aud1")).json()["seq"])


def test_failed_searches_are_logged_with_their_outcome(api: httpx.Client, home: Any) -> None:
    start = head(api, home)
    attempts = {
        "no_face": no_face_photo(),
        "poor_probe": face_photo(1, 0, blur=True),
        "corrupt_image": face_photo(1, 0)[:300],
        "unsupported_media_type": b"just some text, not a picture",
    }
    for outcome, data in attempts.items():
        r = api.post(
            "/api/v1/searches",
            headers=home.auth("inv1"),
            files={"image": ("probe.png", data)},
            data={**USE, "case": f"K-F-{outcome}"},
        )
        assert r.status_code in (415, 422), r.text
        assert r.json()["error"]["code"] == outcome
    logged = after(api, home, start, action="search", actor="inv1")
    assert [(e["case"], e["payload"]["outcome"]) for e in logged] == [
        (f"K-F-{o}", o) for o in attempts
    ]
    assert all(e["payload"]["candidates"] == [] and e["payload"]["error"] for e in logged)
    # the refused poor probe is searchable on purpose, and then logged as a search
    r = api.post(
        "/api/v1/searches",
        headers=home.auth("inv1"),
        files={"image": ("probe.png", attempts["poor_probe"])},
        data={**USE, "allow_poor": "true"},
    )
    assert r.status_code == 201, r.text
    (entry,) = after(api, home, logged[-1]["seq"], action="search")
    assert entry["payload"].get("outcome", "ok") == "ok"
    assert entry["payload"]["parameters"]["allow_poor"] is True


def test_failed_verifications_are_logged_with_their_outcome(api: httpx.Client, home: Any) -> None:
    face = face_photo(2, 0)
    start = head(api, home)
    attempts = {"ok": face_photo(2, 5), "no_face": no_face_photo(), "bad_input": b""}
    for outcome, other in attempts.items():
        r = api.post(
            "/api/v1/verifications",
            headers=home.auth("inv1"),
            files={"a": ("a.png", face), "b": ("b.png", other)},
            data={**USE, "case": f"K-V-{outcome}"},
        )
        assert r.is_success == (outcome == "ok"), r.text
    logged = after(api, home, start, action="verify", actor="inv1")
    assert [e["case"] for e in logged] == [f"K-V-{o}" for o in attempts]
    assert logged[0]["payload"]["outcome"] == "ok" and logged[0]["payload"]["same_person"]
    assert logged[1]["payload"]["outcome"] == "no_face"
    assert all(e["payload"].get("error") for e in logged[1:])


def test_reads_are_logged_with_their_case_and_hidden_from_others(
    api: httpx.Client, home: Any
) -> None:
    r = api.post(
        "/api/v1/searches",
        headers=home.auth("inv1"),
        files={"image": ("probe.png", face_photo(3, 0))},
        data=USE,
    )
    assert r.status_code == 201, r.text
    sid, best = r.json()["id"], r.json()["faces"][0]["hits"][0]
    assert best["subject"] == person_name(3)
    start = head(api, home)
    inv = home.auth("inv1")
    assert api.get(f"/api/v1/searches/{sid}", headers=inv).status_code == 200
    face = api.get(f"/api/v1/faces/{best['face_id']}", headers=inv, params={"case": "K-G-1"})
    assert face.status_code == 200
    assert api.get(f"/api/v1/subjects/{person_name(3)}", headers=inv).status_code == 200
    got = [
        (e["payload"]["what"], e["case"])
        for e in after(api, home, start, action="read", actor="inv1")
    ]
    assert got == [("search", USE["case"]), ("face", "K-G-1"), ("subject", None)]
    # another investigator neither sees the search nor learns that it exists
    hidden = api.get(f"/api/v1/searches/{sid}", headers=home.auth("inv2"))
    absent = api.get(f"/api/v1/searches/{sid + 10_000}", headers=home.auth("inv2"))
    assert hidden.status_code == absent.status_code == 404
    assert hidden.json()["error"]["code"] == absent.json()["error"]["code"] == "not_found"
    assert after(api, home, start, actor="inv2") == []


def test_a_purpose_typed_on_two_lines_is_searched_and_logged(api: httpx.Client, home: Any) -> None:
    start = head(api, home)
    r = api.post(
        "/api/v1/searches",
        headers=home.auth("inv1"),
        files={"image": ("probe.png", face_photo(4, 0))},
        data={"case": "K-CRLF", "purpose": "robbery at the station\r\nsuspect seen on CCTV"},
    )
    assert r.status_code == 201, r.text
    (entry,) = after(api, home, start, action="search", actor="inv1")
    assert entry["purpose"] == "robbery at the station\nsuspect seen on CCTV"
