"""``POST /api/v1/erasures`` answers with the vector store's part of the erasure, and
``GET /api/v1/erasure/status`` (admins) lists what the store has yet to remove from its disk,
unlogged; with FAISS files and with Milvus Lite. On the fake pipeline (tests/fakes.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.fakes import FakePipeline
from tests.homes import PASSWORD

from facesearch.accountability import AccountabilityStore, local_actor
from facesearch.server import create_app


def entries(home: Path) -> int:
    with AccountabilityStore.open(home) as s:
        return len(s.audit.entries(limit=None))


def erase_and_read_status(home: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    with TestClient(create_app(home.settings, pipelines=FakePipeline)) as c:
        admin = home.auth("admin1")
        r = c.post("/api/v1/erasures", data={"reason": "DSR-7", "face_id": "1"}, headers=admin)
        assert r.status_code == 201, r.text
        erased = r.json()
        before = entries(home.home)
        assert c.get("/api/v1/erasure/status", headers=home.auth("inv1")).status_code == 403
        r = c.get("/api/v1/erasure/status", headers=admin)
        assert r.status_code == 200, r.text
        assert entries(home.home) == before  # not an audit entry: no personal data
        return erased, r.json()


def test_faiss_files_leave_nothing_pending(fake_homes: Any) -> None:
    erased, status = erase_and_read_status(fake_homes("erasure-routes-faiss"))
    # the images by file name, as every API view shows them: the answer named the full path
    # on the server (/work/shared/data/lfw/.../Colin_Powell_0152.jpg)
    assert erased["images"] and all("/" not in name for name in erased["images"])
    assert erased["vector_store"]["store"] == "files"
    assert erased["vector_store"]["vectors_deleted"] == 1
    assert status["store"] == "files" and status["pending"] == [] and status["faces_pending"] == 0


def test_milvus_lite_erasure_is_proved_and_pending(fake_homes: Any, tmp_path: Path) -> None:
    pytest.importorskip("pymilvus", reason="Milvus needs the distributed extra")
    home = fake_homes("erasure-routes-milvus", vectors_url=str(tmp_path / "vectors.db"))
    erased, status = erase_and_read_status(home)
    part = erased["vector_store"]
    assert part["store"] == "milvus-lite" and part["proved_absent"] is True
    assert part["vectors_deleted"] == 1 and part["left_to_server"]
    assert status["store"] == "milvus-lite" and status["faces_pending"] == 1
    assert status["pending"][0]["compaction_state"] == "automatic"


def test_an_organisation_s_admin_sees_only_its_own_erasures_pending(
    fake_homes: Any, tmp_path: Path
) -> None:
    """Another organisation's admin saw every organisation's pending erasures (their counts,
    times and compaction jobs): now only those of collections their organisation owns."""
    pytest.importorskip("pymilvus", reason="Milvus needs the distributed extra")
    home = fake_homes("erasure-routes-orgs", vectors_url=str(tmp_path / "vectors.db"))
    me = local_actor("tester")
    with AccountabilityStore.open(home.home) as store:
        store.orgs.add("customs", by=me)
        store.accounts.add_user("cadmin", "admin", PASSWORD, by=me, org="customs")
        customs = {"Authorization": f"Bearer {store.accounts.issue_token('cadmin', by=me)}"}
    erased, status = erase_and_read_status(home)  # admin1, of the default organisation
    assert erased["vector_store"]["vectors_deleted"] == 1 and status["faces_pending"] == 1
    with TestClient(create_app(home.settings, pipelines=FakePipeline)) as c:
        r = c.get("/api/v1/erasure/status", headers=customs)
        assert r.status_code == 200, r.text
        assert r.json()["faces_pending"] == 0 and r.json()["pending"] == []
        assert c.get("/api/v1/erasure/status", headers=home.auth("admin1")).json() == status
    assert status["pending"][0]["collections"]  # what the scoping reads
