"""The case page, its timeline JSON and the case report, on the fake pipeline: members,
admins and auditors see everything done under a case in order with links; anyone else (and
an unknown case) gets 404; the report is evidence (chain head, entry ids, the lead sentence,
crops inline) and is itself an ``export`` audit entry."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.fakes import FakePipeline, face_photo

from facesearch.reports import pdf
from facesearch.results import LEAD_NOTE
from facesearch.server import create_app

CASE = "K-page"


@pytest.fixture(scope="module")
def home(fake_homes: Any) -> Any:
    return fake_homes("case-page")


@pytest.fixture(scope="module")
def client(home: Any) -> Iterator[TestClient]:
    app = create_app(home.settings, pipelines=FakePipeline)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="module")
def work(client: TestClient, home: Any) -> dict[str, Any]:
    """Case K-page (member inv1) with a search, a decision on its first candidate and a
    second member added afterwards."""
    admin = home.auth("admin1")
    r = client.post(
        "/api/v1/cases",
        headers=admin,
        data={"number": CASE, "title": "Burglary", "member": "inv1"},
    )
    assert r.status_code == 201, r.text
    r = client.post(
        "/api/v1/searches",
        headers=home.auth("inv1"),
        files={"image": ("p.png", face_photo(1, 0), "image/png")},
        data={"case": CASE, "purpose": "case page test"},
    )
    assert r.status_code == 201, r.text
    search = r.json()
    face = search["faces"][0]["hits"][0]["face_id"]
    r = client.post(
        f"/api/v1/searches/{search['id']}/candidates/{face}/decisions",
        headers=home.auth("inv1"),
        data={"verdict": "possible_match", "note": "same scar"},
    )
    assert r.status_code in (200, 201), r.text
    r = client.post(f"/api/v1/cases/{CASE}/members", headers=admin, data={"name": "aud1"})
    assert r.status_code == 200, r.text
    return {"search": search["id"], "face": face}


def _search(client: TestClient, home: Any, who: str, person: int, case: str, purpose: str) -> Any:
    """A search by ``who`` of a photo of ``person`` under ``case`` (asserted made: 201)."""
    r = client.post(
        "/api/v1/searches",
        headers=home.auth(who),
        files={"image": ("p.png", face_photo(person, 0), "image/png")},
        data={"case": case, "purpose": purpose},
    )
    assert r.status_code == 201, r.text
    return r


def _timeline(client: TestClient, home: Any, who: str) -> Any:
    return client.get(f"/api/v1/cases/{CASE}/timeline", headers=home.auth(who))


def test_member_sees_the_timeline_in_order_with_links(
    client: TestClient, home: Any, work: dict[str, Any]
) -> None:
    r = _timeline(client, home, "inv1")
    assert r.status_code == 200, r.text
    events = r.json()["events"]
    actions = [e["action"] for e in events]
    assert actions == ["case_open", "search", "decision", "case_member_add"]
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs) and seqs[1] == work["search"]
    hrefs = [link["href"] for e in events for link in e["links"]]
    assert f"/searches/{work['search']}" in hrefs
    assert f"/searches/{work['search']}/candidates/{work['face']}" in hrefs
    assert f"/api/v1/audit/{work['search']}" in hrefs
    page = client.get(f"/cases/{CASE}", headers=home.auth("inv1"))
    assert page.status_code == 200
    assert page.text.index("case_open") < page.text.index(f'href="/searches/{work["search"]}"')
    assert f'href="/searches/{work["search"]}/candidates/{work["face"]}"' in page.text
    audit_link = f'href="/api/v1/audit/{work["search"]}"'
    assert audit_link not in page.text and f"audit entry {work['search']}" in page.text
    assert audit_link in client.get(f"/cases/{CASE}", headers=home.auth("aud1")).text
    listing = client.get("/cases", headers=home.auth("inv1"))
    assert listing.status_code == 200 and f'href="/cases/{CASE}"' in listing.text


def test_admins_and_auditors_see_it_others_get_404(
    client: TestClient, home: Any, work: dict[str, Any]
) -> None:
    for who in ("admin1", "aud1"):
        assert _timeline(client, home, who).status_code == 200
    hidden = _timeline(client, home, "inv2")
    unknown = client.get("/api/v1/cases/K-none/timeline", headers=home.auth("inv2"))
    assert hidden.status_code == unknown.status_code == 404
    assert hidden.json()["error"]["code"] == unknown.json()["error"]["code"] == "not_found"
    for path in (f"/cases/{CASE}", f"/cases/{CASE}/report", f"/cases/{CASE}/report.pdf"):
        assert client.get(path, headers=home.auth("inv2")).status_code == 404, path
    assert client.get("/cases/K-none", headers=home.auth("admin1")).status_code == 404
    assert CASE not in client.get("/cases", headers=home.auth("inv2")).text


def test_report_is_evidence_and_is_logged(
    client: TestClient, home: Any, work: dict[str, Any]
) -> None:
    r = client.get(f"/cases/{CASE}/report", headers=home.auth("inv1"))
    assert r.status_code == 200, r.text
    assert "img-src data:" in r.headers["content-security-policy"]
    exports = client.get(
        "/api/v1/audit", headers=home.auth("aud1"), params={"action": "export", "case": CASE}
    ).json()["items"]
    assert len(exports) == 1
    export = exports[0]
    assert export["actor"] == "inv1" and export["payload"]["what"] == "case_report"
    assert export["payload"]["entries"][1:3] == [work["search"], work["search"] + 1]
    assert f"{export['seq']}:{export['hash']}" in r.text  # the chain head the report made
    assert f"audit entry {work['search']} (search)" in r.text
    assert LEAD_NOTE in r.text
    assert "data:image/jpeg;base64," in r.text  # probe and candidate crops inline
    assert "possible match on candidate face" in r.text and "same scar" in r.text
    assert ": now possible match" in r.text  # the state each verdict led to
    assert "expected in" in r.text and "<th>false match rates</th>" in r.text
    again = client.get(f"/api/v1/cases/{CASE}/timeline", headers=home.auth("inv1")).json()
    assert again["events"][-1]["action"] == "export"


def test_pdf_without_chromium_is_503_and_logs_nothing(
    client: TestClient, home: Any, work: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pdf, "find_chromium", lambda: None)
    before = client.get("/api/v1/audit/head", headers=home.auth("aud1")).json()
    r = client.get(f"/cases/{CASE}/report.pdf", headers=home.auth("inv1"))
    assert r.status_code == 503
    assert "chromium" in r.text and "HTML report works" in r.text
    assert client.get("/api/v1/audit/head", headers=home.auth("aud1")).json() == before
    assert client.get(f"/cases/{CASE}/report", headers=home.auth("inv1")).status_code == 200


def test_a_hidden_case_s_pdf_is_404_without_chromium_too(
    client: TestClient, home: Any, work: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Access is decided before chromium is looked for: on a server without chromium, a user
    who may not see the case got 503 ("no chromium") where an unknown case's answer is 404."""
    monkeypatch.setattr(pdf, "find_chromium", lambda: None)
    for number in (CASE, "K-none"):
        r = client.get(f"/cases/{number}/report.pdf", headers=home.auth("inv2"))
        assert r.status_code == 404, number
    assert client.get(f"/cases/{CASE}/report.pdf", headers=home.auth("inv1")).status_code == 503


def test_a_hidden_case_answers_word_for_word_as_an_unknown_one(
    client: TestClient, home: Any, work: dict[str, Any]
) -> None:
    """No existence oracle in the message either: a non-member's answer for a case that
    exists said "no case K-... in the case registry", an unknown case's "no case K-..."."""
    for path in (
        "/api/v1/cases/{}/timeline",
        "/cases/{}",
        "/cases/{}/report",
        "/cases/{}/report.pdf",
    ):
        hidden = client.get(path.format(CASE), headers=home.auth("inv2"))
        unknown = client.get(path.format("K-none"), headers=home.auth("inv2"))
        assert hidden.status_code == unknown.status_code == 404, path
        assert hidden.text.replace(CASE, "K-none") == unknown.text, path


def test_a_case_number_with_a_slash_has_its_pages(client: TestClient, home: Any) -> None:
    """Case 2026/0042 was accepted, but its page, timeline, report and close answered
    404/405 (the routes took one path segment): only the CLI could reach it."""
    number = "2026/0042"
    admin = home.auth("admin1")
    r = client.post(
        "/api/v1/cases", headers=admin, data={"number": number, "title": "T", "member": "inv1"}
    )
    assert r.status_code == 201, r.text
    page = client.get("/cases", headers={**admin, "Accept": "text/html"}).text
    assert 'href="/cases/2026/0042"' in page
    r = client.get(f"/cases/{number}", headers={**admin, "Accept": "text/html"})
    assert r.status_code == 200 and "2026/0042" in r.text, r.text
    r = client.get(f"/api/v1/cases/{number}/timeline", headers=home.auth("inv1"))
    assert r.status_code == 200 and r.json()["case"]["number"] == number, r.text
    r = client.get(f"/cases/{number}/report", headers=admin)
    assert r.status_code == 200 and "2026/0042" in r.text
    r = client.post(f"/api/v1/cases/{number}/members", headers=admin, data={"name": "inv2"})
    assert r.status_code == 200, r.text
    r = client.post(f"/api/v1/cases/{number}/close", headers=admin)
    assert r.status_code == 200 and r.json()["status"] == "closed", r.text
    for bad in ("2026//42", "a/../b", "./x", "K-1/report", "K-1/Timeline", "K/", ".", ".."):
        r = client.post("/api/v1/cases", headers=admin, data={"number": bad, "title": "T"})
        assert r.status_code == 422, (bad, r.text)


def test_the_timeline_says_what_each_verdict_led_to(
    client: TestClient, home: Any, work: dict[str, Any]
) -> None:
    """The timeline and the report listed "possible_match" twice and never said the
    candidate ended confirmed."""
    admin = home.auth("admin1")
    r = client.post(f"/api/v1/cases/{CASE}/members", headers=admin, data={"name": "inv2"})
    assert r.status_code == 200, r.text
    r = client.post(
        f"/api/v1/searches/{work['search']}/candidates/{work['face']}/decisions",
        headers=home.auth("inv2"),
        data={"verdict": "possible_match", "note": "ears too"},
    )
    assert r.status_code in (200, 201), r.text
    events = _timeline(client, home, "inv1").json()["events"]
    decisions = [e["summary"] for e in events if e["action"] == "decision"]
    assert decisions[0].startswith("possible match on candidate face")
    assert ": now possible match" in decisions[0] and ": now confirmed" in decisions[-1]


def test_the_operator_is_not_offered_to_open_a_case(client: TestClient, home: Any) -> None:
    """The platform operator, of no organisation and a member of no case, was offered "Open
    a case" on the Cases page."""
    from tests.homes import PASSWORD

    from facesearch.accountability import AccountabilityStore, local_actor

    me = local_actor("tester")
    with AccountabilityStore.open(home.home) as store:
        store.accounts.add_user("op9", "operator", PASSWORD, by=me, org=None)
        token = store.accounts.issue_token("op9", by=me)
    page = client.get("/cases", headers={"Authorization": f"Bearer {token}", "Accept": "text/html"})
    assert page.status_code == 200 and "Open a case" not in page.text
    admin = client.get("/cases", headers={**home.auth("admin1"), "Accept": "text/html"})
    assert "Open a case" in admin.text


def test_verdict_buttons_show_only_to_whom_may_use_them(
    client: TestClient, home: Any, work: dict[str, Any]
) -> None:
    """An admin who is not a member of the case saw "Mark possible match" and "Reject",
    then got "admin1 is not a member of case ..." on clicking."""
    path = f"/searches/{work['search']}/candidates/{work['face']}"
    admin = client.get(path, headers={**home.auth("admin1"), "Accept": "text/html"}).text
    assert 'id="no-verdict"' in admin and "not a member" in admin and 'id="reject"' not in admin
    member = client.get(path, headers={**home.auth("inv1"), "Accept": "text/html"}).text
    assert 'id="reject"' in member and 'id="no-verdict"' not in member


def test_a_member_opens_every_search_of_the_case_the_report_shows_them(fake_homes: Any) -> None:
    """A case member read another member's search in the case report (its probe and candidate
    crops inline), while the search's own page, which the case page links to, answered them
    404. A search is now seen by the members of its case too; an investigator who is not one
    still gets the 404 of a search that does not exist."""
    home = fake_homes("case-member-search")
    with TestClient(create_app(home.settings, pipelines=FakePipeline)) as client:
        r = client.post(
            "/api/v1/cases",
            headers=home.auth("admin1"),
            data={"number": "K-team", "title": "Team", "member": ["inv1", "ghost"]},
        )
        assert r.status_code == 201, r.text
        r = _search(client, home, "inv1", 1, "K-team", "team work")
        search = r.json()
        face = search["faces"][0]["hits"][0]["face_id"]
        client.post(
            "/api/v1/cases/K-team/members", headers=home.auth("admin1"), data={"name": "inv2"}
        ).raise_for_status()
        report = client.get("/cases/K-team/report", headers=home.auth("inv2"))
        assert report.status_code == 200 and "data:image" in report.text
        for path in (
            f"/api/v1/searches/{search['id']}",
            f"/searches/{search['id']}",
            f"/searches/{search['id']}/candidates/{face}",
            f"/api/v1/searches/{search['id']}/probe",
        ):
            assert client.get(path, headers=home.auth("inv2")).status_code == 200, path
        client.post(
            "/api/v1/cases",
            headers=home.auth("admin1"),
            data={"number": "K-solo", "title": "Solo", "member": "inv1"},
        ).raise_for_status()
        r = _search(client, home, "inv1", 3, "K-solo", "alone")
        solo = r.json()["id"]
        hidden = client.get(f"/api/v1/searches/{solo}", headers=home.auth("inv2"))
        assert hidden.status_code == 404  # not a member of K-solo


def test_opening_a_case_of_a_number_seen_in_the_trail_opens_no_earlier_search(
    fake_homes: Any,
) -> None:
    """While a registry is empty a search may name any case number. An investigator who then
    opened a case of that number was its member, and so read the earlier search of another
    investigator: its page, its probe photo and, in the case report, its crops. A member sees
    what was done under the case once it was opened."""
    home = fake_homes("case-takeover")
    with TestClient(create_app(home.settings, pipelines=FakePipeline)) as client:
        r = _search(client, home, "inv1", 1, "2026/0042", "free text case")
        earlier = r.json()["id"]
        opened = client.post(
            "/api/v1/cases", headers=home.auth("inv2"), data={"number": "2026/0042", "title": "x"}
        )
        assert opened.status_code == 201, opened.text
        for path in (f"/api/v1/searches/{earlier}", f"/api/v1/searches/{earlier}/probe"):
            assert client.get(path, headers=home.auth("inv2")).status_code == 404, path
        timeline = client.get("/api/v1/cases/2026/0042/timeline", headers=home.auth("inv2"))
        assert timeline.status_code == 200, timeline.text
        assert [e["action"] for e in timeline.json()["events"]] == ["case_open"]
        report = client.get("/cases/2026/0042/report", headers=home.auth("inv2"))
        assert report.status_code == 200 and "data:image" not in report.text
        admin = client.get("/api/v1/cases/2026/0042/timeline", headers=home.auth("admin1"))
        assert [e["action"] for e in admin.json()["events"]][:2] == ["search", "case_open"]
