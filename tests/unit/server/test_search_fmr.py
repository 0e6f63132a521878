"""A search shown again later shows the false match rate it was shown with at search time,
not one recomputed with the calibration table the server has today (issue 8: views.py
claimed "exactly as it was" while it recomputed the FMR). On the fake pipeline."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import httpx
from tests.fakes import face_photo

from facesearch.core.calibration import load_table, save_table


def test_a_search_keeps_the_fmr_it_was_shown_with(
    fake_homes: Any, fake_server: Any, fake_pipeline: Any, tmp_path: Path
) -> None:
    home = fake_homes("search-fmr")
    form = {"case": "K-8", "purpose": "fmr as shown", "top": "3"}
    with fake_server(home.settings) as url, httpx.Client(base_url=url, timeout=60) as api:
        r = api.post(
            "/api/v1/searches",
            headers=home.auth("inv1"),
            files={"image": ("probe.png", face_photo(3, 0))},
            data=form,
        )
        assert r.status_code == 201, r.text
        first = r.json()
    seq = first["id"]
    shown = [h["fmr"] for f in first["faces"] for h in f["hits"]]
    assert shown

    table = load_table(fake_pipeline.model_id)
    newer = dataclasses.replace(
        table,
        source="a newer calibration",
        fmr=tuple(min(1.0, f * 10) for f in table.fmr),
        impostor_pairs=max(1, table.impostor_pairs // 100),
    )
    save_table(newer, tmp_path / "newer.json")
    later = home.settings.replace(calibration_file=tmp_path / "newer.json")
    with fake_server(later) as url, httpx.Client(base_url=url, timeout=60) as api:
        r = api.get(f"/api/v1/searches/{seq}", headers=home.auth("inv1"))
        assert r.status_code == 200, r.text
        again = r.json()
    hits = [h for f in again["faces"] for h in f["hits"]]
    assert [h["fmr"] for h in hits] == shown
    assert [newer.fmr_at(h["similarity"]) for h in hits] != shown  # the newer table differs


def test_the_pages_say_what_the_fmr_rests_on(
    fake_homes: Any, fake_server: Any, fake_pipeline: Any
) -> None:
    """Issue 12: the result page's candidate cards carry the short line, the candidate page
    the whole sentence (the calibration, its impostor pairs, the bound and the margin)."""
    import html

    home = fake_homes("search-basis")
    table = load_table(fake_pipeline.model_id)
    form = {"case": "K-9", "purpose": "basis shown", "top": "2"}
    with fake_server(home.settings) as url, httpx.Client(base_url=url, timeout=60) as api:
        inv = home.auth("inv1")
        r = api.post("/api/v1/searches", headers=inv, files={"image": ("p.png", face_photo(3, 0))},
                     data=form)  # fmt: skip
        assert r.status_code == 201, r.text
        found = r.json()
        assert found["calibration"] == table.basis and "conservative" in table.basis
        face_id = found["faces"][0]["hits"][0]["face_id"]
        result = api.get(f"/searches/{found['id']}", headers=inv)
        candidate = api.get(f"/searches/{found['id']}/candidates/{face_id}", headers=inv)
    assert result.status_code == 200 and candidate.status_code == 200
    assert html.escape(table.basis_short) in result.text
    assert html.escape(table.basis) in candidate.text
    assert f"{table.impostor_pairs:,} impostor pairs" in candidate.text


def test_a_search_s_answer_is_what_reading_it_back_gives(
    fake_homes: Any, fake_server: Any, tmp_path: Path
) -> None:
    """The server answers a search from the entry it just wrote and the faces it found
    (``app.search_answer``), without reading them back: the answer must be the very object
    ``GET /searches/{id}`` gives, a candidate's subject and image included."""
    home = fake_homes("search-answer")
    form = {"case": "K-9", "purpose": "answer as read back", "top": "5"}
    with fake_server(home.settings) as url, httpx.Client(base_url=url, timeout=60) as api:
        r = api.post(
            "/api/v1/searches",
            headers=home.auth("inv1"),
            files={"image": ("probe.png", face_photo(2, 0, faces=2))},
            data=form,
        )
        assert r.status_code == 201, r.text
        answer = r.json()
        r = api.get(f"/api/v1/searches/{answer['id']}", headers=home.auth("inv1"))
        assert r.status_code == 200, r.text
    assert len(answer["faces"]) == 2 and all(f["hits"] for f in answer["faces"])
    assert answer["faces"][0]["hits"][0]["subject"]
    assert answer == r.json()
