"""An upload job none of whose files could be unpacked: its audit entry (stop 26 left the
job without one: a user's upload, received and refused, left no trace in the trail)."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import pytest
from tests.fakes import FakePipeline, face_photo
from tests.jobs import job_finished
from tests.made_images import zip_of

from facesearch.accountability import AccountabilityStore, Action


def _upload(home: Any, files: list[tuple[str, bytes]]) -> tuple[dict[str, Any], list[Any]]:
    """Upload ``files`` as admin1 into the collection "up"; the finished job and the entries
    it names."""
    from fastapi.testclient import TestClient

    from facesearch.server import create_app

    with TestClient(create_app(home.settings, pipelines=FakePipeline)) as client:
        admin = home.auth("admin1")
        r = client.post(
            "/api/v1/ingest-jobs",
            headers=admin,
            files=[("files", f) for f in files],
            data={"collection": "up"},
        )
        assert r.status_code == 202, r.text
        job = job_finished(lambda path: client.get(path, headers=admin), r.json(), 60)
    with AccountabilityStore.open(home.home) as store:
        entries = [store.audit.get(seq) for seq in job["audit_seqs"]]
    return job, entries


def test_a_job_none_of_whose_files_unpack_has_its_entry(fake_homes: Any) -> None:
    home = fake_homes("unpacked-nothing")
    broken = b"PK\x03\x04" + b"\x00" * 200  # a zip's signature, then nothing a zip has
    job, entries = _upload(home, [("broken.zip", broken), ("also.tar.gz", b"\x1f\x8b junk")])
    assert job["status"] == "failed" and job["failed"] == 2, job
    assert len(entries) == 1, job  # before: no run, so no entry at all
    (entry,) = entries
    assert entry.action == Action.INGEST and entry.actor == "admin1"
    assert entry.payload["outcome"] == "nothing_ingested"
    assert (
        entry.payload["error"]
        == job["error"]
        == ("nothing ingested from the uploads: every file failed")
    )
    assert entry.payload["upload_job"] == job["id"]
    assert entry.payload["unpack_failed"] == 2
    assert entry.payload["images_added"] == entry.payload["faces_added"] == 0
    assert entry.payload["paths"] == []  # no folder was ingested; the files that failed:
    failures = {f["path"]: f["reason"] for f in entry.payload["unpack_failures"]}
    assert sorted(failures) == ["also.tar.gz", "broken.zip"] and all(failures.values())


def test_a_job_s_entries_count_the_files_that_did_not_unpack(fake_homes: Any) -> None:
    home = fake_homes("unpacked-some")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a.png", face_photo(3, 4))
    job, entries = _upload(home, [("good.zip", buf.getvalue()), ("broken.zip", b"PK\x03\x04")])
    assert job["status"] == "completed" and job["images_added"] == 1, job
    (entry,) = entries
    assert entry.payload["outcome"] == "ok" and entry.payload["unpack_failed"] == 1


def test_a_job_s_failures_name_no_server_folder(fake_homes: Any) -> None:
    """A junk member with the bytes of one that failed before it was listed as "the same
    bytes as /…/home/uploads/<job>/plain/000001-j0.jpg, which failed": the server's folders,
    where every other path of the job is shown below the job's folder."""
    home = fake_homes("unpacked-junk")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for n in range(3):
            zf.writestr(f"j{n}.jpg", b"x")
    job, _ = _upload(home, [("junk.zip", buf.getvalue())])
    assert job["status"] == "failed" and job["failed"] == 3, job
    reasons = [f["reason"] for f in job["failures"]]
    assert reasons[1].startswith("the same bytes as plain/000001-j0.jpg, which failed"), reasons
    assert not [r for r in reasons if str(home.home) in r or "uploads/" in r], reasons


def test_a_run_of_a_job_that_got_nothing_says_so_of_the_uploads(fake_homes: Any) -> None:
    """A job whose run got nothing logged "nothing ingested from the paths given" (paths no
    one gave: the job's own folders) where the job and the entry of a job with no run say
    "from the uploads": the trail read two ways for one thing."""
    home = fake_homes("unpacked-junk-run")
    job, entries = _upload(home, [("junk.zip", zip_of({"j.jpg": b"x"}))])
    (entry,) = entries
    assert entry.payload["outcome"] == "nothing_ingested" and entry.payload["run_id"], entry
    assert entry.payload["error"] == job["error"], (entry.payload, job)
    assert job["error"] == "nothing ingested from the uploads: every file failed"


def test_an_archive_is_not_unpacked_past_the_disk_s_free_margin(fake_homes: Any) -> None:
    """Members were written whatever the room left: 2 MB of members that compress 1000 to 1
    made 2 GB under uploads/ (a real server), so an upload could fill the disk the catalog
    and the audit trail write to. Here every byte is under the margin."""
    import shutil

    from fastapi.testclient import TestClient

    from facesearch.server import create_app

    home = fake_homes("unpacked-disk-full")
    free = shutil.disk_usage(home.home).free
    settings = home.settings.replace(server_min_free_bytes=free + (1 << 40))
    with TestClient(create_app(settings, pipelines=FakePipeline)) as client:
        admin = home.auth("admin1")
        r = client.post(
            "/api/v1/ingest-jobs",
            headers=admin,
            files={"files": ("big.zip", zip_of({"a.png": face_photo(1, 1), "b.png": b"x"}))},
        )
        assert r.status_code == 202, r.text
        job = job_finished(lambda path: client.get(path, headers=admin), r.json(), 60)
    assert job["status"] == "failed" and job["failed"] == 2 and job["images_total"] == 0, job
    reasons = {f["path"]: f["reason"] for f in job["failures"]}
    assert sorted(reasons) == ["a.png", "b.png"], reasons
    assert all("the disk would have less than" in why for why in reasons.values()), reasons
    with AccountabilityStore.open(home.home) as store:
        (entry,) = [store.audit.get(seq) for seq in job["audit_seqs"]]
    assert entry.payload["unpack_failed"] == 2


def test_a_job_that_fails_before_any_run_has_its_entry(
    fake_homes: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full disk while unpacking, or a refusal before the first run (the organisation's
    quota reached): the job ended failed ("internal error", or the refusal) and the trail
    had no entry of the upload."""
    from facesearch.errors import PermissionDeniedError
    from facesearch.server.jobs import Jobs

    home = fake_homes("failed-before-a-run")

    def full(*args: Any, **kwargs: Any) -> Any:
        raise OSError(28, "No space left on device")

    def refused(*args: Any, **kwargs: Any) -> Any:
        raise PermissionDeniedError("organisation default holds 10 faces: its quota is reached")

    photo = [("a.png", face_photo(3, 4))]
    with monkeypatch.context() as m:
        m.setattr(Jobs, "_unpack", full)
        job, (entry,) = _upload(home, photo)
    assert job["status"] == "failed" and job["error"] == "internal error; it was logged"
    assert entry.action == Action.INGEST and entry.payload["outcome"] == "error"
    assert entry.payload["error"] == "OSError: [Errno 28] No space left on device"
    assert entry.payload["upload_job"] == job["id"] and entry.payload["images_added"] == 0
    with monkeypatch.context() as m:
        m.setattr("facesearch.server.jobs.ingest_job", refused)
        job, (entry,) = _upload(home, photo)
    assert job["status"] == "failed" and "quota is reached" in job["error"]
    assert entry.payload["outcome"] == "forbidden", entry.payload  # the error's code
    assert "quota is reached" in entry.payload["error"]


def test_the_entry_of_a_job_without_a_run_names_the_collection_its_runs_would_have(
    fake_homes: Any,
) -> None:
    """An organisation other than default asks for "default" and gets its own collection,
    named after it: a run's entry said "north", the entry of a job that got nothing
    "default", the host's collection (found in review)."""
    from facesearch.accountability import local_actor
    from facesearch.app.uploads import log_nothing_unpacked

    home = fake_homes("job-entry-collection")
    with AccountabilityStore.open(home.home) as store:
        store.orgs.add("north", by=local_actor("tester"))
        north = local_actor("tester", org="north")
        for asked, named in (("default", "north"), ("north-photos", "north-photos")):
            entry = log_nothing_unpacked(
                store,
                north,
                "job1",
                asked,
                failures=[],
                unpack_failed=1,
                skipped=0,
                source="the uploads",
            )
            assert entry.payload["collection"] == named
        host = log_nothing_unpacked(
            store,
            local_actor("tester"),
            "job2",
            "default",
            failures=[],
            unpack_failed=1,
            skipped=0,
            source="the uploads",
        )
        assert host.payload["collection"] == "default"
