"""Reads of personal data through a real uvicorn server: scoped to who may see them, each one
an audit entry, rate-limited per user; failed searches logged; erased candidates refused; no
server paths in the API's answers."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image, ImageFilter

pytestmark = pytest.mark.lfw

READ_LIMIT = 60
CASE = "K-READ-1"


@pytest.fixture(scope="module")
def home(server_home: Any) -> Any:
    return server_home("reads", server_read_rate_limit=READ_LIMIT)


@pytest.fixture(scope="module")
def url(home: Any, serve: Any) -> Iterator[str]:
    with serve(home.settings) as base:
        yield base


@pytest.fixture(scope="module")
def api(url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, timeout=120) as client:
        yield client


def search(api: httpx.Client, home: Any, data: bytes, user: str = "inv1", **form: Any) -> Any:
    fields = {"case": CASE, "purpose": "reads are scoped", **form}
    return api.post(
        "/api/v1/searches",
        headers=home.auth(user),
        files={"image": ("probe.jpg", data, "image/jpeg")},
        data=fields,
    )


def best(body: dict[str, Any]) -> dict[str, Any]:
    cands = [c for f in body["faces"] for c in f["candidates"] if not c["erased"]]
    return max(cands, key=lambda c: c["similarity"])


def entries_after(api: httpx.Client, home: Any, seq: int, **filters: str) -> list[dict[str, Any]]:
    """Audit entries after ``seq`` that match the filters, in order."""
    out: list[dict[str, Any]] = []
    while True:
        params = {"limit": 1000, "offset": len(out), **filters}
        r = api.get("/api/v1/audit", headers=home.auth("aud1"), params=params)
        assert r.status_code == 200, r.text
        items = r.json()["items"]
        out += items
        if len(items) < 1000:
            return [e for e in out if e["seq"] > seq]


def head(api: httpx.Client, home: Any) -> int:
    return int(api.get("/api/v1/audit/head", headers=home.auth("aud1")).json()["seq"])


def blurred(path: Path) -> bytes:
    out = io.BytesIO()
    Image.open(path).filter(ImageFilter.GaussianBlur(4)).save(out, "JPEG")
    return out.getvalue()


def sky() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (160, 120), (100, 150, 220)).save(out, "JPEG")
    return out.getvalue()


def test_a_search_and_its_probe_are_seen_only_by_author_reviewers_admins(
    api: httpx.Client, home: Any, probe_photo: Any
) -> None:
    r = search(api, home, probe_photo("Colin_Powell").read_bytes())
    assert r.status_code == 201, r.text
    body = r.json()
    sid, top, pface = body["id"], best(body), body["faces"][0]["face"]
    fid = top["face_id"]
    start = head(api, home)
    api_paths = [
        f"/api/v1/searches/{sid}",
        f"/api/v1/searches/{sid}/probe",
        f"/api/v1/searches/{sid}/probe/faces/{pface}/crop",
        f"/api/v1/searches/{sid}/candidates/{fid}",
    ]
    pages = [f"/searches/{sid}", f"/searches/{sid}/candidates/{fid}"]
    missing = sid + 100_000
    for path in api_paths + pages:
        hidden = api.get(path, headers=home.auth("inv2"))
        absent = api.get(path.replace(f"/{sid}", f"/{missing}", 1), headers=home.auth("inv2"))
        assert hidden.status_code == 404, (path, hidden.status_code)
        # the same answer as for an id that does not exist: no existence oracle
        assert hidden.json() == {
            "error": {
                **absent.json()["error"],
                "message": absent.json()["error"]["message"].replace(str(missing), str(sid)),
            }
        }
        for user in ("inv1", "admin1"):
            assert api.get(path, headers=home.auth(user)).status_code == 200, (path, user)
    decide = f"/api/v1/searches/{sid}/candidates/{fid}/decisions"
    r = api.post(decide, headers=home.auth("inv2"), data={"verdict": "rejected"})
    assert r.status_code == 404
    assert entries_after(api, home, start, actor="inv2") == []  # nothing was read

    reads = entries_after(api, home, start, action="read")
    seen = {(e["actor"], e["payload"]["what"]) for e in reads}
    for user in ("inv1", "admin1"):
        for what in ("search", "probe", "probe_crop", "candidate", "search_page", "candidate_page"):
            assert (user, what) in seen, (user, what)
    assert all(e["case"] == CASE and e["payload"]["search"] == sid for e in reads)
    assert {e["payload"].get("face_id") for e in reads if "candidate" in e["payload"]["what"]} == {
        fid
    }

    # a possible match asks every other reviewer to confirm: now inv2 may see the search
    assert api.post(
        decide, headers=home.auth("inv1"), data={"verdict": "possible_match"}
    ).is_success
    assert api.get(f"/api/v1/searches/{sid}", headers=home.auth("inv2")).status_code == 200
    r = api.post(decide, headers=home.auth("inv2"), data={"verdict": "possible_match"})
    assert r.status_code == 201 and r.json()["status"] == "confirmed"
    # and having decided, inv2 still may
    assert api.get(f"/api/v1/searches/{sid}/probe", headers=home.auth("inv2")).status_code == 200
    # the auditor reads the trail, not the searches
    assert api.get(f"/api/v1/searches/{sid}", headers=home.auth("aud1")).status_code == 403


def test_gallery_reads_are_logged_with_their_case(
    api: httpx.Client, home: Any, probe_photo: Any
) -> None:
    body = search(api, home, probe_photo("Hugo_Chavez").read_bytes()).json()
    cand = best(body)
    start = head(api, home)
    inv = home.auth("inv1")
    assert api.get(cand["links"]["crop"], headers=inv).status_code == 200
    assert api.get(cand["links"]["image"], headers=inv).status_code == 200
    r = api.get(f"/api/v1/faces/{cand['face_id']}/crop", headers=inv, params={"case": "K-G-9"})
    assert r.status_code == 200
    assert api.get(f"/api/v1/images/{cand['image_id']}", headers=inv).status_code == 200
    assert api.get(f"/api/v1/faces/{cand['face_id']}", headers=inv).status_code == 200
    assert api.get("/api/v1/subjects/Hugo_Chavez", headers=inv).status_code == 200
    got = [
        (e["payload"]["what"], e["case"], e["payload"].get("search"))
        for e in entries_after(api, home, start, action="read", actor="inv1")
    ]
    assert got == [
        ("face_crop", CASE, body["id"]),  # a candidate's links carry their search
        ("image_file", CASE, body["id"]),
        ("face_crop", "K-G-9", None),
        ("image", None, None),
        ("face", None, None),
        ("subject", None, None),
    ]
    # a search link for a face that is not its candidate is refused
    other = api.get("/api/v1/faces/1/crop", headers=inv, params={"search": body["id"]})
    assert other.status_code == 404 or cand["face_id"] == 1


def test_api_answers_hold_no_server_paths(
    api: httpx.Client, home: Any, probe_photo: Any, settings: Any
) -> None:
    body = search(api, home, probe_photo("Ariel_Sharon").read_bytes())
    cand = best(body.json())
    inv = home.auth("inv1")
    answers = [
        body.text,
        api.get(f"/api/v1/searches/{body.json()['id']}", headers=inv).text,
        api.get(f"/api/v1/faces/{cand['face_id']}", headers=inv).text,
        api.get(f"/api/v1/images/{cand['image_id']}", headers=inv).text,
        api.get("/api/v1/subjects/Ariel_Sharon", headers=inv).text,
        api.get(
            f"/api/v1/searches/{body.json()['id']}/candidates/{cand['face_id']}", headers=inv
        ).text,
    ]
    lfw_root = str(Path(settings.lfw_dir).resolve())
    for text in answers:
        assert str(home.home) not in text and "/tmp/" not in text and lfw_root not in text
    image = api.get(f"/api/v1/images/{cand['image_id']}", headers=inv).json()
    assert re.fullmatch(r"Ariel_Sharon_000\d\.jpg", image["source"]), image["source"]


def test_failed_searches_are_logged(
    api: httpx.Client, home: Any, probe_photo: Any, url: str
) -> None:
    start = head(api, home)
    attempts = {
        "no_face": sky(),
        "poor_probe": blurred(probe_photo("Tony_Blair")),
        "corrupt_image": probe_photo("Tony_Blair").read_bytes()[:300],
        "unsupported_media_type": b"just some text, not a picture",
    }
    for outcome, data in attempts.items():
        r = search(api, home, data, case=f"K-F-{outcome}")
        assert r.status_code in (415, 422), r.text
        assert r.json()["error"]["code"] == outcome
    logged = entries_after(api, home, start, action="search", actor="inv1")
    assert [(e["case"], e["payload"]["outcome"]) for e in logged] == [
        (f"K-F-{o}", o) for o in attempts
    ]
    for e in logged:
        assert e["payload"]["candidates"] == [] and e["payload"]["error"]
        assert e["purpose"] == "reads are scoped"

    # and through the web UI
    from test_server_api import _hidden, login

    with httpx.Client(base_url=url, timeout=120) as browser:
        assert login(browser, "inv2", "correct-horse-battery").status_code == 303
        csrf = _hidden(browser.get("/search").text, "csrf_token")
        mark = head(api, home)
        r = browser.post(
            "/search",
            files={"photo": ("sky.jpg", sky(), "image/jpeg")},
            data={"case": "K-UI", "purpose": "ui attempt", "csrf_token": csrf},
        )
        assert r.status_code == 422 and "no face" in r.text.lower()
        r = browser.post(  # the form sent without a photo
            "/search", data={"case": "K-UI-2", "purpose": "ui attempt", "csrf_token": csrf}
        )
        assert r.status_code == 422
        ui = entries_after(api, home, mark, action="search", actor="inv2")
        assert [(e["case"], e["payload"]["outcome"]) for e in ui] == [
            ("K-UI", "no_face"),
            ("K-UI-2", "bad_input"),
        ]
        assert ui[1]["payload"]["probe_sha256"] is None
        # a failed search is shown to its author as what it is
        for e in ui:
            page = browser.get(f"/searches/{e['seq']}")
            assert page.status_code == 200 and "failed" in page.text, page.text
        recent = browser.get("/search").text
        assert "failed (no face)" in recent


def test_an_erased_candidate_cannot_be_decided(
    api: httpx.Client, home: Any, probe_photo: Any
) -> None:
    body = search(api, home, probe_photo("Serena_Williams").read_bytes()).json()
    cands = sorted(
        (c for f in body["faces"] for c in f["candidates"]), key=lambda c: -c["similarity"]
    )
    first, second = cands[0]["face_id"], cands[1]["face_id"]
    decide = "/api/v1/searches/{}/candidates/{}/decisions"
    r = api.post(
        decide.format(body["id"], second),
        headers=home.auth("inv1"),
        data={"verdict": "possible_match"},
    )
    assert r.status_code == 201
    r = api.post(
        "/api/v1/erasures",
        headers=home.auth("admin1"),
        data={"face_id": [str(first), str(second)], "reason": "DSR erasure test"},
    )
    assert r.status_code == 201, r.text
    before = head(api, home)
    for fid, user in ((first, "inv1"), (second, "inv2")):  # a first verdict, a confirmation
        r = api.post(
            decide.format(body["id"], fid),
            headers=home.auth(user),
            data={"verdict": "possible_match"},
        )
        assert r.status_code == 409, r.text
        assert r.json()["error"]["code"] == "erased"
    assert entries_after(api, home, before, action="decision") == []
    shown = api.get(f"/api/v1/searches/{body['id']}", headers=home.auth("inv1")).json()
    assert {c["face_id"] for f in shown["faces"] for c in f["candidates"] if c["erased"]} >= {
        first,
        second,
    }


# Last: it spends inv2's reads.
def test_bulk_reads_are_rate_limited_per_user(api: httpx.Client, home: Any) -> None:
    reader = home.auth("inv2")
    start = head(api, home)
    answers = [
        api.get(f"/api/v1/images/{(n % 30) + 1}/file", headers=reader)
        for n in range(READ_LIMIT + 10)
    ]
    codes = [r.status_code for r in answers]
    # what is left of inv2's full bucket (a few reads went before, refused ones included)
    # serves at once; then 429, as it refills by one a second
    assert codes[: READ_LIMIT // 2] == [200] * (READ_LIMIT // 2)
    assert 429 in codes, codes
    limited = answers[codes.index(429)]
    assert limited.json()["error"]["code"] == "rate_limited"
    assert int(limited.headers["retry-after"]) >= 1
    # another user is not held back
    assert api.get("/api/v1/images/1/file", headers=home.auth("admin1")).status_code == 200
    served = [e for e in entries_after(api, home, start, action="read", actor="inv2")]
    assert len(served) == codes.count(200)
    assert all(e["payload"]["what"] == "image_file" for e in served)
