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
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.jobs import job_finished
from tests.made_images import zip_of

from facesearch.accountability import AccountabilityStore
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
        tar_member(tf, "nested/more.zip", zip_of({"x.jpg": b"x"}))
        tar_member(tf, "nested/more.tar.gz", b"\x1f\x8b\x08\x00")
        tar_member(tf, "notes.txt", b"hello")
    return buf.getvalue()


def _grey_png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (300, 300), (128, 128, 128)).save(out, format="PNG")
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
    return job_finished(lambda path: client.get(path, headers=home.auth("admin1")), job)


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
    junk = zip_of({f"j/{i}.jpg": os.urandom(3000) for i in range(JUNK)})
    job = finished(client, home, upload(client, home, junk, "junk.zip"))
    # nothing came of it: failed, as the CLI exits 2, and its run's entry says so
    why = "every file failed"
    assert job["status"] == "failed" and job["error"] == f"nothing ingested from the uploads: {why}"
    assert job["images_added"] == 0
    assert job["failed"] == JUNK and job["files_removed"] == JUNK
    assert not (home.home / "uploads" / job["id"]).exists()
    with AccountabilityStore.open(home.home) as store:
        (ended,) = [store.audit.get(seq) for seq in job["audit_seqs"]]
    assert ended.payload["outcome"] == "nothing_ingested" and why in ended.payload["error"]


def test_a_failed_job_is_cleaned_up(
    client: TestClient, home: Any, probe_photo: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import facesearch.server.jobs as jobs_module

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise CatalogError("the disk went away")

    monkeypatch.setattr(jobs_module, "ingest_job", broken)
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
    (kept_folder / "plain" / "000099-junk.jpg").write_bytes(b"junk")  # as if killed mid-job:
    (kept_folder / ".job.lock").touch()  # a job that did not end still has its lock file
    dead = home.home / "uploads" / "0123456789abcdef"  # a job whose server died
    (dead / "incoming").mkdir(parents=True)
    (dead / ".job.lock").touch()
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
        assert files_under(kept_folder) == kept  # the images added stay, the junk went
        assert not dead.exists()
        assert files_under(alive) == [".job.lock", "incoming/000001-x.zip"]
        assert files_under(other) == ["keep.txt"]
    finally:
        os.close(lock)


def test_a_killed_job_keeps_an_image_under_another_name_by_its_sha256(
    client: TestClient, home: Any, probe_photo: Any
) -> None:
    """A file whose path no catalog source ends in is still kept when its bytes are those of
    an image of that job; a copy of an image that came from elsewhere is not."""
    job = finished(client, home, upload(client, home, archive(probe_photo, (11, 12))))
    folder = home.home / "uploads" / job["id"]
    first, second = files_under(folder)
    assert first.startswith("labelled/Colin_Powell/"), first
    (folder / first).rename(folder / "labelled" / "Colin_Powell" / "renamed.jpg")
    (folder / "plain").mkdir()
    gallery_copy = folder / "plain" / "000098-dup.jpg"  # in the catalog, from the gallery
    gallery_copy.write_bytes(probe_photo("Colin_Powell", 1).read_bytes())
    (folder / "plain" / "000099-junk.jpg").write_bytes(b"junk")
    (folder / ".job.lock").touch()  # as if its server was killed mid-job
    with TestClient(create_app(home.settings), raise_server_exceptions=False) as again:
        assert again.get("/health").status_code in (200, 503)
    assert files_under(folder) == sorted(["labelled/Colin_Powell/renamed.jpg", second])


def test_cli_ingest_reports_skipped_members(
    settings: Any, tmp_path: Path, probe_photo: Any
) -> None:
    path = tmp_path / "batch.tar"
    path.write_bytes(b"")
    with tarfile.open(path, "w") as tf:
        tar_member(tf, "Colin_Powell/6.jpg", probe_photo("Colin_Powell", 6).read_bytes())
        tar_member(tf, "links/sym.jpg", type=tarfile.SYMTYPE, linkname="/etc/passwd")
        tar_member(tf, "nested/more.zip", zip_of({"x.jpg": b"x"}))
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


def test_a_moved_home_keeps_its_uploads_and_shows_them(
    server_home: Any, serve: Any, probe_photo: Any, tmp_path: Path
) -> None:
    """Moving (or restoring) a home keeps every uploaded photo: the catalog still names the old
    path, the files are matched by their place under ``uploads/`` (or their sha256), and the
    images are still served from the new place. A dead job's junk still goes."""
    import httpx

    from facesearch.accountability import default_anchor_file

    home = server_home("moved", server_rate_limit=0)
    person = "Jennifer_Capriati"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for n in (1, 2, 3):
            zf.writestr(f"{person}/{n}.jpg", probe_photo(person, n).read_bytes())
    admin = home.auth("admin1")
    with serve(home.settings) as url, httpx.Client(base_url=url, timeout=60) as api:
        r = api.post(
            "/api/v1/ingest-jobs",
            headers=admin,
            files={"files": ("batch.zip", buf.getvalue())},
            data={"collection": "uploads", "label_from_dir": "true"},
        )
        assert r.status_code == 202, r.text
        job = job_finished(lambda path: api.get(path, headers=admin), r.json())
    assert job["status"] == "completed" and job["images_added"] == 3, job
    uploads = home.home / "uploads"
    photos = {
        str(p.relative_to(uploads)): p.read_bytes() for p in uploads.rglob("*.jpg") if p.is_file()
    }
    assert len(photos) == 3, photos
    dead = uploads / "0123456789abcdef"  # a job of this home whose server was killed
    (dead / "plain").mkdir(parents=True)
    (dead / "plain" / "000001-junk.jpg").write_bytes(os.urandom(3000))
    (dead / ".job.lock").touch()
    stranger = uploads / "00000000000000aa"  # looks like a job, but no job made it: left alone
    stranger.mkdir()
    (stranger / "mine.jpg").write_bytes(b"mine")

    moved = tmp_path / "elsewhere" / "home2"
    moved.parent.mkdir()
    anchor = default_anchor_file(home.home)  # kept outside the home: moved along with it
    if anchor.exists():
        default_anchor_file(moved).parent.mkdir(parents=True, exist_ok=True)
        anchor.replace(default_anchor_file(moved))
    home.home.rename(moved)
    settings = home.settings.replace(home=moved)
    with serve(settings) as url, httpx.Client(base_url=url, timeout=60) as api:
        now = moved / "uploads"
        for rel, data in photos.items():
            assert (now / rel).is_file(), rel  # every uploaded photo is still there
            assert (now / rel).read_bytes() == data
        assert not (now / dead.name).exists()  # the dead job's junk went
        assert (now / stranger.name / "mine.jpg").read_bytes() == b"mine"

        form = {"case": "K-2025-001", "purpose": "moved home", "collections": "uploads"}
        probe = probe_photo(person, 10)
        r = api.post(
            "/api/v1/searches",
            headers=home.auth("inv1"),
            files={"image": (probe.name, probe.read_bytes(), "image/jpeg")},
            data=form,
        )
        assert r.status_code == 201, r.text
        cands = [c for f in r.json()["faces"] for c in f["hits"]]
        top = max(cands, key=lambda c: c["similarity"])
        assert top["subject"] == person
        image = api.get(top["links"]["image"], headers=home.auth("inv1"))
        assert image.status_code == 200, image.text
        assert image.content in photos.values()  # the bytes of the uploaded photo
        crop = api.get(top["links"]["crop"], headers=home.auth("inv1"))
        assert crop.status_code == 200 and crop.headers["content-type"] == "image/jpeg"

        # erasing the person in the moved home deletes the uploaded copies where they are now
        r = api.post(
            "/api/v1/erasures",
            headers=home.auth("admin1"),
            data={"subject": person, "reason": "erasure after a move"},
        )
        assert r.status_code == 201, r.text
        assert r.json()["uploaded_files_deleted"] == len(photos), r.json()
        for rel in photos:
            assert not (now / rel).exists(), rel


def test_unusable_collection_and_subject_names_are_refused_at_once(
    client: TestClient, home: Any, probe_photo: Any
) -> None:
    """Third attack pass: a 10 kB collection name, or one with CR/LF, made a collection that
    broke the Gallery table and the CLI's output; one with NUL failed only when the job ran."""
    photo = probe_photo("Colin_Powell", 2).read_bytes()
    for field, value in (
        ("collection", "z" * 10_000),
        ("collection", "bad\r\ncol"),
        ("collection", "a\x00b"),
        ("subject", "x\x1b[31m"),
    ):
        r = client.post(
            "/api/v1/ingest-jobs",
            headers=home.auth("admin1"),
            files={"files": ("p.jpg", photo, "image/jpeg")},
            data={field: value},
        )
        assert r.status_code == 422, (field, value[:20], r.status_code, r.text[:200])
        assert r.json()["error"]["code"] == "bad_input"
    listed = client.get("/api/v1/collections", headers=home.auth("admin1")).json()["items"]
    names = [c["name"] for c in listed]
    assert all(len(n) < 256 and "\n" not in n for n in names), names
