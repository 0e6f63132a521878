"""A new user's review of the web UI (the demo, every role, in Chromium), on the fake
pipeline: pages that tell the truth (a read limit is not an erasure, an empty oversight list
is not "every search has a verdict", why fewer candidates than asked), forms offered only to
whom may use them, and a typed-in /logout that says how to log out."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.fakes import FakePipeline, face_photo, no_face_photo
from tests.homes import PASSWORD
from tests.unit.server.test_analyst_ui import login

from facesearch.accountability import AccountabilityStore, local_actor
from facesearch.server import create_app

HTML = {"Accept": "text/html"}


@pytest.fixture(scope="module")
def home(fake_homes: Any) -> Any:
    """The fake gallery, its users (tests/homes.USERS) and the platform operator op1, a
    second operator op2 and a supervisor sup1."""
    made = fake_homes("ui-new-user")
    me = local_actor("tester")
    with AccountabilityStore.open(made.home) as store:
        for name, role, org in [
            ("op1", "operator", None),
            ("op2", "operator", None),
            ("sup1", "supervisor", "default"),
        ]:
            store.accounts.add_user(name, role, PASSWORD, by=me, org=org)
            made.tokens[name] = store.accounts.issue_token(name, by=me)
    return made


@pytest.fixture(scope="module")
def client(home: Any) -> Iterator[TestClient]:
    with TestClient(create_app(home.settings, pipelines=FakePipeline), follow_redirects=False) as c:
        yield c


def test_a_typed_in_logout_says_to_use_the_button(home: Any) -> None:
    """GET /logout (a bookmark, a typed address) answered a bare 405 page: it now says to use
    the Log out button, and shows one; logging out stays a POST with the CSRF token."""
    with TestClient(create_app(home.settings, pipelines=FakePipeline), follow_redirects=False) as c:
        csrf = login(c, "inv1")
        r = c.get("/logout", headers=HTML)
        assert r.status_code == 200, r.text
        assert "use the <b>Log out</b> button" in r.text
        form = re.search(r'<div class="panel" id="logout-how">.*?</div>', r.text, re.S)
        assert form and 'method="post" action="/logout"' in form[0] and csrf in form[0]
        assert c.get("/gallery", headers=HTML).status_code == 200  # still logged in
        assert c.post("/logout", headers=HTML).status_code == 403  # no CSRF token
        r = c.post("/logout", headers=HTML, data={"csrf_token": csrf})
        assert r.status_code == 303 and r.headers["location"] == "/login"
        r = c.get("/logout", headers=HTML)
        assert r.status_code == 303 and r.headers["location"].startswith("/login")


def password_forms(text: str) -> set[str]:
    """The users whose row on the Users page has the one-time password form."""
    form = r'<form class="set-password" method="post" action="/users/([^/"]+)/'
    return set(re.findall(form, text))


def test_the_users_page_offers_a_password_only_where_it_may_be_set(
    client: TestClient, home: Any
) -> None:
    """The operator's Users page offered "one-time password / Set" on every row, and setting
    one on an investigator's, an auditor's or a supervisor's answered "the platform operator
    may not set a password on an investigator's account": the form is now on the rows of
    admins and other operators only (the app's rule, accounts.may_set_password); an admin's
    page still has it on every row but their own."""
    r = client.get("/users", headers=home.auth("op1") | HTML)
    assert r.status_code == 200, r.text
    assert password_forms(r.text) == {"admin1", "op2"}
    r = client.post("/users/inv1/password", headers=home.auth("op1") | HTML, data={"password": "x"})
    assert r.status_code == 403  # the rule itself is unchanged
    r = client.get("/users", headers=home.auth("admin1") | HTML)
    assert r.status_code == 200, r.text
    shown = password_forms(r.text)
    assert {"inv1", "aud1", "sup1"} <= shown and "admin1" not in shown


def test_oversight_does_not_claim_every_search_has_a_verdict(client: TestClient, home: Any) -> None:
    """Oversight said "Every search with candidates has a verdict." while searches under a day
    old had none (listed only once overdue): the empty list now says what is true."""
    r = client.post(
        "/api/v1/searches",
        headers=home.auth("inv1"),
        files={"image": ("p.png", face_photo(1, 0), "image/png")},
        data={"case": "K-new-user", "purpose": "a new user's review"},
    )
    assert r.status_code == 201 and r.json()["faces"][0]["hits"], r.text
    r = client.get("/oversight", headers=home.auth("sup1") | HTML)
    assert r.status_code == 200, r.text
    table = re.search(r'<table id="unreviewed".*?</table>', r.text, re.S)
    assert table, r.text
    assert "has a verdict" not in table[0]
    assert "No search with candidates has waited over a day for a verdict." in table[0]


def note_of(text: str) -> str:
    found = re.search(r'<p class="small candidates-note"[^>]*>(.*?)</p>', text, re.S)
    assert found, text
    return found[1]


def test_the_result_page_says_what_bounded_the_candidates(client: TestClient, home: Any) -> None:
    """A top-10 search with max_fmr=1e-3 showed fewer than 10 cards and no reason why: the
    page now says the threshold and false match rate that bounded them, and that the rest
    fall below it; a search without a threshold says none was set."""
    r = client.post(
        "/api/v1/searches",
        headers=home.auth("inv1"),
        files={"image": ("p.png", face_photo(1, 0), "image/png")},
        data={"case": "K-new-user", "purpose": "a capped search", "top": "10", "max_fmr": "1e-3"},
    )
    assert r.status_code == 201, r.text
    search = r.json()
    found = len(search["faces"][0]["hits"])
    assert 1 <= found < 10, search
    page = client.get(f"/searches/{search['id']}", headers=home.auth("inv1") | HTML)
    assert page.status_code == 200, page.text
    note = note_of(page.text)
    threshold = f"{search['threshold']:.3f}"
    plural = "candidate" if found == 1 else "candidates"
    assert note == (
        f"{found} {plural} at or above similarity {threshold} (false match rate ≈ 1 in 1,000); "
        "fewer than the 10 asked because the rest fall below it."
    ), note
    r = client.post(
        "/api/v1/searches",
        headers=home.auth("inv1"),
        files={"image": ("p.png", face_photo(1, 0), "image/png")},
        data={"case": "K-new-user", "purpose": "an uncapped search", "top": "3"},
    )
    assert r.status_code == 201, r.text
    page = client.get(f"/searches/{r.json()['id']}", headers=home.auth("inv1") | HTML)
    assert note_of(page.text) == (
        "3 candidates, the most similar faces; no similarity threshold was set."
    )


def test_one_candidate_is_not_one_candidates() -> None:
    from facesearch.server.views import candidates_note

    assert candidates_note(1, 10, 0.5, "≈ 1 in 1,000").startswith("1 candidate at or above")
    assert candidates_note(10, 10, 0.5, "").endswith("similarity 0.500, the 10 asked.")


def test_the_search_page_counts_one_candidate(client: TestClient, home: Any) -> None:
    """The Search page's recent searches said "1 candidates"."""
    r = client.post(
        "/api/v1/searches",
        headers=home.auth("inv2"),
        files={"image": ("p.png", face_photo(2, 0), "image/png")},
        data={"case": "K-new-user", "purpose": "one candidate", "top": "1"},
    )
    assert r.status_code == 201, r.text
    text = client.get("/search", headers=home.auth("inv2") | HTML).text
    assert "· 1 candidate</span>" in text and "1 candidates" not in text


def test_a_result_card_shows_the_strangers_expected(client: TestClient, home: Any) -> None:
    """The strangers expected at a candidate's score were only in a hover tooltip (invisible
    on a phone), while README says the grid shows them: each card now says it in a few words,
    the full sentence staying on hover and on the candidate page."""
    from facesearch.server.formatting import strangers_short

    assert strangers_short(0.0012) == "< 0.01 strangers expected"
    assert strangers_short(0.0234) == "≈ 0.02 strangers expected"
    assert strangers_short(1.001) == "≈ 1 stranger expected"
    assert strangers_short(1234.4) == "≈ 1,234 strangers expected"
    r = client.post(
        "/api/v1/searches",
        headers=home.auth("inv1"),
        files={"image": ("p.png", face_photo(3, 0), "image/png")},
        data={"case": "K-new-user", "purpose": "strangers on the card", "top": "5"},
    )
    assert r.status_code == 201, r.text
    hits = r.json()["faces"][0]["hits"]
    text = client.get(f"/searches/{r.json()['id']}", headers=home.auth("inv1") | HTML).text
    shown = re.findall(r'<div class="small muted strangers" title="[^"]*">([^<]+)</div>', text)
    assert [html.unescape(s) for s in shown] == [
        strangers_short(h["expected_false"]) for h in hits
    ], shown


def test_a_crop_tells_a_spent_read_limit_from_an_erased_photo(fake_homes: Any) -> None:
    """What the pages' script (static/app.js) asks when a crop does not load: a crop past the
    read limit answers 429 with Retry-After and the limit in words, an unknown (erased) face
    404; the script says "too many photos opened in the last minute" for the one and
    "erased" for the other only (tests/e2e/test_read_limit_crops.py)."""
    limited = fake_homes("ui-new-user-reads", server_read_rate_limit=2)
    who = limited.auth("inv1")
    with TestClient(create_app(limited.settings, pipelines=FakePipeline)) as c:
        assert c.get("/api/v1/faces/999999/crop", headers=who).status_code == 404
        assert c.get("/api/v1/faces/1/crop", headers=who).status_code == 200
        r = c.get("/api/v1/faces/1/crop", headers=who)
        assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1
        assert "at most 2 a minute" in r.json()["error"]["message"]
        assert c.get("/api/v1/faces/999999/crop", headers=who).status_code == 429


@pytest.mark.parametrize("trained", [True, False])
def test_a_refused_search_or_verification_keeps_case_and_purpose(
    fake_homes: Any, trained: bool
) -> None:
    """A refusal (no face found; the training not passed yet) answers the form again with
    the case number and purpose typed (a regression guard: the reviewer saw them cleared)."""
    made = fake_homes(f"ui-new-user-kept-{trained}", trained=trained)
    photo = no_face_photo() if trained else face_photo(1, 0)
    typed = {"case": "K-77", "purpose": "why this is needed"}
    with TestClient(create_app(made.settings, pipelines=FakePipeline)) as c:
        for path, files in [
            ("/search", {"photo": ("p.png", photo, "image/png")}),
            ("/verify", {"a": ("a.png", photo, "image/png"), "b": ("b.png", face_photo(1, 1))}),
        ]:
            r = c.post(path, headers=made.auth("inv1") | HTML, files=files, data=typed)
            assert r.status_code in (403, 422), r.text
            assert re.search(r'<input id="case"[^>]*value="K-77"', r.text), path
            assert re.search(r'<textarea id="purpose"[^>]*>why this is needed<', r.text), path
