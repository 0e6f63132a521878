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


def _links(page: str) -> dict[str, str]:
    found = re.findall(r'<a class="button secondary"[^>]* href="\?([^"]+)">(Earlier|Later)<', page)
    return {k.lower(): v.replace("&amp;", "&") for v, k in found}


def test_new_entries_between_two_audit_pages_neither_repeat_nor_skip_a_row(
    fake_homes: Any,
) -> None:
    """The audit page paged by offset: every read of personal data appends an entry while an
    auditor pages, so "Earlier" showed the last row of the page before again. It pages by
    seq: the rows of "Earlier" are those right below the last one shown, whatever was added;
    "Later" leads back to the rows above; an old ``page=N`` link still opens, one with a
    cursor as well is refused (422), as is a cursor that is not a seq."""
    home = fake_homes("audit-cursor")
    with TestClient(create_app(home.settings, pipelines=FakePipeline)) as client:
        auditor = home.auth("aud1") | HTML

        def read_a_face() -> None:  # a read of personal data: one read entry
            r = client.get("/api/v1/faces/1", headers=home.auth("inv1"), params={"case": "K-1"})
            assert r.status_code == 200, r.text

        for _ in range(60):  # more than a page of read entries
            read_a_face()
        every = [
            e["seq"]
            for e in client.get(
                "/api/v1/audit", headers=home.auth("aud1"), params={"limit": 1000}
            ).json()["items"]
        ]
        first = client.get("/audit", headers=auditor, params={"action": "read"}).text
        shown = _seqs(first)
        assert len(shown) == 50 and "later" not in _links(first), _links(first)
        for _ in range(3):  # new entries, of the filtered action, between the two views
            read_a_face()
        second = client.get("/audit?" + _links(first)["earlier"], headers=auditor).text
        rows = _seqs(second)
        assert rows and not set(rows) & set(shown), (shown, rows)
        below = [s for s in reversed(every) if s < shown[-1]]
        assert rows == below[: len(rows)], (rows, below)  # nothing skipped
        back = client.get("/audit?" + _links(second)["later"], headers=auditor).text
        assert _seqs(back)[-1] == shown[-1] and "action=read" in _links(second)["later"]
        oldest = client.get("/audit", headers=auditor, params={"order": "oldest"}).text
        on = client.get("/audit?" + _links(oldest)["later"], headers=auditor).text
        assert _seqs(on)[0] == _seqs(oldest)[-1] + 1
        old = client.get("/audit?page=2", headers=auditor)  # an old link: the offset's page
        assert old.status_code == 200 and len(_seqs(old.text)) > 0
        assert client.get("/audit?page=2&before=9", headers=auditor).status_code == 422
        assert client.get("/audit?before=x", headers=auditor).status_code == 422
        api = client.get(
            "/api/v1/audit", headers=home.auth("aud1"), params={"order": "newest", "limit": 5}
        ).json()
        read_a_face()
        more = client.get(
            "/api/v1/audit",
            headers=home.auth("aud1"),
            params={"order": "newest", "limit": 5, "before": api["earlier"]},
        ).json()
        assert [e["seq"] for e in more["items"]] == [api["earlier"] - k for k in range(1, 6)]


def test_a_cursor_page_offers_no_way_to_an_empty_page_and_refuses_two_positions(
    fake_homes: Any,
) -> None:
    """Past a cursor, "Earlier" (or "Later") was offered whether or not any entry lay that
    way, leading to an empty page; the API took before and after together, and a cursor
    with an offset, and answered with a page that skipped entries (``before=5&offset=2``)."""
    home = fake_homes("audit-cursor-edges")
    with TestClient(create_app(home.settings, pipelines=FakePipeline)) as client:
        api = home.auth("aud1")
        every = [
            e["seq"]
            for e in client.get("/api/v1/audit", headers=api, params={"limit": 1000}).json()[
                "items"
            ]
        ]
        first, second = every[0], every[1]
        page = client.get(
            "/api/v1/audit", headers=api, params={"order": "newest", "after": first - 1}
        ).json()
        assert page["earlier"] is None, page  # nothing older than the trail's first entry
        page = client.get("/api/v1/audit", headers=api, params={"before": second}).json()
        assert [e["seq"] for e in page["items"]] == [first] and page["earlier"] is None
        assert page["later"] == first  # newer entries lie past the cursor
        for params in ({"before": 9, "after": 2}, {"before": 9, "offset": 2}):
            r = client.get("/api/v1/audit", headers=api, params=params)
            assert r.status_code == 422, (params, r.text)
