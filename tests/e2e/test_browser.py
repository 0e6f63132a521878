"""The web UI in Debian's chromium (Playwright): search, two-person rule, audit trail.

Screenshots of every page go to test-artifacts/ (gitignored) for a person to look at.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.chromium import PASSWORD, launch, login, shot

pytestmark = [pytest.mark.browser, pytest.mark.lfw]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from launch()


def logout(page: Any) -> None:
    page.click("header form button")
    page.wait_for_url(re.compile(r".*/login$"))


def test_search_two_person_rule_and_audit(
    browser: Any, server_url: str, lfw: Path, browser_home: Any
) -> None:
    url = server_url
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

    # 1. an investigator logs in and searches with a held-out photo of Colin Powell
    page.goto(url + "/search")
    page.wait_for_url(re.compile(r".*/login\?next=.*"))
    shot(page, "01-login")
    page.fill("#name", "inv1")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(url + "/search")
    assert "lead for a person to check" in page.inner_text("#lead-banner")
    probe = lfw / "lfw-deepfunneled" / "Colin_Powell" / "Colin_Powell_0010.jpg"
    page.set_input_files("#photo", str(probe))
    page.wait_for_selector("#faces input[type=radio]")
    boxes = page.locator("#boxes rect").count()
    assert boxes == page.locator("#faces input[type=radio]").count() >= 1
    page.fill("#case", "K-2025-042")
    page.fill("#purpose", "armed robbery, station CCTV still")
    shot(page, "02-search-faces-boxed")
    page.click("#search-button")
    page.wait_for_url(re.compile(r".*/searches/\d+$"))
    search_url = page.url
    assert "lead for a person to check" in page.inner_text("#lead-banner")
    colin = page.locator('.card.candidate[data-subject="Colin_Powell"]')
    assert colin.count() >= 1, page.inner_text("main")
    assert re.search(r"FMR [≈<≥] 1 in [\d,]+", page.inner_text("main"))
    # the one search record: the probe by its name, each hit by its image's file name
    assert "Colin_Powell_0010.jpg" in page.inner_text(".panel")
    assert re.search(r"Colin_Powell_\d{4}\.jpg", colin.first.inner_text()), colin.first.inner_text()
    page.wait_for_load_state("networkidle")
    broken = page.locator("img").evaluate_all(
        "imgs => imgs.filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)"
    )
    assert broken == []
    shot(page, "03-results")

    # 2. ... reviews the best Colin Powell candidate and marks it a possible match
    colin.first.locator("a.open").click()
    page.wait_for_url(re.compile(r".*/candidates/\d+$"))
    candidate_url = page.url
    shot(page, "04-candidate")
    assert re.search(r"Colin_Powell_\d{4}\.jpg", page.inner_text(".pair")), page.inner_text(".pair")
    page.fill("#note", "same scar above the left eyebrow")
    page.click("#possible-match")
    page.wait_for_url(candidate_url)
    assert page.inner_text("#status") == "possible match"
    assert page.locator("#possible-match").count() == 0  # the same person cannot confirm
    shot(page, "05-possible-match")
    logout(page)

    # 3. a second investigator confirms it
    login(page, url, "inv2", "/search")
    link = page.locator(f'a[href="{candidate_url.removeprefix(url)}"]')
    assert link.count() == 1, "the candidate should wait for a second person"
    link.click()
    page.wait_for_url(candidate_url)
    assert page.inner_text("#possible-match") == "Confirm match (second person)"
    page.click("#possible-match")
    page.wait_for_url(candidate_url)
    assert page.inner_text("#status") == "confirmed"
    shot(page, "06-confirmed")
    logout(page)

    # 4. the auditor sees both steps in the audit trail
    login(page, url, "aud1", "/audit")
    page.select_option("select[name=action]", "decision")
    page.click(".filters button[type=submit]")
    page.wait_for_url(re.compile(r".*/audit\?.*action=decision.*"))
    rows = page.locator("#audit-table tbody tr").all_inner_texts()
    assert len(rows) == 2, rows  # the newest first
    assert "inv1" in rows[1] and "possible match" in rows[1] and "K-2025-042" in rows[1]
    assert "inv2" in rows[0] and "confirmed" in rows[0]
    shot(page, "07-audit-decisions")
    page.goto(url + "/audit?verify=check")
    assert "intact" in page.inner_text("#verify-report")
    shot(page, "08-audit-verified")
    logout(page)
    assert errors == [], errors

    # 5. the results page on a phone
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    mobile = phone.new_page()
    login(mobile, url, "inv1", search_url.removeprefix(url))
    shot(mobile, "09-results-phone")
    phone.close()
    context.close()


def test_admin_pages_and_ingest_upload(browser: Any, server_url: str, lfw: Path) -> None:
    url = server_url
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    login(page, url, "admin1", "/ingest")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for n in (1, 2, 3):
            name = f"Laura_Bush_{n:04d}.jpg"
            zf.writestr(
                f"Laura_Bush/{name}", (lfw / "lfw-deepfunneled/Laura_Bush" / name).read_bytes()
            )
    page.set_input_files(
        "#files",
        files=[{"name": "batch.zip", "mimeType": "application/zip", "buffer": buf.getvalue()}],
    )
    page.check("input[name=label_from_dir]")
    shot(page, "10-ingest")
    page.click("#upload-button")
    page.wait_for_url(re.compile(r".*/ingest/[0-9a-f]{16}$"), timeout=120_000)
    assert page.inner_text("#job-status") == "completed"
    shot(page, "11-ingest-job")
    page.goto(url + "/gallery")
    assert page.locator("#stats dd").nth(1).inner_text() == "43"  # images: 40 + 3
    shot(page, "12-gallery")
    page.goto(url + "/users")
    assert page.locator("form[action='/users/inv2/token']").count() == 0  # not the admin's
    shot(page, "13-users")
    page.goto(url + "/docs")
    assert "/api/v1/searches" in page.inner_text("main")
    page.click("form[action='/docs/token'] button")  # one's own token, shown once
    token = page.inner_text("#new-token")
    assert token.startswith("fs_")
    shot(page, "14-api-docs")
    assert errors == [], errors
    context.close()
