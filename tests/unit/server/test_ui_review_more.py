"""More of a demanding user's review of the web UI, on the fake pipeline: refusals that read
as English, counts and empty states that make sense, no link to a page that has nothing for
its reader, and forms that start from the organisation's own collections."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient
from tests.fakes import FakePipeline, face_photo

from facesearch.server import create_app

HTML = {"Accept": "text/html"}


def page(client: TestClient, home: Any, who: str, path: str) -> str:
    r = client.get(path, headers=home.auth(who) | HTML)
    assert r.status_code == 200, r.text
    return r.text


def alert(text: str) -> str:
    found = re.search(r'<div class="error" role="alert">(.*?)</div>', text, re.S)
    assert found, text
    return found[1]


def test_a_training_refusal_names_the_training_page_once(fake_homes: Any) -> None:
    """The refusal of an investigator who had not passed the training read "... Take it on
    the Training page (/training) Open the Training page": the page named twice, the second
    time as a link glued on without a full stop."""
    untrained = fake_homes("ui-review-more-untrained", trained=False)
    with TestClient(create_app(untrained.settings, pipelines=FakePipeline)) as c:
        for where, photos in (("/search", ["photo"]), ("/verify", ["a", "b"])):
            r = c.post(
                where,
                headers=untrained.auth("inv1") | HTML,
                files={
                    n: (f"{n}.png", face_photo(1, i), "image/png") for i, n in enumerate(photos)
                },
                data={"case": "K-1", "purpose": "before the training"},
            )
            assert r.status_code == 403, r.text
            said = alert(r.text)
            assert said.endswith(
                'it is renewed every year. Take it on the <a href="/training">Training page</a>.'
            ), said
            assert said.count("Training page") == 1 and "(/training)" not in said, said
