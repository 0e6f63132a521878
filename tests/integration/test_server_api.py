"""The HTTP API through a real uvicorn server on 127.0.0.1: search, the two-person rule,
verify, ingest by upload, erasure, and everything that must be refused cleanly."""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from tests.jobs import job_finished
from tests.made_images import png_header

from facesearch.server import create_app

pytestmark = pytest.mark.lfw

NASTY = [
    "'; DROP TABLE users; --",
    '" OR 1=1 --',
    "%' OR '1'='1",
    "Robert'); DELETE FROM audit_log WHERE ('1'='1",
    "../../etc/passwd",
]


@pytest.fixture(scope="module")
def home(server_home: Any) -> Any:
    return server_home("api", server_max_upload_bytes=2_000_000)


@pytest.fixture(scope="module")
def url(home: Any, serve: Any) -> Iterator[str]:
    with serve(home.settings) as base:
        yield base


@pytest.fixture(scope="module")
def api(url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, timeout=60) as client:
        yield client


def jpeg(path: Path) -> dict[str, tuple[str, bytes, str]]:
    return {"image": (path.name, path.read_bytes(), "image/jpeg")}


def search(api: httpx.Client, home: Any, photo: Path, user: str = "inv1", **data: Any) -> Any:
    form = {"case": "K-2025-001", "purpose": "robbery at the station", **data}
    return api.post("/api/v1/searches", headers=home.auth(user), files=jpeg(photo), data=form)


def best(search_body: dict[str, Any]) -> dict[str, Any]:
    """The candidate with the highest similarity over every probe face."""
    cands = [c for f in search_body["faces"] for c in f["hits"]]
    return max(cands, key=lambda c: c["similarity"])


def test_search_is_audited_and_two_person_rule(
    api: httpx.Client, home: Any, probe_photo: Any
) -> None:
    photo = probe_photo("Colin_Powell")
    r = search(api, home, photo)
    assert r.status_code == 201, r.text
    body = r.json()
    top = best(body)
    assert top["subject"] == "Colin_Powell" and top["rank"] == 1
    assert "lead" in body["note"] and top["fmr_words"] and top["expected_false"] >= 0
    assert api.get(f"/api/v1/searches/{body['id']}", headers=home.auth("admin1")).json() == body
    # another investigator may not see it until asked to confirm one of its candidates
    assert api.get(f"/api/v1/searches/{body['id']}", headers=home.auth("inv2")).status_code == 404

    entry = api.get(f"/api/v1/audit/{body['id']}", headers=home.auth("aud1")).json()
    assert entry["actor"] == "inv1" and entry["action"] == "search"
    assert entry["case"] == "K-2025-001" and entry["purpose"] == "robbery at the station"
    p = entry["payload"]
    assert p["started"] <= p["ended"]
    faces = api.get("/api/v1/stats", headers=home.auth("admin1")).json()["faces"]
    assert p["collections"] == [{"name": "default", "size": faces}] and faces >= 40
    assert p["probe_sha256"] == hashlib.sha256(photo.read_bytes()).hexdigest()
    returned = [(c["face_id"], c["similarity"]) for f in body["faces"] for c in f["hits"]]
    logged = [(c["face_id"], round(c["score"], 5)) for c in p["candidates"]]
    assert logged == returned and len(logged) > 0
    assert p["parameters"]["top"] == 10
    # the one search record: the probe by its name, the kept image at links.probe
    assert body["probe"] == photo.name and body["probe_sha256"] == p["probe_sha256"]
    assert body["probe_kept"] is True
    assert body["links"]["probe"] == f"/api/v1/searches/{body['id']}/probe"
    assert top["image_path"].endswith(".jpg") and "/" not in top["image_path"]
    probe = api.get(body["links"]["probe"], headers=home.auth("inv1"))
    assert probe.content == photo.read_bytes() and probe.headers["content-type"] == "image/jpeg"
    crop = api.get(top["links"]["crop"], headers=home.auth("inv1"))
    assert crop.status_code == 200 and crop.content[:3] == b"\xff\xd8\xff"

    decide = f"/api/v1/searches/{body['id']}/candidates/{top['face_id']}/decisions"
    first = api.post(decide, headers=home.auth("inv1"), data={"verdict": "possible_match"})
    assert first.status_code == 201 and first.json()["status"] == "possible_match"
    again = api.post(decide, headers=home.auth("inv1"), data={"verdict": "possible_match"})
    assert again.status_code == 403 and "two-person" in again.json()["error"]["message"]
    pending = api.get("/api/v1/candidates", headers=home.auth("inv2")).json()["items"]
    assert any(x["face_id"] == top["face_id"] for x in pending)
    assert (
        api.post(decide, headers=home.auth("aud1"), data={"verdict": "rejected"}).status_code == 403
    )
    second = api.post(
        decide, headers=home.auth("inv2"), data={"verdict": "possible_match", "note": "ears"}
    )
    assert second.status_code == 201
    state = second.json()
    assert state["status"] == "confirmed" and state["confirmed"] is True
    assert state["verified_by"] == ["inv1", "inv2"]
    steps = api.get(
        "/api/v1/audit", headers=home.auth("aud1"), params={"action": "decision"}
    ).json()["items"]
    mine = [e for e in steps if e["payload"]["face_id"] == top["face_id"]]
    assert [(e["actor"], e["payload"]["status_after"]) for e in mine] == [
        ("inv1", "possible_match"),
        ("inv2", "confirmed"),
    ]
    assert all(e["case"] == "K-2025-001" for e in mine)


def test_case_and_purpose_are_required(api: httpx.Client, home: Any, probe_photo: Any) -> None:
    photo = probe_photo("Tony_Blair")
    before = api.get("/api/v1/audit/head", headers=home.auth("aud1")).json()["seq"]
    for data in ({"case": "K-1"}, {"purpose": "why"}, {"case": " ", "purpose": "why"}):
        r = api.post("/api/v1/searches", headers=home.auth("inv1"), files=jpeg(photo), data=data)
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] in ("invalid_request", "bad_input")
    after = api.get("/api/v1/audit/head", headers=home.auth("aud1")).json()["seq"]
    assert after == before  # a refused search leaves no search entry


def test_verify(api: httpx.Client, home: Any, probe_photo: Any) -> None:
    a, b = probe_photo("Hugo_Chavez", 10), probe_photo("Hugo_Chavez", 11)
    files = {
        "a": ("a.jpg", a.read_bytes(), "image/jpeg"),
        "b": ("b.jpg", b.read_bytes(), "image/jpeg"),
    }
    r = api.post(
        "/api/v1/verifications",
        headers=home.auth("inv1"),
        files=files,
        data={"case": "K-7", "purpose": "identity check"},
    )
    assert r.status_code == 201, r.text
    assert r.json()["same_person"] is True and "lead" in r.json()["note"]
    models = r.json()["models"]  # both models fused by default, each one's own score shown
    assert [m.split(":")[0] for m in models] == ["sface", "dlib_resnet"]
    assert list(r.json()["scores"]) == models
    entry = api.get(f"/api/v1/audit/{r.json()['id']}", headers=home.auth("aud1")).json()
    assert entry["action"] == "verify" and entry["case"] == "K-7"
    assert entry["payload"]["models"] == models
    assert entry["payload"]["probe_sha256"][0] == hashlib.sha256(a.read_bytes()).hexdigest()
    r = api.post(
        "/api/v1/verifications", headers=home.auth("inv1"), files=files, data={"case": "K"}
    )
    assert r.status_code == 422


def test_uploads_are_refused_cleanly(api: httpx.Client, home: Any, probe_photo: Any) -> None:
    auth = home.auth("inv1")
    form = {"case": "K-1", "purpose": "limits"}
    big = b"\xff\xd8\xff\xe0" + b"\0" * 2_100_000
    r = api.post("/api/v1/searches", headers=auth, files={"image": ("x.jpg", big)}, data=form)
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'--zz\r\nContent-Disposition: form-data; name="image"; filename="x.jpg"\r\n\r\n'
        for _ in range(40):
            yield b"x" * 100_000

    r = api.post(
        "/api/v1/searches",
        headers={**auth, "Content-Type": "multipart/form-data; boundary=zz"},
        content=chunks(),
    )
    assert r.status_code == 413, r.text
    for name, data in [
        ("notes.jpg", b"just some text, not a picture"),
        ("doc.jpg", b"%PDF-1.7\n" + b"0" * 100),
        ("a.jpg", b"PK\x03\x04" + b"0" * 100),
        ("s.svg", b"<svg xmlns='http://www.w3.org/2000/svg'></svg>"),
    ]:
        r = api.post("/api/v1/searches", headers=auth, files={"image": (name, data)}, data=form)
        assert r.status_code == 415, (name, r.text)
        assert r.json()["error"]["code"] == "unsupported_media_type"
    r = api.post(
        "/api/v1/searches",
        headers=auth,
        files={"image": ("bomb.png", png_header(30000, 30000))},
        data=form,
    )
    assert r.status_code == 413, r.text
    truncated = probe_photo("Colin_Powell").read_bytes()[:300]
    r = api.post("/api/v1/searches", headers=auth, files={"image": ("t.jpg", truncated)}, data=form)
    assert r.status_code == 422 and "Traceback" not in r.text


def test_path_traversal_is_refused(api: httpx.Client, home: Any) -> None:
    evil = ["..%2F..%2F..%2Fetc%2Fpasswd", "%2e%2e%2f%2e%2e%2fetc%2fpasswd", "..", "%00"]
    templates = [
        "/api/v1/faces/{}",
        "/api/v1/faces/{}/crop",
        "/api/v1/images/{}/file",
        "/api/v1/subjects/{}",
        "/api/v1/collections/{}",
        "/api/v1/users/{}",
        "/api/v1/ingest-jobs/{}",
        "/api/v1/audit/{}",
        "/api/v1/searches/{}/probe",
        "/searches/{}",
        "/ingest/{}",
        "/static/{}",
    ]
    for template in templates:
        for bad in evil:
            path = template.format(bad)
            r = api.get(path, headers=home.auth("admin1"))
            assert r.status_code in (303, 404, 422), (path, r.status_code)  # 303: "/"
            assert "root:" not in r.text and "Traceback" not in r.text
    r = api.post("/api/v1/users/..%2F..%2Fetc%2Fpasswd/disable", headers=home.auth("admin1"))
    assert r.status_code == 404


def test_sql_metacharacters_change_nothing(api: httpx.Client, home: Any, probe_photo: Any) -> None:
    admin, aud = home.auth("admin1"), home.auth("aud1")
    users_before = api.get("/api/v1/users", headers=admin).json()["items"]
    stats_before = api.get("/api/v1/stats", headers=admin).json()
    for text in NASTY:
        r = search(api, home, probe_photo("Ariel_Sharon"), case=text, purpose=text, top="3")
        assert r.status_code == 201, r.text
        assert r.json()["case"] == text and r.json()["purpose"] == text
        sid, cand = r.json()["id"], best(r.json())["face_id"]
        r = api.post(
            f"/api/v1/searches/{sid}/candidates/{cand}/decisions",
            headers=home.auth("inv1"),
            data={"verdict": "rejected", "note": text},
        )
        assert r.status_code == 201 and r.json()["history"][-1]["note"] == text
        r = search(api, home, probe_photo("Ariel_Sharon"), collections=text)
        assert r.status_code == 404
        for path in (f"/api/v1/subjects/{text}", f"/api/v1/collections/{text}"):
            assert api.get(path, headers=admin).status_code == 404
        r = api.get("/api/v1/audit", headers=aud, params={"actor": text, "case": text})
        assert r.status_code == 200 and r.json()["items"] == []
        r = api.get("/api/v1/audit", headers=aud, params={"case": text, "action": "search"})
        assert [e["case"] for e in r.json()["items"]] == [text]
        r = api.post(
            "/api/v1/users",
            headers=admin,
            data={"name": text, "role": "admin", "password": "long enough pw 1"},
        )
        assert r.status_code == 422
        r = api.post("/api/v1/erasures", headers=admin, data={"subject": text, "reason": text})
        assert r.status_code == 404
    assert api.get("/api/v1/users", headers=admin).json()["items"] == users_before
    assert api.get("/api/v1/stats", headers=admin).json() == stats_before
    assert api.get("/api/v1/audit/verify", headers=aud).json()["ok"] is True


def _hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no hidden field {name}"
    return match.group(1)


def login(client: httpx.Client, name: str, password: str) -> httpx.Response:
    page = client.get("/login")
    token = _hidden(page.text, "login_token")
    return client.post(
        "/login",
        data={"name": name, "password": password, "login_token": token},
        follow_redirects=False,
    )


def test_sessions_csrf_and_login(url: str, home: Any, probe_photo: Any, api: httpx.Client) -> None:
    password = "correct-horse-battery"
    with httpx.Client(base_url=url, timeout=60) as browser:
        r = browser.post("/login", data={"name": "inv1", "password": password})
        assert r.status_code == 403  # no login form token: refused
        r = login(browser, "inv1", password)
        assert r.status_code == 303 and r.headers["location"] == "/search"
        cookie = r.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "fs_session=" in cookie
        page = browser.get("/search")
        assert page.status_code == 200 and "lead for a person to check" in page.text
        csrf = _hidden(page.text, "csrf_token")
        files = jpeg(probe_photo("Colin_Powell"))
        r = browser.post("/api/v1/detect", files=files)
        assert r.status_code == 403 and r.json()["error"]["code"] == "csrf_failed"
        r = browser.post("/api/v1/detect", files=files, headers={"X-CSRF-Token": "nope"})
        assert r.status_code == 403
        r = browser.post(
            "/api/v1/detect", files=files, headers={"X-CSRF-Token": csrf, "Origin": "http://evil"}
        )
        assert r.status_code == 403
        r = browser.post("/api/v1/detect", files=files, headers={"X-CSRF-Token": csrf})
        assert r.status_code == 200 and len(r.json()["faces"]) >= 1
        r = browser.post(
            "/search",
            files={"photo": files["image"]},
            data={"case": "K-9", "purpose": "csrf test"},
            follow_redirects=False,
        )
        assert r.status_code == 403  # the form without its token
        r = browser.post(
            "/search",
            files={"photo": files["image"]},
            data={"case": "K-9", "purpose": "csrf test", "csrf_token": csrf},
            follow_redirects=False,
        )
        assert r.status_code == 303 and r.headers["location"].startswith("/searches/")
        result = browser.get(r.headers["location"])
        assert result.status_code == 200 and "Colin_Powell" in result.text
        r = browser.post("/logout", data={"csrf_token": csrf}, follow_redirects=False)
        assert r.status_code == 303
        assert browser.get("/api/v1/me").status_code == 401

    # five failures lock the name, even against the right password
    admin = home.auth("admin1")
    r = api.post(
        "/api/v1/users",
        headers=admin,
        data={"name": "victim", "role": "auditor", "password": password},
    )
    assert r.status_code == 201
    with httpx.Client(base_url=url, timeout=60) as browser:
        for _ in range(5):
            assert login(browser, "victim", "wrong password!").status_code == 401
        r = login(browser, "victim", password)
        assert r.status_code == 401 and "too many failed logins" in r.text


def test_ingest_upload_search_and_erase(api: httpx.Client, home: Any, probe_photo: Any) -> None:
    admin = home.auth("admin1")
    person = "Jennifer_Capriati"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for n in (1, 2, 3):
            zf.writestr(f"{person}/{n}.jpg", probe_photo(person, n).read_bytes())
        zf.writestr("../../evil.jpg", probe_photo(person, 4).read_bytes())
        zf.writestr("notes.txt", b"not an image")
    r = api.post(
        "/api/v1/ingest-jobs",
        headers=admin,
        files={"files": ("batch.zip", buf.getvalue())},
        data={"collection": "uploads", "label_from_dir": "true"},
    )
    assert r.status_code == 202, r.text
    job = r.json()
    assert r.headers["location"] == f"/api/v1/ingest-jobs/{job['id']}"
    job = job_finished(lambda path: api.get(path, headers=admin), job, 120, 0.3)
    assert job["status"] == "completed", job
    assert job["images_added"] == 4 and job["faces_added"] >= 4 and job["progress"] == 1.0
    assert not list(home.home.parent.rglob("evil.jpg"))  # a member name is only a name
    uploaded = list((home.home / "uploads" / job["id"]).rglob("*.jpg"))
    assert len(uploaded) == 4

    r = search(api, home, probe_photo(person, 10), collections="uploads")
    assert r.status_code == 201 and best(r.json())["subject"] == person

    r = api.post("/api/v1/erasures", headers=admin, data={"subject": person})
    assert r.status_code == 422  # no reason
    r = api.post(
        "/api/v1/erasures",
        headers=admin,
        data={"subject": person, "reason": "data subject request DSR-17"},
    )
    assert r.status_code == 201, r.text
    erased = r.json()
    assert erased["faces_removed"] >= 3 and erased["subjects"] == [person]
    assert erased["uploaded_files_deleted"] == 3
    entry = api.get(f"/api/v1/audit/{erased['id']}", headers=home.auth("aud1")).json()
    assert entry["actor"] == "admin1" and entry["action"] == "erase"
    assert entry["payload"]["reason"] == "data subject request DSR-17"
    assert sorted(entry["payload"]["removed"]["faces"]) == sorted(erased["face_ids"])
    assert "embedding" not in str(entry)
    ingests = api.get(
        "/api/v1/audit", headers=home.auth("aud1"), params={"action": "ingest", "actor": "admin1"}
    ).json()["items"]
    assert [e["payload"]["upload_job"] for e in ingests][-1] == job["id"]
    r = search(api, home, probe_photo(person, 10), collections="uploads")
    assert r.status_code == 201
    assert all(c["subject"] != person for f in r.json()["faces"] for c in f["hits"])
    r = api.post(
        "/api/v1/ingest-jobs", headers=admin, files={"files": ("x.zip", b"plain text, no zip")}
    )
    assert r.status_code == 415


def test_metrics_docs_and_health(api: httpx.Client, home: Any) -> None:
    assert api.get("/health").json()["status"] == "ok"
    text = api.get("/metrics", headers=home.auth("admin1")).text
    assert re.search(r'facesearch_searches_total\{outcome="ok"\} [1-9]', text)
    assert "facesearch_search_seconds_bucket" in text and "facesearch_gallery_faces" in text
    assert api.get("/metrics", headers=home.auth("inv1")).status_code == 403
    docs = api.get("/docs", headers=home.auth("inv1"))
    assert docs.status_code == 200 and "/api/v1/searches" in docs.text
    schema = api.get("/openapi.json", headers=home.auth("inv1")).json()
    assert "/api/v1/searches/{search_id}" in schema["paths"]


# --- limits that need the app in hand: TestClient -------------------------------------------


def test_rate_limit_timeout_and_conflict(server_home: Any, probe_photo: Any) -> None:
    home = server_home("limits", server_rate_limit=5)
    with TestClient(create_app(home.settings), raise_server_exceptions=False) as client:
        auth = home.auth("admin1")
        answers = [client.get("/api/v1/me", headers=auth).status_code for _ in range(7)]
        assert answers[:5] == [200] * 5 and answers[5:] == [429, 429]
        r = client.get("/api/v1/me", headers=auth)
        assert r.json()["error"]["code"] == "rate_limited" and int(r.headers["retry-after"]) >= 1
    # the engine is still loading its models: a search cannot answer within 0.05 s (a
    # separate server: on a busy machine even /me can take longer than that)
    with TestClient(
        create_app(home.settings.replace(server_request_timeout=0.05)),
        raise_server_exceptions=False,
    ) as client:
        r = client.post(
            "/api/v1/searches",
            headers=home.auth("inv1"),
            files=jpeg(probe_photo("Tony_Blair")),
            data={"case": "K", "purpose": "timeout"},
        )
        assert r.status_code == 503 and r.json()["error"]["code"] == "timeout"
    home2 = server_home("conflict")
    with TestClient(create_app(home2.settings), raise_server_exceptions=False) as client:
        workers = client.app.state.ctx.workers  # type: ignore[attr-defined]
        with workers.gallery_write:  # as if an ingest were running
            r = client.post(
                "/api/v1/erasures",
                headers=home2.auth("admin1"),
                data={"face_id": "1", "reason": "test"},
            )
        assert r.status_code == 409 and r.json()["error"]["code"] == "conflict"
