"""Two ``facesearch serve`` replicas on one PostgreSQL behind Debian's nginx (issue 9).

The LFW gallery home (tests/integration/conftest.py) is moved into a throwaway PostgreSQL
cluster with ``migrate``; two replicas then run over it, each with its own empty home (its own
FAISS files, derived from the shared catalog), as on two machines. A search on one replica is
confirmed on the other; a browser session and the rate limits hold across them; nginx spreads
requests over both.
"""

from __future__ import annotations

import io
import math
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from tests.homes import PASSWORD, Home

from facesearch.app.migrate import migrate
from facesearch.devcluster.nginx import nginx_binary, nginx_in_front, serve_replica

pytestmark = pytest.mark.lfw

RATE_LIMIT = 40  # requests a minute per user, over both replicas together


@dataclass
class Deployment:
    home: Home
    a: str
    b: str
    lb: str


@pytest.fixture(scope="module")
def deployment(
    server_home: Any, pg_cluster: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    if nginx_binary() is None:
        pytest.skip("SKIPPED LOUDLY: nginx is missing (scripts/test.sh installs it as root)")
    home: Home = server_home("replicas")
    url = pg_cluster.database()
    report = migrate(home.settings, url, "")
    assert report.audit_ok, report.lines()
    base = tmp_path_factory.mktemp("replicas")
    env = {
        "FACESEARCH_DATABASE_URL": url,
        "FACESEARCH_CACHE_DIR": str(home.settings.cache_dir),
        "FACESEARCH_SERVER_RATE_LIMIT": str(RATE_LIMIT),
        "FACESEARCH_SERVER_LOGIN_RATE_LIMIT": "10000",
        "FACESEARCH_TRUSTED_PROXIES": "127.0.0.1/32",
    }
    with (
        serve_replica(base / "home-a", env, base / "a.log") as a,
        serve_replica(base / "home-b", env, base / "b.log") as b,
        nginx_in_front([a, b], base / "nginx") as lb,
    ):
        yield Deployment(home, a, b, lb)


def test_search_on_one_replica_confirmed_on_the_other(deployment: Deployment, lfw: Path) -> None:
    d, auth = deployment, deployment.home.auth
    photo = lfw / "lfw-deepfunneled" / "Colin_Powell" / "Colin_Powell_0010.jpg"
    form = {"case": "K-REPLICA-1", "purpose": "replica test"}
    files = {"image": (photo.name, photo.read_bytes(), "image/jpeg")}
    r = httpx.post(f"{d.a}/api/v1/searches", headers=auth("inv1"), files=files, data=form,
                   timeout=120)  # fmt: skip
    assert r.status_code == 201, r.text
    body = r.json()
    top = max((c for f in body["faces"] for c in f["hits"]), key=lambda c: c["similarity"])
    assert top["subject"] == "Colin_Powell"
    # the other replica serves the same search record, its kept probe and the crop
    assert httpx.get(f"{d.b}/api/v1/searches/{body['id']}", headers=auth("admin1")).json() == body
    probe = httpx.get(f"{d.b}/api/v1/searches/{body['id']}/probe", headers=auth("inv1"))
    assert probe.content == photo.read_bytes()
    decide = f"/api/v1/searches/{body['id']}/candidates/{top['face_id']}/decisions"
    first = httpx.post(d.a + decide, headers=auth("inv1"), data={"verdict": "possible_match"})
    assert first.status_code == 201, first.text
    # the two-person rule holds across replicas: the same person on the other one is refused
    again = httpx.post(d.b + decide, headers=auth("inv1"), data={"verdict": "possible_match"})
    assert again.status_code == 403
    second = httpx.post(d.b + decide, headers=auth("inv2"),
                        data={"verdict": "possible_match", "note": "ears"})  # fmt: skip
    assert second.status_code == 201, second.text
    assert second.json()["status"] == "confirmed"
    assert second.json()["verified_by"] == ["inv1", "inv2"]


def test_a_search_upload_through_the_balancer(deployment: Deployment, lfw: Path) -> None:
    """A probe photo (larger than nginx's default in-memory body buffer) through nginx: as
    root, nginx's workers (nobody) could not spill it to a temporary file: 500."""
    d, auth = deployment, deployment.home.auth
    photo = lfw / "lfw-deepfunneled" / "Tony_Blair" / "Tony_Blair_0010.jpg"
    buf = io.BytesIO()
    Image.open(photo).resize((500, 500)).save(buf, format="PNG")
    assert buf.tell() > 64 * 1024
    files = {"image": ("tony.png", buf.getvalue(), "image/png")}
    form = {"case": "K-REPLICA-2", "purpose": "replica test"}
    for _ in range(2):  # round-robin: one on each replica
        r = httpx.post(f"{d.lb}/api/v1/searches", headers=auth("inv2"), files=files, data=form,
                       timeout=120)  # fmt: skip
        assert r.status_code == 201, r.text[:300]


def test_an_ingest_job_on_one_replica_is_followed_on_the_other(
    deployment: Deployment, lfw: Path
) -> None:
    d, auth = deployment, deployment.home.auth
    photo = lfw / "lfw-deepfunneled" / "Hugo_Chavez" / "Hugo_Chavez_0020.jpg"
    r = httpx.post(
        f"{d.a}/api/v1/ingest-jobs",
        headers=auth("admin1"),
        files={"files": (photo.name, photo.read_bytes(), "image/jpeg")},
        data={"collection": "replicated", "subject": "Hugo_Chavez"},
        timeout=120,
    )
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    deadline = time.monotonic() + 120
    while True:
        seen = httpx.get(f"{d.b}/api/v1/ingest-jobs/{job_id}", headers=auth("admin1"))
        assert seen.status_code == 200, seen.text  # replica B knows A's job from the start
        if seen.json()["status"] in ("completed", "failed"):
            break
        assert time.monotonic() < deadline, seen.json()
        time.sleep(0.3)
    assert seen.json()["status"] == "completed" and seen.json()["faces_added"] == 1
    listed = httpx.get(f"{d.b}/api/v1/ingest-jobs", headers=auth("admin1")).json()["items"]
    assert job_id in [j["id"] for j in listed]
    missing = httpx.get(f"{d.b}/api/v1/ingest-jobs/0123456789abcdef", headers=auth("admin1"))
    assert missing.status_code == 404


def _hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no hidden field {name}"
    return match.group(1)


def test_a_browser_session_through_the_balancer(deployment: Deployment) -> None:
    """Log in through nginx (the form from one replica, the POST maybe to the other) and use
    the session on both: both replicas answer, and both know the session."""
    upstreams: set[str] = set()
    with httpx.Client(base_url=deployment.lb, timeout=60) as browser:
        page = browser.get("/login")
        token = _hidden(page.text, "login_token")
        r = browser.post(
            "/login",
            data={"name": "aud1", "password": PASSWORD, "login_token": token},
            follow_redirects=False,
        )
        assert r.status_code == 303, r.text
        for _ in range(6):
            page = browser.get("/audit")
            assert page.status_code == 200 and "aud1" in page.text
            upstreams.add(page.headers["x-upstream"])
    assert upstreams == {deployment.a.removeprefix("http://"), deployment.b.removeprefix("http://")}


def test_rate_limits_count_both_replicas_together(deployment: Deployment) -> None:
    """RATE_LIMIT requests a minute per user: 3/4 of it on each replica is fine alone, but
    together they pass the limit, and the replica that gets the request over it says 429."""
    d, auth = deployment, deployment.home.auth
    statuses = []
    started = time.monotonic()
    for i in range(RATE_LIMIT * 3 // 2):
        url = d.a if i % 2 else d.b
        statuses.append(httpx.get(f"{url}/api/v1/me", headers=auth("admin1")).status_code)
    refilled = math.ceil((time.monotonic() - started) * RATE_LIMIT / 60)
    assert set(statuses) == {200, 429}
    # one budget for both: the burst plus what refilled meanwhile, not a burst per replica
    assert statuses.count(200) <= RATE_LIMIT + refilled
