"""The oversight routes on the fake pipeline: a supervisor reads their organisation's dashboard
(JSON and page, plots inline, entries linked) and its alerts, with what changed the gallery
(ingests, persons named and merged) and the shares of collections, each side of a share seeing
its own; nobody else may; each alert is counted in ``/metrics``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.fakes import FakePipeline, face_photo
from tests.homes import PASSWORD

from facesearch.server import create_app

CASE = "K-over"
PARTNER = "partner"  # an organisation the default one shares its collection with
HTML = {"Accept": "text/html"}
PATHS = ("/api/v1/oversight", "/api/v1/alerts", "/oversight")


@pytest.fixture(scope="module")
def home(fake_homes: Any) -> Any:
    """The fake gallery's home with a supervisor, sup1, of its (default) organisation."""
    from facesearch.accountability import AccountabilityStore, local_actor

    made = fake_homes("oversight")
    me = local_actor("tester")
    with AccountabilityStore.open(made.home) as store:
        store.accounts.add_user("sup1", "supervisor", PASSWORD, by=me)
        made.tokens["sup1"] = store.accounts.issue_token("sup1", by=me)
    return made


@pytest.fixture(scope="module")
def client(home: Any) -> Iterator[TestClient]:
    app = create_app(home.settings, pipelines=FakePipeline)
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="module")
def work(client: TestClient, home: Any) -> dict[str, int]:
    """inv1 searches and marks the first candidate a possible match; inv2 confirms it with no
    note, which fires an alert (raised here too: the second time, it is not written twice)."""
    from facesearch.accountability import AccountabilityStore
    from facesearch.app.alerts import raise_alerts

    r = client.post(
        "/api/v1/searches",
        headers=home.auth("inv1"),
        files={"image": ("p.png", face_photo(1, 0), "image/png")},
        data={"case": CASE, "purpose": "oversight test"},
    )
    assert r.status_code == 201, r.text
    search = r.json()["id"]
    face = r.json()["faces"][0]["hits"][0]["face_id"]
    decisions = f"/api/v1/searches/{search}/candidates/{face}/decisions"
    for who, note in (("inv1", "same scar"), ("inv2", "")):
        r = client.post(
            decisions, headers=home.auth(who), data={"verdict": "possible_match", "note": note}
        )
        assert r.status_code in (200, 201), r.text
    with AccountabilityStore.open(home.home) as store:
        (confirmation,) = store.audit.entries(action="decision", limit=None)[-1:]
        assert confirmation.payload["status_after"] == "confirmed"
        raise_alerts(store, confirmation)
        raise_alerts(store, confirmation)
    return {"search": search, "decision": confirmation.seq}


def test_the_dashboard_json(client: TestClient, home: Any, work: dict[str, int]) -> None:
    r = client.get("/api/v1/oversight", headers=home.auth("sup1"), params={"days": 7})
    assert r.status_code == 200, r.text
    board = r.json()
    assert board["org"] == "default" and len(board["days"]) == 7
    (inv1,) = [u for u in board["users"] if u["user"] == "inv1"]
    assert inv1["today"] == 1 and inv1["per_day"][-1] == 1
    (alert,) = board["alerts"]
    assert alert["rule"] == "confirmation_without_note" and alert["subject"] == "inv2"
    assert alert["seqs"] == [work["decision"]]
    assert board["alert_counts"]["confirmation_without_note"] == 1
    items = client.get("/api/v1/alerts", headers=home.auth("sup1")).json()["items"]
    assert [a["seq"] for a in items] == [alert["seq"]]


def test_the_page_has_its_plots_and_links(
    client: TestClient, home: Any, work: dict[str, int]
) -> None:
    r = client.get("/oversight", headers={**home.auth("sup1"), "Accept": "text/html"})
    assert r.status_code == 200, r.text
    page = r.text
    assert 'href="/oversight"' in page  # the nav link of a supervisor
    assert (
        'aria-label="searches of inv1"' in page and 'aria-label="searches by hour of day"' in page
    )
    assert f'href="/api/v1/audit/{work["decision"]}"' in page  # the alert's decision
    assert "confirmation without note" in page
    assert "<script" not in page.split("</main>")[0]
    assert " style=" not in page  # the CSP allows no inline style
    nav = client.get("/cases", headers={**home.auth("inv1"), "Accept": "text/html"}).text
    assert 'href="/oversight"' not in nav


def test_only_supervisors(client: TestClient, home: Any, work: dict[str, int]) -> None:
    for who in ("inv1", "admin1", "aud1"):
        for path in PATHS:
            r = client.get(path, headers=home.auth(who))
            assert r.status_code == 403, (who, path)
            assert r.json()["error"]["code"] == "forbidden"
    for path in PATHS:
        assert client.get(path).status_code == 401
        r = client.get(path, headers=home.auth("sup1"), params={"days": 0})
        assert r.status_code == 422, path


def test_alerts_are_counted_in_the_metrics(
    client: TestClient, home: Any, work: dict[str, int]
) -> None:
    for _ in range(2):  # read twice: counted once
        text = client.get("/metrics", headers=home.auth("admin1")).text
        assert 'facesearch_alerts_total{rule="confirmation_without_note"} 1\n' in text
    assert "# TYPE facesearch_alerts_total counter" in text


@pytest.fixture(scope="module")
def changes(client: TestClient, home: Any, work: dict[str, int]) -> dict[str, Any]:
    """Through the API: admin1 shares the collection "default" with a new organisation,
    partner (whose supervisor is psup); inv1 builds the persons, names one Alice and merges
    another into her. The fake gallery's own ingest (by the local tester) is in the trail."""
    from facesearch.accountability import AccountabilityStore, local_actor

    me = local_actor("tester")
    with AccountabilityStore.open(home.home) as store:
        store.orgs.add(PARTNER, by=me)
        store.accounts.add_user("psup", "supervisor", PASSWORD, by=me, org=PARTNER)
        home.tokens["psup"] = store.accounts.issue_token("psup", by=me)
    r = client.put(f"/api/v1/collections/default/shares/{PARTNER}", headers=home.auth("admin1"))
    assert r.status_code == 200 and r.json()["changed"], r.text
    inv1 = home.auth("inv1")
    r = client.post("/api/v1/people/build", headers=inv1, data={"collection": "default"})
    assert r.status_code == 200, r.text
    first, second = client.get("/api/v1/people", headers=inv1).json()["people"][:2]
    named = client.post(
        f"/api/v1/people/{first['person']}/name", headers=inv1, data={"name": "Alice"}
    )
    assert named.status_code == 200, named.text
    merged = client.post(
        f"/api/v1/people/{first['person']}/merge", headers=inv1, data={"other": second["person"]}
    )
    assert merged.status_code == 200, merged.text
    return {"first": first, "second": second, "named": named.json(), "merged": merged.json()}


def test_the_gallery_changes_in_the_json(
    client: TestClient, home: Any, changes: dict[str, Any]
) -> None:
    board = client.get("/api/v1/oversight", headers=home.auth("sup1")).json()
    person, other = changes["first"]["person"], changes["second"]["person"]
    faces, moved = len(changes["first"]["faces"]), len(changes["second"]["faces"])
    assert [(r["actor"], r["summary"]) for r in board["naming"]] == [
        ("inv1", f"person {other} merged into person {person}, {moved} faces moved"),
        ("inv1", f"person {person} named 'Alice', {faces} faces"),
    ]
    (share,) = board["sharing"]
    assert (share["actor"], share["own"], share["summary"]) == (
        "admin1",
        True,
        f"collection default shared with organisation {PARTNER} (read-only)",
    )
    (ingest,) = board["ingests"]  # the fake gallery's, through app.ingest
    assert ingest["actor"] == "os:tester" and ingest["action"] == "ingest"
    assert re.fullmatch(r"collection default: (\d+) images, \1 faces added", ingest["summary"])
    # the receiving organisation's supervisor: the share, without who or whose
    theirs = client.get("/api/v1/oversight", headers=home.auth("psup")).json()
    assert theirs["org"] == PARTNER and theirs["ingests"] == theirs["naming"] == []
    assert theirs["sharing"] == [
        {
            **share,
            "actor": "",
            "own": False,
            "summary": "collection default shared with this organisation (read-only)",
        }
    ]


def test_the_page_shows_the_gallery_changes(
    client: TestClient, home: Any, changes: dict[str, Any]
) -> None:
    page = client.get("/oversight", headers={**home.auth("sup1"), **HTML}).text
    for table in ("ingests", "sharing", "naming"):
        assert f'<table id="{table}" class="entries">' in page
    assert "Persons named and merged" in page and "Collections shared and withdrawn" in page
    assert f"person {changes['first']['person']} named &#39;Alice&#39;" in page
    assert f"shared with organisation {PARTNER} (read-only)" in page
    board = client.get("/api/v1/oversight", headers=home.auth("sup1")).json()
    (share,) = board["sharing"]
    assert f'<a href="/api/v1/audit/{share["seq"]}">' in page
    # the receiving side: the seq unlinked (the entry is not theirs to read), no author
    theirs = client.get("/oversight", headers={**home.auth("psup"), **HTML}).text
    sharing = theirs.split('<table id="sharing" class="entries">')[1].split("</table>")[0]
    assert "shared with this organisation (read-only)" in sharing
    assert "another organisation" in sharing and "admin1" not in sharing
    assert "/api/v1/audit/" not in sharing
    r = client.get(f"/api/v1/audit/{share['seq']}", headers=home.auth("psup"))
    assert r.status_code in (403, 404)
