"""The audit page shows the newest entries first: an auditor reaching the last hour of a
busy trail clicked "Later" page after page (oldest first was the only order). The API keeps
oldest first and takes ``order=newest``."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient
from tests.fakes import FakePipeline, face_photo

from facesearch.server import create_app

HTML = {"Accept": "text/html"}


def _seqs(page: str) -> list[int]:
    return [int(n) for n in re.findall(r'<tr class="action-[a-z_]+"><td>(\d+)</td>', page)]


def test_the_audit_page_shows_the_newest_entries_first(fake_homes: Any) -> None:
    home = fake_homes("audit-order")
    with TestClient(create_app(home.settings, pipelines=FakePipeline)) as client:
        for n in range(3):
            r = client.post(
                "/api/v1/searches",
                headers=home.auth("inv1"),
                files={"image": ("p.png", face_photo(1, n), "image/png")},
                data={"case": "K-order", "purpose": f"order {n}"},
            )
            assert r.status_code == 201, r.text
        auditor = home.auth("aud1") | HTML
        newest = _seqs(client.get("/audit", headers=auditor).text)
        oldest = _seqs(client.get("/audit", headers=auditor, params={"order": "oldest"}).text)
        head = client.get("/api/v1/audit/head", headers=home.auth("aud1")).json()["seq"]
        assert len(newest) >= 3 and newest == sorted(newest, reverse=True), newest
        assert newest[0] <= head and newest[0] >= head - 1  # the last ones, at most one since
        assert oldest == sorted(oldest) and oldest[0] == 1, oldest
        api = client.get("/api/v1/audit", headers=home.auth("aud1"), params={"order": "newest"})
        items = [e["seq"] for e in api.json()["items"]]
        assert items == sorted(items, reverse=True) and items[0] >= newest[0]
        plain = client.get("/api/v1/audit", headers=home.auth("aud1")).json()["items"]
        assert [e["seq"] for e in plain] == sorted(e["seq"] for e in plain)
        bad = client.get("/api/v1/audit", headers=home.auth("aud1"), params={"order": "x"})
        assert bad.status_code == 422


def test_a_false_match_rate_below_the_calibration_is_refused_as_input(fake_homes: Any) -> None:
    """A search or an erasure asking for a false match rate finer than the calibration
    resolves (max_fmr=1e-12) answered 500 "the server is misconfigured" and logged an error:
    it is the request that is wrong (422, saying the finest rate there is)."""
    home = fake_homes("fmr-too-fine")
    with TestClient(create_app(home.settings, pipelines=FakePipeline)) as client:
        photo = {"image": ("p.png", face_photo(1, 0), "image/png")}
        data = {"case": "K-fine", "purpose": "too fine", "max_fmr": "1e-12"}
        r = client.post("/api/v1/searches", headers=home.auth("inv1"), files=photo, data=data)
        assert r.status_code == 422, r.text
        assert "below what this calibration can resolve" in r.json()["error"]["message"]
        r = client.post(
            "/api/v1/erasures",
            headers=home.auth("admin1"),
            data={"reason": "r", "max_fmr": "1e-12"},
            files={"like": ("p.png", face_photo(1, 0), "image/png")},
        )
        assert r.status_code == 422, r.text
