"""What a person does on the pages of the agencies test (``test_agencies.py``), one helper a
form: sign in as someone in a fresh browser context, add a user, upload a zip of LFW photos to
the Ingest page, answer the training quiz, search a probe under a case, give a verdict."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.e2e.chromium import PASSWORD, login
from tests.e2e.conftest import photo

from facesearch.app.training_course import QUIZ

STEP_MS = 90_000  # a click, a page
SLOW_MS = 300_000  # real models on two shared cores: an ingest or a search may take minutes


@contextmanager
def signed_in(browser: Any, url: str, name: str, target: str) -> Iterator[Any]:
    """A page of a new browser context where ``name`` has signed in through the login form
    and landed on ``target``. On leaving, no script error may have happened on it and nothing
    a page fetched (images, the script's requests) may have failed; a page's own status (a
    refusal's 403, another agency's 404) is the test's to assert."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(STEP_MS)
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    failed: list[str] = []  # what a page loaded and did not get (its own status is asserted)
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if _broken(r) else None)
    try:
        login(page, url, name, target)
        yield page
        assert [p for p in problems if not p.startswith("Failed to load resource")] == [], problems
        assert failed == [], failed
    finally:
        context.close()


def _broken(response: Any) -> bool:
    return response.status >= 400 and response.request.resource_type != "document"


def submit(page: Any, button: str) -> None:
    """Click a form's submit button and wait for the page the server answers with."""
    with page.expect_navigation(timeout=SLOW_MS):
        page.click(button)


def follow(page: Any, link: str) -> None:
    """Click a link and wait until the page it opens has loaded (its deferred scripts run:
    a file chosen before the Search page's script listens would never be boxed)."""
    with page.expect_navigation():
        page.click(link)


def nav(page: Any, path: str) -> None:
    """Follow the navigation bar's link to ``path``."""
    follow(page, f"nav a[href='{path}']")


def message(page: Any) -> str:
    """The page's status message; the error shown instead when there is none."""
    found = page.locator("main .message")
    if found.count():
        return str(found.inner_text())
    return "no message; " + str(page.locator("main").inner_text())[:500]


def add_user(page: Any, name: str, role: str, org: str | None = None) -> None:
    """Add an account on the Users page (the page must be open); ``org`` in the select, which
    only the operator is shown."""
    page.fill("#name", name)
    page.select_option("#role", role)
    if org is not None:
        page.select_option("#org", org)
    page.fill("#password", PASSWORD)
    submit(page, "form[action='/users'] button[type=submit]")
    assert message(page) == f"user {name} added"


def ingest_people(
    page: Any, url: str, lfw: Path, people: tuple[str, ...], photos: int, collection: str
) -> str:
    """Upload ``photos`` LFW photos of each person as one zip (a folder a person) to the
    Ingest page, labelled from the folders, into ``collection``; wait for the job's page to
    say it completed. Returns the job page's text."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for person in people:
            for number in range(1, photos + 1):
                path = photo(lfw, person, number)
                zf.writestr(f"{person}/{path.name}", path.read_bytes())
    page.goto(url + "/ingest")
    page.set_input_files(
        "#files",
        files=[
            {"name": f"{collection}.zip", "mimeType": "application/zip", "buffer": buf.getvalue()}
        ],
    )
    page.fill("#collection", collection)
    page.check("input[name=label_from_dir]")
    page.click("#upload-button")
    page.wait_for_url(re.compile(r".*/ingest/[0-9a-f]{16}$"), timeout=SLOW_MS)
    assert page.inner_text("#job-status") == "completed", page.inner_text("#job")
    return str(page.inner_text("#job"))


def pass_quiz(page: Any) -> None:
    """Answer every question of the Training page's quiz right (the page must be open)."""
    for number, question in enumerate(QUIZ, 1):
        page.check(f"#q{number}-{question.answer}")
    submit(page, "#quiz button[type=submit]")
    assert f"Passed: {len(QUIZ)} of {len(QUIZ)} right" in page.inner_text("#quiz-result")
    assert "You passed the training" in page.inner_text("#training-status")


def search(page: Any, probe: Path, case: str, purpose: str) -> None:
    """Fill the Search page's form (the page must be open): the photo (wait for its faces to
    be boxed), the case and the purpose; submit and wait for the server's answer."""
    page.set_input_files("#photo", str(probe))
    from playwright.sync_api import expect

    # boxed, or why not (the page's CSP forbids the eval of a wait_for_function string)
    status = page.locator("#detect-status")
    expect(status).to_have_text(re.compile(r"^(?!Finding)\S"), timeout=SLOW_MS)
    faces = page.locator("#faces input[type=radio]").count()
    assert faces >= 1, page.inner_text("#detect-status")
    page.fill("#case", case)
    page.fill("#purpose", purpose)
    submit(page, "#search-button")


def verdict(page: Any, note: str) -> None:
    """On a candidate's page: the note (may be empty) and the possible-match button (which
    reads 'Confirm match (second person)' for the second person)."""
    page.fill("#note", note)
    url = page.url
    submit(page, "#possible-match")
    assert page.url == url
