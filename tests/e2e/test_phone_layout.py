"""Pages on a phone (390 x 844) in Debian's chromium, on the fake pipeline: no page is wider
than the screen (a wide table scrolls inside its own box, a long file name wraps), with a
gallery photo under a long file name and a candidate with a verdict.

Screenshots go to test-artifacts/ (gitignored) for a person to look at.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tests.e2e.chromium import launch, login, shot
from tests.fakes import face_photo
from tests.jobs import job_finished

pytestmark = [pytest.mark.browser]

PHONE = {"width": 390, "height": 844}
LONG_NAME = "Bruce_Van_De_Velde_Surveillance_Still_0001.png"  # no space to break at
WIDER = "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
# the text of a card that runs past the card's right edge
OUT_OF_CARD = """() => [...document.querySelectorAll('.card *')].filter(el => {
  const card = el.closest('.card').getBoundingClientRect();
  return el.getBoundingClientRect().right > card.right + 1;
}).map(el => el.textContent.trim())"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from launch()


def _ingest_long_name(url: str, home: Any) -> None:
    admin = home.auth("admin1")
    r = httpx.post(
        url + "/api/v1/ingest-jobs",
        headers=admin,
        files={"files": (LONG_NAME, face_photo(5, 7), "image/png")},
        data={"collection": "default"},
        timeout=60,
    )
    assert r.status_code == 202, r.text
    job = job_finished(lambda path: httpx.get(url + path, headers=admin), r.json(), 60)
    assert job["status"] == "completed" and job["images_added"] == 1, job


def _search_with_a_verdict(url: str, home: Any) -> tuple[int, int]:
    r = httpx.post(
        url + "/api/v1/searches",
        headers=home.auth("inv1"),
        files={"image": ("p.png", face_photo(5, 0), "image/png")},
        data={"case": "K-phone", "purpose": "phone layout"},
        timeout=60,
    )
    assert r.status_code == 201, r.text
    search, face = r.json()["id"], r.json()["faces"][0]["hits"][0]["face_id"]
    r = httpx.post(
        f"{url}/api/v1/searches/{search}/candidates/{face}/decisions",
        headers=home.auth("inv1"),
        data={"verdict": "possible_match", "note": "the same scar above the left eyebrow"},
        timeout=60,
    )
    assert r.status_code in (200, 201), r.text
    return search, face


def test_no_page_is_wider_than_a_phone(browser: Any, fake_homes: Any, fake_server: Any) -> None:
    """The candidate page was about 100 px wider than the phone (its history table did not
    scroll in a box of its own): the whole page slid sideways under the thumb. A long file
    name ran out of its face card in the gallery (it did not wrap), over the next card or past
    the screen's edge."""
    home = fake_homes("phone-layout")
    with fake_server(home.settings) as url:
        _ingest_long_name(url, home)
        search, face = _search_with_a_verdict(url, home)
        context = browser.new_context(viewport=PHONE)
        page = context.new_page()
        login(page, url, "inv1", "/search")
        wider, out = {}, {}
        for name, path in [
            ("faces", "/gallery/faces?subject=&labelled=no"),
            ("images", "/gallery/images?labelled=no"),
            ("result", f"/searches/{search}"),
            ("candidate", f"/searches/{search}/candidates/{face}"),
        ]:
            page.goto(url + path)
            shot(page, f"70-phone-{name}")
            wider[name] = page.evaluate(WIDER)
            out[name] = page.evaluate(OUT_OF_CARD)
        page.goto(url + "/gallery/faces?labelled=no")
        assert LONG_NAME in page.content()
        assert wider == dict.fromkeys(wider, 0), wider
        assert not any(out.values()), out
        context.close()


def test_the_erasure_refusal_fits_a_phone(
    browser: Any, fake_homes: Any, fake_server: Any, tmp_path: Any
) -> None:
    """The refusal of an erasure like a photo names FACESEARCH_ERASE_LIKE_MAX_STRANGERS, a
    word with no space to break at: on a phone it ran past its box and the screen's edge."""
    home = fake_homes("phone-erase", erase_like_max_strangers=1e-3)
    photo = tmp_path / "person-2.png"
    photo.write_bytes(face_photo(2, 7))
    with fake_server(home.settings) as url:
        context = browser.new_context(viewport=PHONE)
        page = context.new_page()
        login(page, url, "admin1", "/gallery/forget")
        page.set_input_files("#photo", str(photo))
        page.fill("#reason", "a data subject's request")
        page.click("#preview-button")
        page.wait_for_selector("#preview-refused")
        shot(page, "71-phone-erase-refused")
        assert page.locator("input[name=face_id]").count() >= 1
        assert page.evaluate(WIDER) == 0
        context.close()
