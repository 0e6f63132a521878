"""A new collection's name is part of its addresses (``/api/v1/collections/NAME``): one that
could not be reached is refused where the upload is made; one made before keeps working."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from tests.fakes import FakePipeline, face_photo
from tests.jobs import job_finished

from facesearch.gallery.catalog import Catalog
from facesearch.server import create_app


def test_an_upload_into_a_new_unreachable_collection_is_refused_an_old_one_works(
    fake_homes: Any,
) -> None:
    """POST /api/v1/ingest-jobs accepted collection "a/b", "../../etc" and "<b>x</b>"; then
    GET /api/v1/collections/a%2Fb and its shares answered 404."""
    home = fake_homes("collection-names")
    with Catalog.open(home.home / "catalog.sqlite") as catalog:
        catalog.ensure_collection("default")
        with catalog._writing() as conn:  # named before the rule
            conn.execute(
                "INSERT INTO collections (name, created) VALUES (?, ?)",
                ("old photos", "2025-01-01T00:00:00"),
            )
    with TestClient(create_app(home.settings, pipelines=FakePipeline)) as client:
        admin = home.auth("admin1")
        for name in ("a/b", "../../etc", "<b>x</b>", "new photos"):
            r = client.post(
                "/api/v1/ingest-jobs",
                headers=admin,
                files={"files": ("p.png", face_photo(3, 1))},
                data={"collection": name},
            )
            assert r.status_code == 422, (name, r.text)
            error = r.json()["error"]
            assert error["code"] == "bad_input"
            assert "letters, digits and . _ - @" in error["message"], error
        r = client.post(
            "/api/v1/ingest-jobs",
            headers=admin,
            files={"files": ("p.png", face_photo(3, 1))},
            data={"collection": "old photos"},
        )
        assert r.status_code == 202, r.text
        job = job_finished(lambda path: client.get(path, headers=admin), r.json(), 60)
        assert job["status"] == "completed" and job["images_added"] == 1, job
        listed = client.get("/api/v1/collections", headers=admin).json()["items"]
        assert sorted(c["name"] for c in listed) == ["default", "old photos"]
