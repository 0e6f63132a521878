"""Two agencies on one server, end to end in Debian's chromium, with the real models on LFW
(issue 10's acceptance test).

The platform operator (made as an installer makes one: ``add_user(..., org=None)``) creates the
agencies "police" and "customs" and each one's admin; each admin adds its staff and ingests LFW
people into its own collection (a zip on the Ingest page). A police investigator opens a case,
is refused a search until they pass the training, passes it, searches a held-out photo of an
ingested person and marks the candidate a possible match; a second investigator, a member of
the case, confirms it without a note. The police supervisor sees the search and the
confirmation-without-note alert on the Oversight page. A customs investigator searching the
same photo finds nothing of the police collection and cannot see the police case or search.
The police admin fetches the case report PDF, whose first page pdftoppm renders.

Everything after the operator account goes through the pages. Screenshots 80-95 and the
report go to test-artifacts/ (gitignored) for a person to look at.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.agencies_ui import (
    add_user,
    follow,
    ingest_people,
    message,
    nav,
    pass_quiz,
    search,
    signed_in,
    submit,
    verdict,
)
from tests.e2e.chromium import ARTIFACTS, PASSWORD, launch, shot
from tests.e2e.conftest import photo
from tests.homes import live_server

from facesearch.settings import Settings

pytestmark = [pytest.mark.browser, pytest.mark.lfw]


@dataclass(frozen=True)
class Agency:
    """An agency as its admin sets it up: its staff (name, role) and its gallery (LFW people,
    the first ``photos`` photos of each, into ``collection``)."""

    admin: str
    staff: tuple[tuple[str, str], ...]
    collection: str
    people: tuple[str, ...]
    photos: int


POLICE = Agency(
    "pol_admin",
    (("pol_inv1", "investigator"), ("pol_inv2", "investigator"), ("pol_sup", "supervisor")),
    "police",
    ("Colin_Powell", "Tony_Blair", "Donald_Rumsfeld", "Gerhard_Schroeder", "Ariel_Sharon"),
    3,
)
CUSTOMS = Agency(
    "cus_admin",
    (("cus_inv", "investigator"),),
    "customs",
    ("Hugo_Chavez", "Serena_Williams", "Jean_Chretien"),
    2,
)
PROBE_PERSON = "Colin_Powell"  # photo 10: not ingested
POLICE_CASE = "P-2026-017"
CUSTOMS_CASE = "C-2026-003"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from launch()


@pytest.fixture(scope="module")
def server_url(settings: Settings, lfw: Path, tmp_path_factory: Any) -> Iterator[str]:
    """A real server (real models) over an empty home whose only account is the operator."""
    from facesearch.accountability import AccountabilityStore, local_actor

    home = tmp_path_factory.mktemp("agencies") / "home"
    served = settings.replace(home=home, server_login_rate_limit=10_000)
    with AccountabilityStore.open(home) as store:
        store.accounts.add_user("op", "operator", PASSWORD, by=local_actor("installer"), org=None)
    with live_server(served) as url:
        yield url


def _operator(browser: Any, url: str) -> None:
    with signed_in(browser, url, "op", "/orgs") as page:
        for org in ("police", "customs"):
            page.fill("#org-name", org)
            submit(page, "form[action='/orgs'] button[type=submit]")
            assert message(page) == f"organisation {org} created"
        names = page.locator("main table tbody td:first-child").all_inner_texts()
        assert {"police", "customs"} <= set(names), names
        shot(page, "80-orgs")
        nav(page, "/users")
        add_user(page, "pol_admin", "admin", org="police")
        add_user(page, "cus_admin", "admin", org="customs")
        rows = page.locator("main table tbody tr").all_inner_texts()
        assert any("pol_admin" in r and "police" in r for r in rows), rows
        assert any("cus_admin" in r and "customs" in r for r in rows), rows
        shot(page, "81-users-operator")


def _admins(browser: Any, url: str, lfw: Path) -> None:
    for n, agency in enumerate((POLICE, CUSTOMS)):
        with signed_in(browser, url, agency.admin, "/users") as page:
            assert page.locator("#org").count() == 0  # an admin adds users to their own org
            for name, role in agency.staff:
                add_user(page, name, role)
            rows = page.locator("main table tbody tr").all_inner_texts()
            assert len(rows) == len(agency.staff) + 1, rows  # their own org's accounts only
            shot(page, f"{82 + 2 * n}-users-{agency.collection}")
            job = ingest_people(page, url, lfw, agency.people, agency.photos, agency.collection)
            assert f"{len(agency.people) * agency.photos} added" in job, job
            shot(page, f"{83 + 2 * n}-ingest-{agency.collection}")


def _investigators(browser: Any, url: str, lfw: Path) -> str:
    """pol_inv1 opens the case, is refused until trained, searches, marks a possible match;
    pol_inv2 confirms it without a note. Returns the search's path."""
    probe = photo(lfw, PROBE_PERSON, 10)
    with signed_in(browser, url, "pol_inv1", "/cases") as page:
        page.fill("#case-number", POLICE_CASE)
        page.fill("#case-title", "Harbour warehouse break-in")
        page.fill("#case-basis", "warrant 17/2026")
        page.fill("#case-members", "pol_inv2")
        submit(page, "form[action='/cases'] button[type=submit]")
        assert message(page) == f"case {POLICE_CASE} opened"
        row = page.locator("#cases-table tbody tr").all_inner_texts()
        assert len(row) == 1 and "pol_inv1, pol_inv2" in row[0], row
        shot(page, "86-case-opened")

        nav(page, "/search")
        search(page, probe, POLICE_CASE, "CCTV still of the break-in")
        refusal = page.locator("main .error[role=alert]").inner_text()
        assert "must pass the training and its quiz before searching" in refusal, refusal
        assert page.url == url + "/search"
        shot(page, "87-search-refused-untrained")

        follow(page, "main .error a[href='/training']")  # the refusal says where to go
        assert page.locator("nav a.here").inner_text() == "Training"
        pass_quiz(page)
        shot(page, "88-training-passed")

        nav(page, "/search")
        search(page, probe, POLICE_CASE, "CCTV still of the break-in")
        assert re.fullmatch(rf"{url}/searches/\d+", page.url), page.url
        search_path = page.url.removeprefix(url)
        best = page.locator(f'.card.candidate[data-subject="{PROBE_PERSON}"]')
        assert best.count() >= 1, page.inner_text("main")
        shot(page, "89-police-results")
        follow(page, f'.card.candidate[data-subject="{PROBE_PERSON}"] a.open >> nth=0')
        candidate_path = page.url.removeprefix(url)
        verdict(page, "same ears and hairline; a lead to check")
        assert page.inner_text("#status") == "possible match"
        shot(page, "90-possible-match")

    with signed_in(browser, url, "pol_inv2", "/search") as page:
        nav(page, "/training")
        pass_quiz(page)
        nav(page, "/search")
        follow(page, f'a[href="{candidate_path}"]')  # waiting for a second person
        assert page.inner_text("#possible-match") == "Confirm match (second person)"
        verdict(page, "")  # no note: the supervisor is alerted
        assert page.inner_text("#status") == "confirmed"
        shot(page, "91-confirmed")
    return search_path


def _supervisor(browser: Any, url: str, search_path: str) -> None:
    with signed_in(browser, url, "pol_sup", "/oversight") as page:
        assert page.locator("h1").inner_text() == "Oversight: police"
        summary = page.locator("main .panel p.small").first.inner_text()
        assert summary.startswith("1 search from"), summary  # pol_inv1's
        users = page.locator("#users tbody tr").all_inner_texts()
        assert len(users) == 1 and users[0].startswith("pol_inv1"), users
        alerts = page.locator("#alerts tbody tr").all_inner_texts()
        bare = [a for a in alerts if "confirmation without note" in a]
        assert len(bare) == 1 and "pol_inv2" in bare[0], alerts
        search_id = search_path.rsplit("/", 1)[1]
        assert f"of search {search_id} without a note" in bare[0], bare
        shot(page, "92-oversight")


def _customs(browser: Any, url: str, lfw: Path, search_path: str) -> None:
    with signed_in(browser, url, "cus_inv", "/training") as page:
        pass_quiz(page)
        nav(page, "/cases")
        page.fill("#case-number", CUSTOMS_CASE)
        page.fill("#case-title", "Container seizure")
        submit(page, "form[action='/cases'] button[type=submit]")
        cases = page.locator("#cases-table tbody tr").all_inner_texts()
        assert len(cases) == 1 and CUSTOMS_CASE in cases[0], cases
        assert POLICE_CASE not in page.inner_text("main")

        nav(page, "/search")
        offered = page.locator("#collection option").evaluate_all("os => os.map(o => o.value)")
        assert offered == ["", "customs"], offered  # every collection (of theirs), customs
        search(page, photo(lfw, PROBE_PERSON, 10), CUSTOMS_CASE, "passport photo at the border")
        assert re.fullmatch(rf"{url}/searches/\d+", page.url), page.url
        subjects = page.locator(".card.candidate").evaluate_all(
            "cards => cards.map(c => c.dataset.subject)"
        )
        assert not set(subjects) & set(POLICE.people), subjects
        searched = page.locator("dt:text-is('Searched') + dd").inner_text()
        assert re.fullmatch(r"(\d+) faces in customs \(\1\)", searched), searched
        shot(page, "93-customs-results")

        for path in (search_path, f"/cases/{POLICE_CASE}"):
            response = page.goto(url + path)
            assert response is not None and response.status == 404, path


def _report(browser: Any, url: str) -> None:
    with signed_in(browser, url, "pol_admin", "/cases") as page:
        follow(page, f'#cases-table a[href="/cases/{POLICE_CASE}"]')
        timeline = page.locator("#case-timeline tbody").inner_text()
        assert "pol_inv1" in timeline and "pol_inv2" in timeline, timeline
        shot(page, "94-case-page")
        link = page.locator("a[href$='/report.pdf']").get_attribute("href")
        r = page.request.get(url + link)
        assert r.status == 200 and r.headers["content-type"] == "application/pdf"
        body = r.body()
    assert body.startswith(b"%PDF-")
    pdf = ARTIFACTS / "95-case-report.pdf"
    pdf.write_bytes(body)
    if shutil.which("pdftoppm") is None:
        pytest.skip("PDFTOPPM MISSING (apt-get install poppler-utils): first page not rendered")
    out = ARTIFACTS / "95-case-report-page1"
    page1 = ["-f", "1", "-l", "1", "-singlefile"]
    subprocess.run(["pdftoppm", "-png", "-r", "60", *page1, str(pdf), str(out)], check=True)
    from PIL import Image, ImageStat

    with Image.open(out.with_suffix(".png")) as first:
        assert first.width > 300 and first.height > 300, first.size
        spread = ImageStat.Stat(first.convert("L")).stddev[0]
        assert spread > 20, spread  # text and faces, not a blank page
    if shutil.which("pdftotext") is not None:
        text = subprocess.run(
            ["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True
        ).stdout
        assert POLICE_CASE in text and "lead" in text, text[:2000]


def test_two_agencies_end_to_end(browser: Any, server_url: str, lfw: Path) -> None:
    _operator(browser, server_url)
    _admins(browser, server_url, lfw)
    search_path = _investigators(browser, server_url, lfw)
    _supervisor(browser, server_url, search_path)
    _customs(browser, server_url, lfw, search_path)
    _report(browser, server_url)
