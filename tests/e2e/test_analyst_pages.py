"""The analyst's pages in Debian's chromium (Playwright), on 40 LFW photos of 8 people (issue
10): an investigator verifies two photos 1:1, browses the gallery's faces, images and subjects
with filters and pages, opens a face's image, searches and reads the short false match rate
of each candidate card, with times in the browser's own time zone; an admin erases a person
by photo, after the list of what will go.

Screenshots go to test-artifacts/ (gitignored) for a person to look at.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.chromium import launch, login, shot
from tests.e2e.conftest import photo

pytestmark = [pytest.mark.browser, pytest.mark.lfw]

BROKEN_IMAGES = "imgs => imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)"
ZONE = "America/New_York"  # the browser's time zone: times must not be shown in UTC


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from launch()


def new_page(browser: Any) -> tuple[Any, list[str]]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, timezone_id=ZONE)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    return page, errors


def images_shown(page: Any) -> None:
    """Every image of the page loaded (lazy ones scrolled into view first)."""
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    page.wait_for_load_state("networkidle")
    assert page.locator("img").evaluate_all(BROKEN_IMAGES) == []


def local_times(page: Any) -> list[str]:
    """The text of every <time> of the page, after local-time.js rewrote it."""
    times = page.locator("time[datetime]")
    assert times.count() >= 1
    shown = [times.nth(i).inner_text() for i in range(times.count())]
    assert all(not t.endswith("UTC") for t in shown), shown  # rewritten into the zone
    assert times.first.get_attribute("title").endswith("UTC")  # the UTC time on hover
    return shown


def verify(page: Any, a: Path, b: Path, screenshot: str = "") -> None:
    """Fill the Verify form with two photos, a case and a purpose, and compare."""
    page.set_input_files("#a", str(a))
    page.set_input_files("#b", str(b))
    page.fill("#case", "K-2026-101")
    page.fill("#purpose", "are these two stills the same person?")
    if screenshot:
        shot(page, screenshot)
    page.click("#verify-button")
    page.wait_for_selector("#verify-result")


def test_investigator_verifies_browses_and_reads_candidates(
    browser: Any, server_url: str, lfw: Path
) -> None:
    url = server_url
    page, errors = new_page(browser)

    # 1. Verify: two photos of one man, then two different men
    login(page, url, "inv1", "/verify")
    assert page.locator("nav a[href='/verify']").inner_text() == "Verify"
    verify(page, photo(lfw, "Colin_Powell", 6), photo(lfw, "Colin_Powell", 7), "40-verify-form")
    decision = page.inner_text("#decision")
    assert "possibly the same person" in decision
    assert "lead for a human to check, not an identification" in decision
    assert "different people score this high" in page.inner_text("#fmr")
    assert page.locator("#verify-result img").count() == 2
    images_shown(page)
    shot(page, "41-verify-same")
    page.goto(url + "/verify")
    verify(page, photo(lfw, "Colin_Powell", 6), photo(lfw, "Serena_Williams", 7))
    assert "not a match at this threshold" in page.inner_text("#decision")
    shot(page, "42-verify-different")

    # 2. Gallery: faces in pages, a filter, a face's image
    page.goto(url + "/gallery/faces")
    summary = re.search(r"(\d+)\s+faces\s+·\s+page 1 of (\d+)", page.inner_text("#summary"))
    assert summary, page.inner_text("#summary")
    total = int(summary.group(1))  # 40 photos; a few LFW photos show a second face
    assert total >= 40 and int(summary.group(2)) == -(-total // 24)
    images_shown(page)
    shot(page, "43-gallery-faces")
    page.click("#next")
    page.wait_for_url(re.compile(r".*/gallery/faces\?page=2$"))
    assert "page 2 of 2" in page.inner_text("#summary")
    assert page.locator("#items .card.face").count() == total - 24
    page.goto(url + "/gallery/faces")
    page.fill("#subject", "colin")
    page.click("#filters button[type=submit]")
    page.wait_for_url(re.compile(r".*subject=colin.*"))
    cards = page.locator("#items .card.face")
    assert cards.count() >= 5  # his 5 photos, labelled by their folder
    assert set(cards.locator(".subject").all_inner_texts()) == {"Colin_Powell"}
    images_shown(page)
    shot(page, "44-gallery-faces-colin")
    cards.first.locator("a.image-link").click()
    page.wait_for_url(re.compile(r".*/gallery/images/\d+$"))
    assert page.locator("#photo svg rect").count() >= 1
    assert page.locator("#faces .card.face").count() >= 1
    local_times(page)
    images_shown(page)
    shot(page, "45-gallery-image")
    page.goto(url + "/gallery/images?labelled=yes&per_page=12")
    assert "page 1 of 4" in page.inner_text("#summary")
    images_shown(page)
    shot(page, "46-gallery-images")
    page.goto(url + "/gallery/subjects")
    assert page.locator("#items .card.subject-card").count() == 8
    images_shown(page)
    shot(page, "47-gallery-subjects")

    # 3. A search: one short false match rate line per candidate card, times in local time
    page.goto(url + "/search")
    page.set_input_files("#photo", str(photo(lfw, "Colin_Powell", 10)))
    page.wait_for_selector("#faces input[type=radio]")
    page.fill("#case", "K-2026-101")
    page.fill("#purpose", "who is this")
    page.click("#search-button")
    page.wait_for_url(re.compile(r".*/searches/\d+$"))
    lines = page.locator(".card.candidate .fmr").all_inner_texts()
    assert lines and page.locator(".card.candidate").count() == len(lines)
    assert all(re.fullmatch(r"FMR [≈<≥] 1 in [\d,]+", t) for t in lines), lines
    (started,) = local_times(page)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \S+", started), started
    images_shown(page)
    shot(page, "48-results-short-fmr")
    assert errors == []


def test_admin_erases_by_photo_after_seeing_what_goes(
    browser: Any, server_url: str, lfw: Path
) -> None:
    url = server_url
    page, errors = new_page(browser)
    login(page, url, "admin1", "/gallery")
    page.click("#forget-link")
    page.wait_for_url(url + "/gallery/forget")
    page.set_input_files("#photo", str(photo(lfw, "Hugo_Chavez", 10)))  # held out
    page.fill("#reason", "data subject request DSR-2026-7")
    page.fill("#case", "DSR-2026-7")
    shot(page, "50-forget-form")
    page.click("#preview-button")
    page.wait_for_selector("#confirm")
    listed = page.locator("#preview-faces .card.face")
    assert listed.count() >= 5  # his 5 photos (a second face of a photo may be his too)
    assert set(listed.locator(".subject").all_inner_texts()) == {"Hugo_Chavez"}
    n = listed.count()
    assert page.inner_text("#erase-button") == f"Erase {n} faces"
    images_shown(page)
    shot(page, "51-forget-confirm")
    page.click("#erase-button")
    page.wait_for_selector("#erased")
    report = page.inner_text("#erased")
    assert f"Erased {n} faces" in report and "vector store (files)" in report
    assert "blocklisted" in report
    shot(page, "52-forget-done")
    page.goto(url + "/gallery/faces?subject=hugo")
    assert page.locator("#items .card.face").count() == 0
    assert errors == []
