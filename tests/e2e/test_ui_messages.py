"""The web UI in Debian's chromium (issue 7, items 16-17): a photo without a face disables
the Search button; result pages flag the probe's own file; times and counts are readable.

Screenshots go to test-artifacts/ (gitignored) for a person to look at.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from tests.e2e.chromium import launch, login, shot

pytestmark = [pytest.mark.browser, pytest.mark.lfw]

RAW_ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d")
READABLE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from launch()


def sky_jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (320, 240), (100, 150, 220)).save(buf, format="JPEG")
    return buf.getvalue()


def test_no_face_disables_search_and_own_file_is_flagged(
    browser: Any, server_url: str, lfw: Path
) -> None:
    url = server_url
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    login(page, url, "inv1", "/search")
    button = page.locator("#search-button")
    page.set_input_files(
        "#photo", files=[{"name": "sky.jpg", "mimeType": "image/jpeg", "buffer": sky_jpeg()}]
    )
    page.locator("#detect-status", has_text="No face found").wait_for()
    assert button.is_disabled()
    shot(page, "20-search-no-face")
    # a photo with a face enables it again; searching the gallery's own file flags it
    own = lfw / "lfw-deepfunneled" / "Tony_Blair" / "Tony_Blair_0002.jpg"
    page.set_input_files("#photo", str(own))
    page.wait_for_selector("#faces input[type=radio]")
    assert button.is_enabled()
    page.fill("#case", "K-17")
    page.fill("#purpose", "UI messages")
    button.click()
    page.wait_for_url(re.compile(r".*/searches/\d+$"))
    main = page.inner_text("main")
    assert "same file as the probe" in page.inner_text(".card.candidate >> nth=0")
    assert READABLE.search(main) and not RAW_ISO.search(main), main
    shot(page, "21-result-same-file")
    page.locator(".card.candidate >> nth=0").locator("a.open").click()
    page.wait_for_url(re.compile(r".*/candidates/\d+$"))
    assert "same file as the probe" in page.inner_text("main")
    shot(page, "22-candidate-same-file")
    page.goto(url + "/search")
    recent = page.inner_text("main")
    assert READABLE.search(recent) and not RAW_ISO.search(recent), recent
    shot(page, "23-search-recent")
    assert errors == [], errors
    context.close()


def test_pages_show_readable_times_and_counts(browser: Any, server_url: str) -> None:
    url = server_url
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    login(page, url, "admin1", "/gallery")
    text = page.inner_text("main")
    assert READABLE.search(text) and not RAW_ISO.search(text), text
    shot(page, "24-gallery-formatted")
    page.goto(url + "/ingest")
    shot(page, "25-ingest")
    page.goto(url + "/docs")
    shot(page, "26-docs")
    page.goto(url + "/searches/999999")
    shot(page, "27-error")
    context.close()
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    login(page, url, "aud1", "/audit")
    text = page.inner_text("#audit-table")
    assert READABLE.search(text) and not RAW_ISO.search(text), text
    shot(page, "28-audit-formatted")
    context.close()


def test_a_skip_link_leads_past_the_links_and_a_phone_header_is_two_lines(
    browser: Any, server_url: str
) -> None:
    """The first Tab stop is "Skip to content", which moves the focus to the page's own
    content; on a phone the administrator's dozen links were a header of five lines (some
    200 pixels of an 844-pixel screen): now brand and user share one line and the links are
    one row that scrolls sideways, and the page itself never does."""
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = phone.new_page()
    login(page, server_url, "admin1", "/users")
    line = page.locator(".brand").bounding_box()["height"]
    header = page.locator("header.top").bounding_box()["height"]
    assert header <= 3.5 * line, (header, line)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    links = page.locator(".nav a")
    assert links.count() >= 8  # the administrator's pages, all still there
    assert page.locator('.nav a[aria-current="page"]').inner_text() == "Users"
    shot(page, "22-phone-header")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    box = page.locator("a.skip").bounding_box()
    assert box["x"] >= 0 and box["y"] >= 0  # shown while it has the focus
    shot(page, "23-skip-link-focused")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    # a page whose link is far along the row: the row is scrolled to show it
    page.goto(server_url + "/orgs")
    here = page.locator('.nav a[aria-current="page"]')
    assert here.inner_text() == "Organisations"
    box = here.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390, box
    shot(page, "24-phone-header-far-link")
    phone.close()
