"""The case page and the case report in Debian's chromium: a member searches under a case,
opens the case page (timeline with links) and its HTML report (its own style allowed by the
page's Content-Security-Policy), and fetches the PDF report, whose first page pdftoppm renders.

Screenshots and the rendered page go to test-artifacts/ (gitignored) for a person to look at.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.chromium import ARTIFACTS, launch, login, shot
from tests.e2e.conftest import photo

from facesearch.settings import Settings

pytestmark = [pytest.mark.browser, pytest.mark.lfw]

CASE = "K-report"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from launch()


def _open_case(home: Settings) -> None:
    from facesearch.accountability import AccountabilityStore, local_actor

    with AccountabilityStore.open(home.home) as store:
        store.cases.open(CASE, "Report test", members=("inv1",), by=local_actor("tester"))


def test_case_page_and_pdf_report(
    browser: Any, server_url: str, browser_home: Settings, lfw: Path
) -> None:
    _open_case(browser_home)
    url = server_url
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    login(page, url, "inv1", "/search")
    page.set_input_files("#photo", str(photo(lfw, "Tony_Blair", 10)))
    page.wait_for_selector("#faces input[type=radio]")
    page.fill("#case", CASE)
    page.fill("#purpose", "case report test")
    page.locator("#search-button").click()
    page.wait_for_url(re.compile(r".*/searches/\d+$"))
    search_id = page.url.rsplit("/", 1)[1]

    page.goto(f"{url}/cases/{CASE}")
    rows = page.locator("#case-timeline tbody tr")
    assert rows.count() == 2  # case_open, search
    assert page.locator(f'#case-timeline a[href="/searches/{search_id}"]').count() == 1
    shot(page, "50-case-page")

    page.goto(f"{url}/cases/{CASE}/report")
    lead = page.locator(".lead")
    assert "a lead for a person to check" in lead.inner_text()
    # the report's inline style sheet applies under its CSP (hash-allowed)
    assert lead.evaluate("e => getComputedStyle(e).fontWeight") == "600"
    assert page.locator("img[alt='probe face']").count() >= 1
    assert page.locator("img[alt='candidate face']").count() >= 1
    shot(page, "51-case-report")

    r = page.request.get(f"{url}/cases/{CASE}/report.pdf")
    assert r.status == 200 and r.headers["content-type"] == "application/pdf"
    body = r.body()
    assert body.startswith(b"%PDF-")
    ARTIFACTS.mkdir(exist_ok=True)
    pdf = ARTIFACTS / "52-case-report.pdf"
    pdf.write_bytes(body)
    context.close()
    if shutil.which("pdftoppm") is None:
        pytest.skip("PDFTOPPM MISSING (apt-get install poppler-utils): first page not rendered")
    out = ARTIFACTS / "52-case-report-page1"
    subprocess.run(
        ["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", "-singlefile", str(pdf), str(out)],
        check=True,
        timeout=60,
    )
    from PIL import Image

    with Image.open(out.with_suffix(".png")) as first:
        assert first.width > 300 and first.height > 300
