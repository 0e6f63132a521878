"""The counts of the gallery page: the ingest runs' files that failed apart from those the
erasure blocklist skipped, and an organisation's own subjects and ingest runs."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.fakes import FakePipeline, write_photo
from tests.homes import PASSWORD

from facesearch.accountability import AccountabilityStore, local_actor
from facesearch.cli import main
from facesearch.server import create_app

HTML = {"Accept": "text/html"}


def _cli(capsys: pytest.CaptureFixture[str], home: Path, *args: str) -> str:
    code = main(["--home", str(home), *args], pipelines=FakePipeline)
    out, err = capsys.readouterr()
    assert code in (0, 2), err  # 2: an ingest that added nothing
    return out


ROWS = {"subjects": "Subjects (labels)", "ingest-runs": "Ingest runs"}


def _shown(page: str, key: str) -> str:
    """The value of the row ``key`` of the page's counts (AssertionError: no such row)."""
    found = re.search(rf"<dt>{re.escape(ROWS[key])}</dt><dd[^>]*>([^<]*)</dd>", page)
    assert found, f"no {ROWS[key]} row"
    return found.group(1)


def test_the_gallery_page_tells_blocklisted_photos_from_failed_ones(
    fake_homes: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``facesearch ingest`` says "0 failed, 2 blocklisted" after ``forget --like``; the
    gallery page counted the two photos the erasure blocklist skipped as "2 files failed",
    and the run's entry on the audit page as "3 failed"."""
    home = fake_homes("gallery-blocklisted")
    photos = tmp_path / "photos"
    for shot in (1, 2):
        write_photo(photos, 3, shot)
    (photos / "broken.jpg").write_bytes(b"not an image")
    like = write_photo(tmp_path / "p", 3, 9)
    _cli(capsys, home.home, "forget", "--like", str(like), "--reason", "DSR-1")
    out = _cli(capsys, home.home, "ingest", str(photos), "--collection", "later")
    assert "1 failed, 2 blocklisted" in out, out
    with TestClient(create_app(home.settings, pipelines=FakePipeline)) as client:
        page = client.get("/gallery", headers=home.auth("admin1") | HTML).text
        stats = client.get("/api/v1/stats", headers=home.auth("admin1")).json()
        trail = client.get("/audit?action=ingest", headers=home.auth("aud1") | HTML).text
    assert _shown(page, "ingest-runs").endswith(
        "(1 file failed, 2 skipped by the erasure blocklist)"
    ), _shown(page, "ingest-runs")
    assert (stats["ingest_failures"], stats["ingest_blocklisted"]) == (1, 2)
    assert "0 images, 0 faces into later; 1 failed, 2 blocklisted" in trail


def test_an_organisation_s_gallery_page_counts_its_own_subjects_and_ingest_runs(
    fake_homes: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An organisation's gallery page had no Subjects row and no Ingest-runs row (the host's
    had, for the whole catalog). It has them now, for its collections only: the subjects
    labelling a face in those it sees (its own and those shared with it), the runs into
    those it owns (a shared collection's runs are its owner's); never another
    organisation's."""
    home = fake_homes("gallery-org-counts")
    me = local_actor("tester")
    tokens = {}
    with AccountabilityStore.open(home.home) as store:
        for org in ("north", "south"):
            store.orgs.add(org, by=me)
            store.accounts.add_user(f"{org}adm", "admin", PASSWORD, by=me, org=org)
            tokens[org] = store.accounts.issue_token(f"{org}adm", by=me)
    for org, people, collection in (("north", (20, 21), "n1"), ("south", (30, 31, 32), "s1")):
        photos = tmp_path / org
        for person in people:
            write_photo(photos, person, 1)
        if org == "south":
            (photos / "broken.jpg").write_bytes(b"not an image")
        args = ("--org", org, "ingest", str(photos), "--label-from-dir")
        _cli(capsys, home.home, *args, "--collection", collection)
    again = ("--org", "south", "ingest", str(tmp_path / "south"), "--collection", "s1")
    _cli(capsys, home.home, *again)  # a second run: duplicates, and the broken file again

    def page(org: str) -> str:
        auth = {"Authorization": f"Bearer {tokens[org]}"} | HTML
        with TestClient(create_app(home.settings, pipelines=FakePipeline)) as client:
            r = client.get("/gallery", headers=auth)
        assert r.status_code == 200, r.text
        return r.text

    north, south = page("north"), page("south")
    assert _shown(north, "subjects") == "2" and _shown(north, "ingest-runs") == "1 (0 files failed)"
    assert _shown(south, "subjects") == "3" and _shown(south, "ingest-runs") == "2 (2 files failed)"
    with AccountabilityStore.open(home.home) as store:
        store.orgs.grant("s1", "north", by=local_actor("tester", org="south"))
    north = page("north")  # south's subjects are north's to see now, its runs stay south's
    assert _shown(north, "subjects") == "5" and _shown(north, "ingest-runs") == "1 (0 files failed)"
    with TestClient(create_app(home.settings, pipelines=FakePipeline)) as client:
        host = client.get("/gallery", headers=home.auth("admin1") | HTML).text
    assert _shown(host, "subjects") == "6"  # the default organisation's gallery: PEOPLE
