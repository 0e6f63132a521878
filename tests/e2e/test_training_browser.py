"""The Training page in Debian's chromium: an investigator signs in, reads the course with the
LFW look-alike photos (decoded by the browser under the page's Content-Security-Policy),
answers the quiz once with a wrong answer and once right, and is told they passed.

Screenshots go to test-artifacts/ (gitignored) for a person to look at.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tests.e2e.chromium import launch, login, shot
from tests.e2e.conftest import UNTRAINED

from facesearch.app.training import QUIZ

pytestmark = [pytest.mark.browser, pytest.mark.lfw]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from launch()


def _answer(page: Any, answers: list[int]) -> None:
    for number, choice in enumerate(answers, 1):
        page.check(f"#q{number}-{choice}")
    page.locator("#quiz button[type=submit]").click()
    page.wait_for_selector("#quiz-result")


def test_training_page_quiz_failed_then_passed(browser: Any, server_url: str) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    login(page, server_url, UNTRAINED, "/training")
    assert "You have not passed the training yet" in page.locator("#training-status").inner_text()
    photos = page.locator(".lookalike img")
    assert photos.count() == 8
    widths = photos.evaluate_all("images => images.map(i => i.naturalWidth)")
    assert all(w > 0 for w in widths), widths  # the data: URLs decode under the CSP
    shot(page, "70-training-course")

    right = [q.answer for q in QUIZ]
    wrong = [(right[0] + 1) % len(QUIZ[0].choices), *right[1:]]
    _answer(page, wrong)
    assert "Not passed: 4 of 5 right" in page.locator("#quiz-result").inner_text()
    shot(page, "71-training-not-passed")

    _answer(page, right)
    assert "Passed: 5 of 5 right" in page.locator("#quiz-result").inner_text()
    assert "You passed the training" in page.locator("#training-status").inner_text()
    shot(page, "72-training-passed")
    context.close()
