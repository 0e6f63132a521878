"""A face crop the read limit refused is not called erased, in Debian's chromium on the fake
pipeline: every crop a page shows is a read (server_read_rate_limit a minute), and a crop past
the limit answers 429; the page's script cannot tell that from a 404 by the image's error
event, and every such card said "photo not available (moved, changed or erased since it was
added)". The script now asks the server why (one GET) and says which.

Screenshots go to test-artifacts/ (gitignored) for a person to look at.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tests.e2e.chromium import launch, login, shot

pytestmark = [pytest.mark.browser]

ERASED = "moved, changed or erased"
LIMIT = "too many photos opened in the last minute"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from launch()


def _notes(page: Any) -> list[str]:
    page.wait_for_function(
        "() => [...document.querySelectorAll('.card img')].every(i => i.complete && "
        "i.naturalWidth > 0) || document.querySelectorAll('.card .na').length > 0"
    )
    page.wait_for_timeout(1500)  # the script's GETs of the crops that failed
    notes: list[str] = page.locator(".card .na").all_inner_texts()
    return notes


def test_a_crop_past_the_read_limit_says_so(
    browser: Any, fake_homes: Any, fake_server: Any
) -> None:
    home = fake_homes("read-limit-crops", server_read_rate_limit=6)
    with fake_server(home.settings) as url:
        context = browser.new_context(viewport={"width": 1200, "height": 900})
        page = context.new_page()
        login(page, url, "inv1", "/search")
        page.goto(url + "/gallery/faces")
        notes = _notes(page)
        shot(page, "80-read-limit-crops")
        assert notes, "some crops should be past the limit of 6 reads a minute"
        assert all(LIMIT in n for n in notes), notes
        assert not any(ERASED in n for n in notes), notes
        banner = page.locator("#read-limit")
        assert banner.count() == 1 and "Wait" in banner.inner_text(), banner.count()
        assert "at most 6 a minute" in banner.inner_text()
        context.close()


def test_a_crop_that_is_gone_still_says_erased(
    browser: Any, fake_homes: Any, fake_server: Any
) -> None:
    home = fake_homes("gone-crops")
    with fake_server(home.settings) as url:
        context = browser.new_context(viewport={"width": 1200, "height": 900})
        page = context.new_page()
        login(page, url, "inv1", "/search")
        page.goto(url + "/gallery/faces?per_page=4")
        _notes(page)
        page.evaluate(
            """() => { const img = document.querySelector('.card img');
            img.src = '/api/v1/faces/999999/crop'; }"""
        )
        page.wait_for_selector(".card .na")
        page.wait_for_timeout(500)
        notes = page.locator(".card .na").all_inner_texts()
        assert len(notes) == 1 and ERASED in notes[0], notes
        assert page.locator("#read-limit").count() == 0
        context.close()
