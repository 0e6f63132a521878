"""The filter forms in Debian's chromium at 1280 px, on the fake pipeline: each label's text
sits on one line with the others, and each field's bottom edge with the others'.

Screenshots go to test-artifacts/ (gitignored) for a person to look at.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tests.e2e.chromium import launch, shot

pytestmark = [pytest.mark.browser]

# per label of the form: where its own text starts (top) and where its field ends (bottom)
EDGES = """(form) => [...document.querySelector(form).querySelectorAll('label')].map(label => {
  const text = [...label.childNodes].find(n => n.nodeType === 3 && n.textContent.trim());
  const range = document.createRange();
  range.selectNodeContents(text);
  const field = label.querySelector('input, select');
  return [text.textContent.trim(), range.getBoundingClientRect().top,
          field.getBoundingClientRect().bottom];
})"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from launch()


def test_the_audit_filters_line_up(browser: Any, fake_homes: Any, fake_server: Any) -> None:
    """On the Audit trail page at 1280 px the "Action" label sat about 2 px lower than
    Actor, Case, From and To (and those two 1 px higher than Actor): the fields are aligned
    at their bottoms, and a select and a date field are not as tall as a text field."""
    home = fake_homes("filter-alignment")
    with fake_server(home.settings) as url:
        for width in (1280, 390):
            context = browser.new_context(
                viewport={"width": width, "height": 900},
                extra_http_headers=home.auth("admin1"),
            )
            page = context.new_page()
            page.goto(url + "/audit")
            shot(page, f"80-audit-filters-{width}")
            if width == 1280:  # one row: every label and field on the same lines
                edges = page.evaluate(EDGES, "form.filters")
                names = ["Actor", "Action", "Case", "From", "To", "Order"]
                assert [name for name, _, _ in edges] == names
                tops = {round(top, 1) for _, top, _ in edges}
                bottoms = {round(bottom, 1) for _, _, bottom in edges}
                assert len(tops) == 1 and len(bottoms) == 1, edges
            context.close()
