"""A demanding user's review of the web UI, on the fake pipeline: what each role's pages offer
it (no button to a page it may not open), what a page says where it shows a match, and a form
that keeps what was typed into it after a refusal."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.fakes import FakePipeline, face_photo
from tests.homes import PASSWORD

from facesearch.accountability import AccountabilityStore, local_actor
from facesearch.results import LEAD_NOTE
from facesearch.server import create_app

HTML = {"Accept": "text/html"}
CASE = "K-review-ui"


@pytest.fixture(scope="module")
def home(fake_homes: Any) -> Any:
    return fake_homes("ui-review")


@pytest.fixture(scope="module")
def client(home: Any) -> Iterator[TestClient]:
    with TestClient(create_app(home.settings, pipelines=FakePipeline), follow_redirects=False) as c:
        yield c


def page(client: TestClient, home: Any, who: str, path: str) -> str:
    r = client.get(path, headers=home.auth(who) | HTML)
    assert r.status_code == 200, r.text
    return r.text


@pytest.fixture(scope="module")
def work(client: TestClient, home: Any) -> dict[str, Any]:
    """Case CASE (member inv1): a search, a verdict on its first candidate, a verification."""
    r = client.post(
        "/api/v1/cases",
        headers=home.auth("admin1"),
        data={"number": CASE, "title": "Review", "member": "inv1"},
    )
    assert r.status_code == 201, r.text
    use = {"case": CASE, "purpose": "ui review"}
    r = client.post(
        "/api/v1/searches",
        headers=home.auth("inv1"),
        files={"image": ("p.png", face_photo(1, 0), "image/png")},
        data=use,
    )
    assert r.status_code == 201, r.text
    search = r.json()["id"]
    face = r.json()["faces"][0]["hits"][0]["face_id"]
    r = client.post(
        f"/api/v1/searches/{search}/candidates/{face}/decisions",
        headers=home.auth("inv1"),
        data={"verdict": "possible_match", "note": "same scar"},
    )
    assert r.status_code in (200, 201), r.text
    r = client.post(
        "/api/v1/verifications",
        headers=home.auth("inv1"),
        files={"a": ("a.png", face_photo(1, 0)), "b": ("b.png", face_photo(1, 1))},
        data=use,
    )
    assert r.status_code == 201, r.text
    return {"search": search, "face": face}


def test_the_candidate_history_scrolls_inside_its_panel(
    client: TestClient, home: Any, work: dict[str, Any]
) -> None:
    """On a phone the six-column history table pushed the whole candidate page 100 px wider
    than the screen (every other table of the UI scrolls inside a .scroll box)."""
    text = page(client, home, "inv1", f"/searches/{work['search']}/candidates/{work['face']}")
    assert re.search(r'<div class="scroll">\s*<table id="history">', text), text


def test_only_a_searcher_is_offered_a_new_search(
    client: TestClient, home: Any, work: dict[str, Any]
) -> None:
    """An auditor or an admin reading a search was offered "New search", a link to a page that
    answers them 403."""
    path = f"/searches/{work['search']}"
    assert 'href="/search"' in page(client, home, "inv1", path)
    for who in ("aud1", "admin1"):
        assert 'href="/search"' not in page(client, home, who, path), who


def test_an_organisations_gallery_overview_has_no_blank_counts(fake_homes: Any) -> None:
    """The overview of an organisation that sees only some collections read "Subjects
    (labels)" with no number, "Ingest runs ( files failed)" and "Erasure blocklist entries":
    its stats leave out the catalog-wide counts, and the page printed them blank."""
    made = fake_homes("ui-review-org-gallery")
    me = local_actor("tester")
    with AccountabilityStore.open(made.home) as store:
        store.orgs.add("customs", by=me)
        store.accounts.add_user("cad", "admin", PASSWORD, by=me, org="customs")
        made.tokens["cad"] = store.accounts.issue_token("cad", by=me)
    with TestClient(create_app(made.settings, pipelines=FakePipeline)) as c:
        for who in ("cad", "admin1"):
            text = page(c, made, who, "/gallery")
            stats = text[text.index('id="stats"') : text.index("</dl>")]
            assert not re.search(r"<dd>\s*(\(|entries)", stats), (who, stats)
            assert not re.search(r"<dd>\s*</dd>", stats), (who, stats)
        # the default organisation owns every collection: it still sees the catalog's counts
        assert "Erasure blocklist" in page(c, made, "admin1", "/gallery")


def test_the_case_page_calls_a_match_a_lead(
    client: TestClient, home: Any, work: dict[str, Any]
) -> None:
    """The case page listed the candidates marked and the verifications made under the case
    without the lead caution, and wrote a verification at the threshold as "1:1 verification:
    same person, similarity 0.99812..." (the Verify page says "possibly the same person ...
    a lead for a human to check")."""
    for where in (f"/cases/{CASE}", f"/cases/{CASE}/report"):
        text = page(client, home, "inv1", where)
        assert LEAD_NOTE in text, where
        assert "same person, similarity" not in text, where
        verify = re.search(r"1:1 verification: ([^<]*)", text)
        assert verify, where
        assert "possibly the same person (a lead to check)" in verify.group(1), where
        assert re.search(r"similarity \d\.\d{3}$", verify.group(1)), verify.group(1)


def _role_options(text: str) -> list[tuple[str, bool]]:
    select = text[
        text.index('<select id="role"') : text.index("</select>", text.index('id="role"'))
    ]
    return [(v, bool(sel)) for v, sel in re.findall(r'<option value="(\w+)"( selected)?', select)]


def test_the_operator_is_offered_only_the_roles_it_may_add(client: TestClient, home: Any) -> None:
    """The operator's "Add a user" form offered every role and chose "auditor" for it, which
    the operator may not add: the first try of a new operator always failed, with "may not add
    a auditor's account"."""
    me = local_actor("tester")
    with AccountabilityStore.open(home.home) as store:
        store.accounts.add_user("op1", "operator", PASSWORD, by=me, org=None)
        home.tokens["op1"] = store.accounts.issue_token("op1", by=me)
    assert _role_options(page(client, home, "op1", "/users")) == [
        ("admin", True),
        ("operator", False),
    ]
    offered = _role_options(page(client, home, "admin1", "/users"))
    assert "operator" not in dict(offered) and dict(offered)["auditor"]  # least privilege first
    r = client.post(
        "/users",
        headers=home.auth("op1") | HTML,
        data={"name": "newaud", "role": "auditor", "password": PASSWORD + " x", "org": "default"},
    )
    assert "may not add an auditor&#39;s account" in r.text, r.text


def test_a_failed_login_keeps_the_name_typed(client: TestClient) -> None:
    """After a mistyped password the login form came back empty: the user typed their name
    again each time. The name stays (the password never comes back)."""
    form = client.get("/login").text
    token = re.search(r'name="login_token" value="([^"]*)"', form)
    assert token
    r = client.post(
        "/login", data={"name": "inv1", "password": "not the password", "login_token": token[1]}
    )
    assert r.status_code == 401 and "wrong password" in r.text
    assert re.search(r'<input id="name" name="name"[^>]* value="inv1"', r.text), r.text
    assert re.search(r'<input id="password"[^>]* autofocus', r.text)
    assert "not the password" not in r.text


def test_a_refused_verdict_keeps_the_note_typed(
    client: TestClient, home: Any, work: dict[str, Any]
) -> None:
    """A verdict refused on the candidate page (here: a note with a control character in it)
    came back with an empty note: what the reviewer wrote about the comparison was lost."""
    note = "ears, hairline and the scar compared\x07"
    r = client.post(
        f"/searches/{work['search']}/candidates/{work['face']}",
        headers=home.auth("inv1") | HTML,
        data={"verdict": "rejected", "note": note},
    )
    assert 'class="error"' in r.text, r.text
    kept = re.search(r'<textarea id="note" name="note"[^>]*>([^<]*)</textarea>', r.text)
    assert kept and "ears, hairline and the scar compared" in kept[1], r.text


def test_a_persons_page_calls_the_grouping_a_lead(client: TestClient, home: Any) -> None:
    """The People page carries the lead caution, but a person's page (where "All photos of
    this person" on a search result leads) had only a small grey line; and its 'select'
    boxes all read "select" to a screen reader, whatever face they were under."""
    r = client.post(
        "/api/v1/people/build", headers=home.auth("inv1"), data={"collection": "default"}
    )
    assert r.status_code == 200, r.text
    people = client.get("/api/v1/people", headers=home.auth("inv1")).json()["people"]
    person = max(people, key=lambda p: p["count"])["person"]
    text = page(client, home, "inv1", f"/people/{person}")
    assert re.search(r'<p class="lead"[^>]*>[^<]*a lead to check, never an identification', text)
    boxes = re.findall(r'<input type="checkbox" name="face_id" value="(\d+)"[^>]*>', text)
    labels = re.findall(r'<input type="checkbox"[^>]* aria-label="select face (\d+)', text)
    assert len(boxes) > 1 and labels == boxes, text


def test_the_search_and_verify_pages_say_so_before_training(
    fake_homes: Any, client: TestClient, home: Any
) -> None:
    """An investigator who had not passed the training filled in the whole search form (photo,
    case, purpose) and only then learnt that a search is refused until the training is
    passed; the pages now say so before the form."""
    untrained = fake_homes("ui-review-untrained", trained=False)
    with TestClient(create_app(untrained.settings, pipelines=FakePipeline)) as c:
        for where in ("/search", "/verify"):
            text = page(c, untrained, "inv1", where)
            notice = re.search(
                r'<div class="error" role="status" id="training-due">(.*?)</div>', text
            )
            assert notice and 'href="/training"' in notice[1], (where, text)
            assert text.index('id="training-due"') < text.index("<form id=")
            r = c.post(
                where,
                headers=untrained.auth("inv1") | HTML,
                files={"photo": ("p.png", face_photo(1, 0), "image/png")},
                data={"case": "K-1", "purpose": "before the training"},
            )
            assert "must pass the training" in r.text and r.text.count("Training page</a>") == 1
    for where in ("/search", "/verify"):  # a trained investigator is told nothing
        assert 'id="training-due"' not in page(client, home, "inv1", where)
