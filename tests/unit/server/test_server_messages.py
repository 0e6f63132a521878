"""What a person reads from the server (issue 7, items 15-17): errors name the uploaded file,
``/health`` reports storage, a search record flags a candidate that is the probe's own file,
and the pages show readable times. On the fake pipeline (tests/fakes.py)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.fakes import face_photo, no_face_photo, person_name

FORM = {"case": "K-15", "purpose": "messages"}


@pytest.fixture(scope="module")
def home(fake_homes: Any) -> Any:
    return fake_homes("messages")


@pytest.fixture(scope="module")
def url(home: Any, fake_server: Any) -> Iterator[str]:
    with fake_server(home.settings) as base:
        yield base


@pytest.fixture(scope="module")
def api(url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, timeout=60) as client:
        yield client


def sky_jpeg() -> bytes:
    return no_face_photo(fmt="JPEG")


def message(r: httpx.Response) -> str:
    return str(r.json()["error"]["message"])


def test_unreadable_upload_names_the_file(api: httpx.Client, home: Any) -> None:
    auth = home.auth("inv1")
    broken = b"\xff\xd8\xff" + b"x" * 200  # starts like a JPEG, is not one
    for route, field, form in [
        ("/api/v1/searches", "image", FORM),
        ("/api/v1/detect", "image", {}),
    ]:
        r = api.post(route, headers=auth, files={field: ("holiday.jpg", broken)}, data=form)
        assert r.status_code == 422, r.text
        assert "holiday.jpg" in message(r) and "BytesIO" not in r.text, r.text
    for data in [b"just some text", b"\x89PNG\r\n\x1a\n" + b"x" * 100]:  # 415, 422
        r = api.post(
            "/api/v1/searches", headers=auth, files={"image": ("notes.jpg", data)}, data=FORM
        )
        assert r.status_code in (415, 422) and message(r).startswith("notes.jpg: "), r.text
    # a path or markup in the client's file name is cut down to a plain name
    r = api.post(
        "/api/v1/searches",
        headers=auth,
        files={"image": ("../../etc/<b>x\r\n.jpg", broken)},
        data=FORM,
    )
    assert r.status_code == 422, r.text
    text = message(r)
    assert "etc/" not in text and "<b>" not in text and "\n" not in text and "x" in text, text


def test_no_face_names_the_uploaded_photo(api: httpx.Client, home: Any) -> None:
    auth = home.auth("inv1")
    r = api.post(
        "/api/v1/searches", headers=auth, files={"image": ("sky.jpg", sky_jpeg())}, data=FORM
    )
    assert r.status_code == 422, r.text
    assert message(r) == "sky.jpg: no face found", r.text
    face = face_photo(5, 0)
    r = api.post(
        "/api/v1/verifications",
        headers=auth,
        files={"a": ("person.png", face), "b": ("sky.jpg", sky_jpeg())},
        data=FORM,
    )
    assert r.status_code == 422, r.text
    assert message(r) == "sky.jpg: no face found", r.text
    # no usable client file name: "the uploaded photo"
    r = api.post("/api/v1/searches", headers=auth, files={"image": ("...", sky_jpeg())}, data=FORM)
    assert r.status_code == 422, r.text
    assert message(r) == "the uploaded photo: no face found", r.text


def test_search_record_flags_the_probe_own_file(
    api: httpx.Client, home: Any, fake_photos: Path
) -> None:
    own = fake_photos / person_name(1) / "shot_3.png"  # in the gallery
    r = api.post(
        "/api/v1/searches",
        headers=home.auth("inv1"),
        files={"image": (own.name, own.read_bytes(), "image/png")},
        data={**FORM, "top": "3"},
    )
    assert r.status_code == 201, r.text
    cands = r.json()["faces"][0]["hits"]
    assert cands[0]["same_file"] is True and cands[0]["subject"] == person_name(1)
    assert [c["same_file"] for c in cands[1:]] == [False] * (len(cands) - 1)
    again = api.get(f"/api/v1/searches/{r.json()['id']}", headers=home.auth("inv1")).json()
    assert again["faces"][0]["hits"][0]["same_file"] is True
    page = api.get(f"/searches/{r.json()['id']}", headers=home.auth("inv1"))
    assert page.status_code == 200 and page.text.count("same file as the probe") == 1


def test_pages_show_readable_times(api: httpx.Client, home: Any) -> None:
    r = api.post(
        "/api/v1/searches",
        headers=home.auth("inv1"),
        files={"image": ("p.png", face_photo(2, 0))},
        data=FORM,
    )
    assert r.status_code == 201, r.text
    raw_iso = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d")
    for path, who in [
        (f"/searches/{r.json()['id']}", "inv1"),
        ("/search", "inv1"),
        ("/gallery", "admin1"),
        ("/audit", "aud1"),
    ]:
        page = api.get(path, headers=home.auth(who))
        assert page.status_code == 200, (path, page.text[:300])
        shown = re.sub(r'<time datetime="[^"]*"', "<time", page.text)  # for local-time.js
        assert not raw_iso.search(shown), (path, raw_iso.findall(shown))
        assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d(:\d\d)? UTC", page.text), path


def test_health_is_public_and_reports_storage(api: httpx.Client) -> None:
    r = api.get("/health")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "ok"
    assert body["storage"]["writable"] is True and body["storage"]["free_bytes"] > 0


def _make_unwritable(home: Path) -> Any:
    """Make ``home`` unwritable even for root; returns the undo. Tests run as root in CI,
    where a chmod stops nobody: there the folder is made immutable (chattr +i) if the file
    system allows it, or else swapped for a plain file (an unmounted or vanished volume)."""
    if os.geteuid() != 0:
        mode = home.stat().st_mode
        home.chmod(0o500)
        return lambda: home.chmod(mode)
    if shutil.which("chattr"):
        done = subprocess.run(["chattr", "+i", str(home)], capture_output=True, check=False)
        if done.returncode == 0:
            try:
                (home / "probe-write").touch()
            except OSError:
                return lambda: subprocess.run(["chattr", "-i", str(home)], check=True)
            (home / "probe-write").unlink()
            subprocess.run(["chattr", "-i", str(home)], check=True)
    away = home.with_name(home.name + ".away")
    home.rename(away)
    home.write_text("not a folder")

    def undo() -> None:
        home.unlink()
        away.rename(home)

    return undo


def test_health_fails_when_the_home_is_not_writable(fake_homes: Any, fake_server: Any) -> None:
    h = fake_homes("health-readonly")
    with fake_server(h.settings) as base:
        undo = _make_unwritable(h.home)
        try:
            r = httpx.get(base + "/health", timeout=30)
        finally:
            undo()
        assert r.status_code == 503, r.text
        body = r.json()
        assert body["status"] != "ok" and body["storage"]["writable"] is False
        assert "not writable" in body["reason"] and "Traceback" not in r.text
        assert httpx.get(base + "/health", timeout=30).status_code == 200  # and recovers


def test_health_fails_when_the_disk_is_nearly_full(fake_homes: Any, fake_server: Any) -> None:
    h = fake_homes("health-full")
    free = shutil.disk_usage(h.home).free
    # as if the disk were full
    with fake_server(h.settings.replace(server_min_free_bytes=free * 4)) as base:
        r = httpx.get(base + "/health", timeout=30)
        assert r.status_code == 503, r.text
        body = r.json()
        assert body["storage"]["free_bytes"] < body["storage"]["min_free_bytes"]
        assert "free" in body["reason"]
