"""Limits of the server met through the real app (issue 7): analysis caps per user and in total
(429/503 with Retry-After), big images decoded at reduced size, the pixel-limit message, and
every answer counted in ``facesearch_http_requests_total``."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from tests.made_images import png_header

from facesearch.server import create_app

pytestmark = pytest.mark.lfw

FORM = {"case": "K-LIMITS", "purpose": "limits test"}


@pytest.fixture(scope="module")
def home(server_home: Any) -> Any:
    return server_home(
        "limits-d", server_max_analyses=2, server_max_analyses_per_user=1, server_rate_limit=0
    )


@pytest.fixture(scope="module")
def client(home: Any) -> Iterator[TestClient]:
    with TestClient(create_app(home.settings), raise_server_exceptions=False) as c:
        yield c


def jpeg(path: Path) -> dict[str, tuple[str, bytes, str]]:
    return {"image": (path.name, path.read_bytes(), "image/jpeg")}


def test_analyses_are_capped_per_user_with_429(
    client: TestClient, home: Any, probe_photo: Any
) -> None:
    slots = client.app.state.ctx.workers.slots  # type: ignore[attr-defined]
    photo = probe_photo("Tony_Blair")
    taken = slots.take("inv1")  # as if a search of inv1 were being analysed
    try:
        for path, files, data in [
            ("/api/v1/searches", jpeg(photo), FORM),
            ("/api/v1/detect", jpeg(photo), {}),
            (
                "/api/v1/verifications",
                {"a": ("a.jpg", photo.read_bytes()), "b": ("b.jpg", photo.read_bytes())},
                FORM,
            ),
        ]:
            r = client.post(path, headers=home.auth("inv1"), files=files, data=data)
            assert r.status_code == 429, (path, r.text)
            assert r.json()["error"]["code"] == "rate_limited"
            assert int(r.headers["retry-after"]) >= 1
        # another user is not held up by inv1's analysis
        r = client.post("/api/v1/searches", headers=home.auth("inv2"), files=jpeg(photo), data=FORM)
        assert r.status_code == 201, r.text
    finally:
        slots.give("inv1", taken)
    r = client.post("/api/v1/searches", headers=home.auth("inv1"), files=jpeg(photo), data=FORM)
    assert r.status_code == 201, r.text
    assert slots.in_flight() == 0


def test_analyses_are_capped_in_total_with_503(
    client: TestClient, home: Any, probe_photo: Any
) -> None:
    slots = client.app.state.ctx.workers.slots  # type: ignore[attr-defined]
    held = [("someone", slots.take("someone")), ("else", slots.take("else"))]  # the cap is 2
    try:
        r = client.post(
            "/api/v1/searches",
            headers=home.auth("inv2"),
            files=jpeg(probe_photo("Colin_Powell")),
            data=FORM,
        )
        assert r.status_code == 503, r.text
        assert r.json()["error"]["code"] == "busy"
        assert int(r.headers["retry-after"]) >= 1
    finally:
        for user, when in held:
            slots.give(user, when)
    assert slots.in_flight() == 0


def test_a_big_png_is_searched_at_reduced_size(
    client: TestClient, home: Any, probe_photo: Any
) -> None:
    face = Image.open(probe_photo("Colin_Powell"))  # 250 x 250
    canvas = Image.new("RGB", (6000, 6000), (128, 128, 128))
    canvas.paste(face.resize((2000, 2000)), (3000, 1000))
    buf = io.BytesIO()
    canvas.save(buf, format="PNG")
    r = client.post(
        "/api/v1/detect",
        headers=home.auth("inv1"),
        files={"image": ("big.png", buf.getvalue(), "image/png")},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["width"], body["height"]) == (6000, 6000)
    x, y, w, _ = body["faces"][body["main"]]["bbox"]
    small = client.post(
        "/api/v1/detect", headers=home.auth("inv1"), files=jpeg(probe_photo("Colin_Powell"))
    ).json()
    sx, sy, sw, _ = small["faces"][small["main"]]["bbox"]
    scale = 2000 / 250
    assert abs(x - (3000 + sx * scale)) < 60 and abs(y - (1000 + sy * scale)) < 60
    assert abs(w - sw * scale) < 0.15 * sw * scale


def test_the_pixel_limit_message_states_the_configured_limit(client: TestClient, home: Any) -> None:
    r = client.post(
        "/api/v1/searches",
        headers=home.auth("inv1"),
        files={"image": ("huge.png", png_header(20_000, 10_000))},  # 200 million pixels
        data=FORM,
    )
    assert r.status_code == 413, r.text
    message = r.json()["error"]["message"]
    assert f"{home.settings.limits.max_pixels:,}" in message, message
    assert "178,956,970" not in message and "178956970" not in message


def test_every_answer_is_counted_by_method_and_status_class(client: TestClient, home: Any) -> None:
    def counted(text: str, method: str, status: str) -> int:
        line = re.search(
            rf'^facesearch_http_requests_total\{{method="{method}",status="{status}"\}} (\d+)$',
            text,
            re.M,
        )
        return int(line.group(1)) if line else 0

    before = client.get("/metrics", headers=home.auth("admin1")).text
    for _ in range(3):
        assert client.get("/api/v1/me", headers=home.auth("inv1")).status_code == 200
    assert client.get("/api/v1/faces/999999", headers=home.auth("inv1")).status_code == 404
    assert client.get("/api/v1/me").status_code == 401
    assert client.post("/api/v1/searches", headers=home.auth("inv1")).status_code == 422
    after = client.get("/metrics", headers=home.auth("admin1")).text
    assert "# HELP facesearch_http_requests_total" in after
    assert counted(after, "GET", "2xx") - counted(before, "GET", "2xx") >= 4  # /metrics too
    assert counted(after, "GET", "4xx") - counted(before, "GET", "4xx") == 2
    assert counted(after, "POST", "4xx") - counted(before, "POST", "4xx") == 1
    assert not re.search(r"^facesearch_http_requests_total 0$", after, re.M)


def test_the_web_search_form_sends_retry_after_too(
    client: TestClient, home: Any, probe_photo: Any
) -> None:
    """Second attack pass: the search page answered 429 without Retry-After."""
    import re

    token = re.search(r'name="login_token" value="([^"]*)"', client.get("/login").text)
    assert token
    form = {"name": "inv1", "password": "correct-horse-battery", "login_token": token.group(1)}
    r = client.post("/login", data=form, follow_redirects=False)
    assert r.status_code == 303, r.text
    csrf = re.search(r'name="csrf_token" value="([^"]*)"', client.get("/search").text)
    assert csrf
    slots = client.app.state.ctx.workers.slots  # type: ignore[attr-defined]
    taken = slots.take("inv1")
    try:
        photo = probe_photo("Tony_Blair")
        r = client.post(
            "/search",
            files={"photo": (photo.name, photo.read_bytes(), "image/jpeg")},
            data={**FORM, "csrf_token": csrf.group(1)},
            headers={"Accept": "text/html"},
            follow_redirects=False,
        )
    finally:
        slots.give("inv1", taken)
        client.cookies.clear()
    assert r.status_code == 429, r.text[:300]
    assert int(r.headers["retry-after"]) >= 1
