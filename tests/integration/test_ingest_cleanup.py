"""Ingest of archives (issue 7, item 14): nothing is left in ``uploads/`` but the files of the
images added, whether the job completed, failed or died with its server; every archive member
skipped on purpose is reported with its reason, in the job (API and page) and in the CLI."""

from __future__ import annotations

import fcntl
import io
import os
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from facesearch.errors import CatalogError
from facesearch.server import create_app

pytestmark = pytest.mark.lfw

JUNK = 40


@pytest.fixture(scope="module")
def home(server_home: Any) -> Any:
    return server_home("cleanup", server_rate_limit=0)


@pytest.fixture(scope="module")
def client(home: Any) -> Iterator[TestClient]:
    with TestClient(create_app(home.settings), raise_server_exceptions=False) as c:
        yield c


def tar_member(tf: tarfile.TarFile, name: str, data: bytes = b"", **kind: Any) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for key, value in kind.items():
        setattr(info, key, value)
    tf.addfile(info, io.BytesIO(data) if data else None)


def archive(probe_photo: Any, numbers: tuple[int, int] = (6, 7)) -> bytes:
    """Two new faces, a duplicate of the gallery, junk, an image without a face, and members
    that must be skipped: links, devices, a pipe, nested archives, a text file."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for n in numbers:
            tar_member(tf, f"Colin_Powell/{n}.jpg", probe_photo("Colin_Powell", n).read_bytes())
        tar_member(tf, "Colin_Powell/dup.jpg", probe_photo("Colin_Powell", 1).read_bytes())
        for i in range(JUNK):
            tar_member(tf, f"junk/{i:03d}.jpg", os.urandom(2000))
        tar_member(tf, "grey/blank.png", _grey_png())
        tar_member(tf, "links/sym.jpg", type=tarfile.SYMTYPE, linkname="/etc/passwd")
        tar_member(tf, "links/hard.jpg", type=tarfile.LNKTYPE, linkname="Colin_Powell/6.jpg")
        tar_member(tf, "dev/tty.jpg", type=tarfile.CHRTYPE)
        tar_member(tf, "dev/pipe.jpg", type=tarfile.FIFOTYPE)
        tar_member(tf, "nested/more.zip", _zip({"x.jpg": b"x"}))
        tar_member(tf, "nested/more.tar.gz", b"\x1f\x8b\x08\x00")
        tar_member(tf, "notes.txt", b"hello")
    return buf.getvalue()


def _grey_png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (300, 300), (128, 128, 128)).save(out, format="PNG")
    return out.getvalue()


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return out.getvalue()


def upload(client: TestClient, home: Any, data: bytes, name: str = "batch.tar.gz") -> Any:
    r = client.post(
        "/api/v1/ingest-jobs",
        headers=home.auth("admin1"),
        files={"files": (name, data)},
        data={"label_from_dir": "true"},
    )
    assert r.status_code == 202, r.text
    return r.json()


def finished(client: TestClient, home: Any, job: dict[str, Any]) -> dict[str, Any]:
    deadline = time.monotonic() + 180
    while job["status"] not in ("completed", "failed"):
        assert time.monotonic() < deadline, job
        time.sleep(0.2)
        job = client.get(f"/api/v1/ingest-jobs/{job['id']}", headers=home.auth("admin1")).json()
    return job


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if not p.is_dir())


def test_only_the_images_added_stay_and_skipped_members_are_reported(
    client: TestClient, home: Any, probe_photo: Any
) -> None:
    job = finished(client, home, upload(client, home, archive(probe_photo)))
    assert job["status"] == "completed", job
    assert job["images_added"] == 2 and job["duplicates"] == 1
    assert job["failed"] == JUNK + 1  # the junk and the image without a face
    folder = home.home / "uploads" / job["id"]
    kept = files_under(folder)
    assert len(kept) == 2 and all(k.startswith("labelled/Colin_Powell/") for k in kept), kept
    assert job["files_removed"] == JUNK + 2  # junk, the faceless image, the duplicate

    reasons = {s["path"]: s["reason"] for s in job["skipped"]}
    assert job["skipped_count"] == len(reasons) == 7
    assert "symbolic link" in reasons["links/sym.jpg"]
    assert "hard link" in reasons["links/hard.jpg"]
    assert "device" in reasons["dev/tty.jpg"] and "pipe" in reasons["dev/pipe.jpg"]
    assert "archive inside" in reasons["nested/more.zip"]
    assert "archive inside" in reasons["nested/more.tar.gz"]
    assert "not an image" in reasons["notes.txt"]
    page = client.get(
        f"/ingest/{job['id']}", headers={**home.auth("admin1"), "Accept": "text/html"}
    )
    assert page.status_code == 200
    assert "links/sym.jpg" in page.text and "symbolic link" in page.text
    assert "nested/more.zip" in page.text and "archive inside" in page.text


def test_a_job_with_nothing_to_keep_leaves_nothing(client: TestClient, home: Any) -> None:
    junk = _zip({f"j/{i}.jpg": os.urandom(3000) for i in range(JUNK)})
    job = finished(client, home, upload(client, home, junk, "junk.zip"))
    assert job["status"] == "completed" and job["images_added"] == 0
    assert job["failed"] == JUNK and job["files_removed"] == JUNK
    assert not (home.home / "uploads" / job["id"]).exists()


def test_a_failed_job_is_cleaned_up(
    client: TestClient, home: Any, probe_photo: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import facesearch.server.jobs as jobs_module

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise CatalogError("the disk went away")

    monkeypatch.setattr(jobs_module, "audited_ingest", broken)
    job = finished(client, home, upload(client, home, archive(probe_photo)))
    assert job["status"] == "failed", job
    assert not (home.home / "uploads" / job["id"]).exists()


def test_leftovers_of_dead_jobs_are_removed_at_start(
    client: TestClient, home: Any, probe_photo: Any
) -> None:
    job = finished(client, home, upload(client, home, archive(probe_photo, (8, 9))))
    kept_folder = home.home / "uploads" / job["id"]
    kept = files_under(kept_folder)
    (kept_folder / "plain").mkdir()
    (kept_folder / "plain" / "000099-junk.jpg").write_bytes(b"junk")  # as if killed mid-job
    dead = home.home / "uploads" / "0123456789abcdef"  # a job whose server died
    (dead / "incoming").mkdir(parents=True)
    (dead / "incoming" / "000001-big.zip").write_bytes(os.urandom(10_000))
    (dead / "plain").mkdir()
    (dead / "plain" / "000001-a.jpg").write_bytes(b"a")
    alive = home.home / "uploads" / "fedcba9876543210"  # a job another server is running
    (alive / "incoming").mkdir(parents=True)
    (alive / "incoming" / "000001-x.zip").write_bytes(b"x")
    lock = os.open(alive / ".job.lock", os.O_RDWR | os.O_CREAT, 0o600)
    other = home.home / "uploads" / "not-a-job"
    other.mkdir()
    (other / "keep.txt").write_bytes(b"keep")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with TestClient(create_app(home.settings), raise_server_exceptions=False) as again:
            assert again.get("/health").status_code in (200, 503)
        assert files_under(kept_folder) == kept  # the images added stay
        assert not dead.exists()
        assert files_under(alive) == [".job.lock", "incoming/000001-x.zip"]
        assert files_under(other) == ["keep.txt"]
    finally:
        os.close(lock)


def test_cli_ingest_reports_skipped_members(
    settings: Any, tmp_path: Path, probe_photo: Any
) -> None:
    path = tmp_path / "batch.tar"
    path.write_bytes(b"")
    with tarfile.open(path, "w") as tf:
        tar_member(tf, "Colin_Powell/6.jpg", probe_photo("Colin_Powell", 6).read_bytes())
        tar_member(tf, "links/sym.jpg", type=tarfile.SYMTYPE, linkname="/etc/passwd")
        tar_member(tf, "nested/more.zip", _zip({"x.jpg": b"x"}))
    env = {
        **os.environ,
        "FACESEARCH_CACHE_DIR": str(settings.cache_dir),
        "FACESEARCH_HOME": str(tmp_path / "home"),
    }
    r = subprocess.run(
        [sys.executable, "-m", "facesearch", "ingest", str(path), "--label-from-dir"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    assert "1 added" in r.stdout
    lines = [line for line in r.stderr.splitlines() if "skipped:" in line]
    assert len(lines) == 2, r.stderr
    assert "links/sym.jpg" in lines[0] and "symbolic link" in lines[0]
    assert "nested/more.zip" in lines[1] and "archive inside" in lines[1]
