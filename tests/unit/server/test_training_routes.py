"""The training routes on the fake pipeline: the Training page (course, look-alikes, quiz form)
for every signed-in role, the quiz answered by the page's form (CSRF of the session) and by the
API, the status JSON before and after, and the entries the attempts leave in the trail."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.fakes import FakePipeline

from facesearch.accountability.orgs import OrgPolicy
from facesearch.app.training import QUIZ, training_content
from facesearch.server import create_app
from facesearch.settings import Settings

HTML = {"Accept": "text/html"}
RIGHT = {f"q{n}": str(q.answer) for n, q in enumerate(QUIZ, 1)}
WRONG_FIRST = RIGHT | {"q1": str((QUIZ[0].answer + 1) % len(QUIZ[0].choices))}


@pytest.fixture
def home(fake_homes: Any) -> Any:
    return fake_homes("training-routes", trained=False)


@pytest.fixture
def client(home: Any) -> Iterator[TestClient]:
    with TestClient(create_app(home.settings, pipelines=FakePipeline), follow_redirects=False) as c:
        yield c


def _trail(client: TestClient, home: Any, action: str) -> list[dict[str, Any]]:
    r = client.get("/api/v1/audit", headers=home.auth("aud1"), params={"action": action})
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


def _login(client: TestClient, name: str) -> str:
    page = client.get("/login")
    token = re.search(r'name="login_token" value="([^"]*)"', page.text).group(1)  # type: ignore[union-attr]
    r = client.post(
        "/login", data={"name": name, "password": "correct-horse-battery", "login_token": token}
    )
    assert r.status_code == 303, r.text
    page = client.get("/training", headers=HTML)
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]


def test_the_page_shows_the_course_and_the_quiz_to_every_role(
    client: TestClient, home: Any
) -> None:
    for user in ("inv1", "admin1", "aud1"):
        r = client.get("/training", headers=home.auth(user) | HTML)
        assert r.status_code == 200, r.text
        assert "A candidate is a lead" in r.text and "strangers" in r.text
        assert r.text.count('type="radio"') == sum(len(q.choices) for q in QUIZ)
    r = client.get("/training", headers=home.auth("inv1") | HTML)
    assert "You have not passed the training yet" in r.text
    assert "not at /nonexistent on this server" in r.text  # the fake homes have no LFW
    assert "Lennox Lewis" in r.text and "data:image/jpeg" not in r.text
    r = client.get("/training", headers=HTML)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_the_status_and_the_quiz_through_the_api(client: TestClient, home: Any) -> None:
    inv = home.auth("inv1")
    r = client.get("/api/v1/training", headers=inv)
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["required"], body["current"], body["passed_at"]) == (True, False, None)
    assert len(body["quiz"]) == 5 and "answer" not in body["quiz"][0]
    assert client.get("/api/v1/training", headers=home.auth("aud1")).json()["required"] is False

    r = client.post("/api/v1/training/quiz", headers=inv, data=WRONG_FIRST)
    assert r.status_code == 200, r.text
    assert (r.json()["passed"], r.json()["score"], r.json()["wrong"]) == (False, 4, [1])
    r = client.post("/api/v1/training/quiz", headers=inv, data=RIGHT | {"q5": ""})
    assert r.status_code == 422 and "question 5 has no answer" in r.json()["error"]["message"]
    r = client.post("/api/v1/training/quiz", headers=inv, data=RIGHT | {"q2": "x"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "bad_input"
    r = client.post("/api/v1/training/quiz", headers=inv, data=RIGHT)
    assert r.status_code == 200 and r.json()["passed"] is True
    assert r.json()["status"]["current"] is True

    body = client.get("/api/v1/training", headers=inv).json()
    assert body["current"] is True and body["valid_until"] > body["passed_at"]
    failed = _trail(client, home, "training_failed")
    passed = _trail(client, home, "training_passed")
    assert [(e["actor"], e["payload"]["score"]) for e in failed] == [("inv1", 4)]
    assert [(e["actor"], e["payload"]["score"]) for e in passed] == [("inv1", 5)]
    assert passed[0]["payload"]["valid_until"] == body["valid_until"]


def test_the_quiz_form_needs_the_sessions_csrf_token_and_passes(
    client: TestClient, home: Any
) -> None:
    csrf = _login(client, "inv2")
    r = client.post("/training", headers=HTML, data=RIGHT)
    assert r.status_code == 403  # a session's form without its CSRF token
    assert _trail(client, home, "training_passed") == []

    r = client.post("/training", headers=HTML, data=WRONG_FIRST | {"csrf_token": csrf})
    assert r.status_code == 200, r.text
    assert "Not passed: 4 of 5 right" in r.text and "question 1 asks" in r.text
    kept = WRONG_FIRST["q1"]
    assert f'name="q1" value="{kept}" checked' in r.text  # the answers are kept

    r = client.post("/training", headers=HTML, data={"q1": "1", "csrf_token": csrf})
    assert r.status_code == 422 and "question 2 has no answer" in r.text

    r = client.post("/training", headers=HTML, data=RIGHT | {"csrf_token": csrf})
    assert r.status_code == 200 and "Passed: 5 of 5 right" in r.text
    assert "You passed the training" in r.text
    assert [e["actor"] for e in _trail(client, home, "training_passed")] == ["inv2"]


def test_the_page_embeds_the_lookalike_photos_found_in_the_lfw_folder(
    fake_homes: Any, tmp_path: Path
) -> None:
    lfw = tmp_path / "lfw"  # holding the photos of the first pair only
    pair = training_content(Settings.from_env(env={}), 0, OrgPolicy()).lookalikes[0]
    for rel in (pair.a, pair.b):
        (lfw / "lfw-deepfunneled" / rel).parent.mkdir(parents=True)
        (lfw / "lfw-deepfunneled" / rel).write_bytes(b"\xff\xd8 " + rel.encode())
    home = fake_homes("training-lfw", lfw_dir=lfw)
    with TestClient(create_app(home.settings, pipelines=FakePipeline)) as client:
        r = client.get("/training", headers=home.auth("inv1") | HTML)
    assert r.status_code == 200, r.text
    assert r.text.count('src="data:image/jpeg;base64,') == 2
    assert base64.b64encode(b"\xff\xd8 " + pair.a.encode()).decode() in r.text
    assert "is not at" not in r.text


def test_a_search_before_the_training_is_refused_and_logged(client: TestClient, home: Any) -> None:
    from tests.fakes import face_photo

    r = client.post(
        "/api/v1/searches",
        headers=home.auth("inv1"),
        files={"image": ("probe.png", face_photo(1, 0))},
        data={"case": "K-T", "purpose": "before training"},
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "training_required", r.text
    refused = _trail(client, home, "case_refused")
    assert [(e["actor"], e["payload"]["attempt"], e["payload"]["reason"]) for e in refused] == [
        ("inv1", "search", "training_required")
    ]
    assert _trail(client, home, "search") == []  # refused before it ran: no search entry
