"""POST /api/v1/training/quiz with answers that are not ASCII numbers: each is refused with
422 naming the question, never a 500, and leaves no attempt in the trail."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.fakes import FakePipeline

from facesearch.app.training import QUIZ
from facesearch.server import create_app

RIGHT = {f"q{n}": str(q.answer) for n, q in enumerate(QUIZ, 1)}


@pytest.fixture
def home(fake_homes: Any) -> Any:
    return fake_homes("training-quiz-input", trained=False)


@pytest.fixture
def client(home: Any) -> Iterator[TestClient]:
    with TestClient(create_app(home.settings, pipelines=FakePipeline), follow_redirects=False) as c:
        yield c


@pytest.mark.parametrize("answer", ["²", "¹", "٣", "①", "-1", "1.0", "０"])
def test_an_answer_that_is_no_ascii_number_is_a_422(
    client: TestClient, home: Any, answer: str
) -> None:
    r = client.post("/api/v1/training/quiz", headers=home.auth("inv1"), data=RIGHT | {"q1": answer})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "bad_input"
    assert "question 1" in r.json()["error"]["message"]
    trail = client.get(
        "/api/v1/audit", headers=home.auth("aud1"), params={"action": "training_failed"}
    )
    assert trail.json()["items"] == []


def test_the_right_answers_with_spaces_around_still_pass(client: TestClient, home: Any) -> None:
    spaced = {k: f" {v} " for k, v in RIGHT.items()}
    r = client.post("/api/v1/training/quiz", headers=home.auth("inv1"), data=spaced)
    assert r.status_code == 200, r.text
    assert r.json()["passed"] is True
