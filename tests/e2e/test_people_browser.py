"""People in Debian's chromium (Playwright), on 40 LFW photos of 8 people (issue 13): an
investigator builds the people of the collection, names a person, merges two, splits a face
off, groups a search's candidates by person and follows one to its person page; an auditor
then finds each change in the audit trail.

Screenshots go to test-artifacts/ (gitignored) for a person to look at.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.chromium import launch, login, shot

pytestmark = [pytest.mark.browser, pytest.mark.lfw]

BROKEN_IMAGES = "imgs => imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from launch()


def images_shown(page: Any) -> None:
    """Every image of the page loaded (lazy ones scrolled into view first)."""
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    page.wait_for_load_state("networkidle")
    assert page.locator("img").evaluate_all(BROKEN_IMAGES) == []


def face_count(page: Any) -> int:
    return int(page.inner_text("#face-count"))


def test_review_people_and_audit_trail(browser: Any, server_url: str, lfw: Path) -> None:
    url = server_url
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    # 1. an investigator opens People: not built yet; builds it
    login(page, url, "inv1", "/people")
    assert page.locator("#not-built").count() == 1
    shot(page, "30-people-not-built")
    page.click("#build-button")
    page.wait_for_selector("#build-report")
    cards = page.locator("#people-grid .card.person")
    assert cards.count() >= 8, page.inner_text("main")  # 8 labelled people (+ any strangers)
    first, second = (cards.nth(i).get_attribute("data-person") for i in (0, 1))
    assert cards.nth(0).locator(".count").inner_text() == "5"
    images_shown(page)
    shot(page, "31-people-built")

    # 2. ... names the first person
    cards.nth(0).click()
    page.wait_for_url(f"{url}/people/{first}")
    assert face_count(page) == 5
    images_shown(page)
    shot(page, "32-person")
    page.fill("#name", "Suspect A")
    page.click("#name-button")
    page.wait_for_url(f"{url}/people/{first}?done=name")
    assert page.inner_text("#person-title").startswith("Suspect A")

    # 3. ... merges the second person into the first
    page.goto(f"{url}/people/{second}")
    page.fill("#into", str(first))
    page.click("#merge-button")
    page.wait_for_url(f"{url}/people/{first}?done=merge")
    assert face_count(page) == 10
    images_shown(page)
    shot(page, "33-person-merged")

    # 4. ... splits the least certain face off into a new person
    least = page.locator("#faces .card.face").first.get_attribute("data-face")
    page.locator(f'.card.face[data-face="{least}"] input[type=checkbox]').check()
    page.click("#split-button")
    page.wait_for_url(re.compile(rf".*/people/{first}\?done=split&new=\d+$"))
    new = page.url.rsplit("new=", 1)[1]
    assert face_count(page) == 9
    images_shown(page)
    shot(page, "34-person-split")
    page.click(f'#done a[href="/people/{new}"]')
    page.wait_for_url(f"{url}/people/{new}")
    assert face_count(page) == 1
    assert page.locator(f'.card.face[data-face="{least}"]').count() == 1
    assert page.locator(".card.face a.photo-link").count() == 1  # a link to its photo
    page.goto(url + "/people")
    assert "Suspect A" in page.inner_text("#people-grid")

    # 5. ... searches a held-out photo and groups its candidates by person
    page.goto(url + "/search")
    probe = lfw / "lfw-deepfunneled" / "Colin_Powell" / "Colin_Powell_0010.jpg"
    page.set_input_files("#photo", str(probe))
    page.wait_for_selector("#faces input[type=radio]")
    page.fill("#case", "K-2026-013")
    page.fill("#purpose", "who else is in the seized photos")
    page.click("#search-button")
    page.wait_for_url(re.compile(r".*/searches/\d+$"))
    page.click("#group-by-person")
    page.wait_for_url(re.compile(r".*/searches/\d+\?group=person$"))
    groups = page.locator(".card.person-group")
    assert groups.count() >= 1
    colin = page.locator('.card.person-group[data-subject="Colin_Powell"]')
    assert colin.count() == 1, page.inner_text("main")  # his candidates: one card
    images_shown(page)
    shot(page, "35-results-by-person")
    colin.locator("a.person-link").click()
    page.wait_for_url(re.compile(r".*/people/\d+$"))
    assert page.locator(".card.face a.photo-link").count() == face_count(page) >= 5
    images_shown(page)
    shot(page, "36-person-from-search")
    page.click("header form button")  # log out
    page.wait_for_url(re.compile(r".*/login$"))

    # 6. the auditor finds every change in the audit trail
    login(page, url, "aud1", "/audit")
    for action, detail in [
        ("people_build", "default"),
        ("person_name", "Suspect A"),
        ("person_merge", f"other={second}"),
        ("person_split", f"new_person={new}"),
    ]:
        page.goto(f"{url}/audit?action={action}")
        rows = page.locator("#audit-table tbody tr").all_inner_texts()
        assert len(rows) == 1 and "inv1" in rows[0], (action, rows)
        assert detail in rows[0], (action, rows[0])
    page.goto(f"{url}/audit?action=read")
    reads = page.inner_text("#audit-table")
    assert "people" in reads and "person" in reads
    shot(page, "37-audit-people")
    assert errors == [], errors

    # 7. the person page on a phone
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    mobile = phone.new_page()
    login(mobile, url, "inv1", f"/people/{first}")
    images_shown(mobile)
    width = mobile.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the person page overflows a phone: {width}px wide"
    shot(mobile, "38-person-phone")
    phone.close()
    context.close()
