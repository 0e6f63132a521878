"""The supervisor's oversight page in Debian's chromium, on the fake pipeline: two weeks of an
organisation's searches (written into its trail at chosen times, plus one real search), the
alerts they raised, the plots drawn on the server shown under the page's CSP, and a search
linked from the page opening; what changed the gallery (the fake gallery's ingest, an ingest
killed midway and logged abandoned, one still running, a person named and another merged
into it) and its collection shared with another organisation, on a wide and a phone screen.

The screenshots go to test-artifacts/ (gitignored) for a person to look at.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from typing import Any

import httpx
import pytest
from tests.e2e.chromium import PASSWORD, launch, login, shot
from tests.fakes import face_photo

pytestmark = [pytest.mark.browser]

PARTNER = "harbour-police"  # an organisation the default one shares its collection with


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from launch()


def _two_weeks(home: Any) -> None:
    """sup1 (supervisor); a policy of 3 searches a day; 14 days of inv1's and inv2's
    searches (inv2's late at night), each run through the alert rules."""
    from facesearch.accountability import AccountabilityStore, Action, local_actor
    from facesearch.app.alerts import raise_alerts

    me = local_actor("tester")
    midnight = datetime.combine(datetime.now(UTC).date(), time(), tzinfo=UTC)
    clock = [midnight]
    with AccountabilityStore.open(home.home, clock=lambda: clock[0]) as store:
        store.accounts.add_user("sup1", "supervisor", PASSWORD, by=me)
        policy = {"max_searches_per_day": 3, "working_hours": "07:00-19:00"}  # (homes: 24 h)
        store.orgs.change("default", policy=policy, by=me)
        for day in range(14, 0, -1):
            hours = [9 + h for h in range(1 + day % 5)] + ([22] if day % 3 == 0 else [])
            for n, hour in enumerate(hours):
                clock[0] = midnight - timedelta(days=day) + timedelta(hours=hour)
                user = "inv2" if hour == 22 else "inv1"
                entry = store.audit.append(
                    actor=user,
                    action=Action.SEARCH,
                    case=f"K-{day % 4}",
                    payload={
                        "outcome": "ok",
                        "probe_sha256": f"{day % 6 + n:064x}",
                        "candidates": [{"face_id": 1, "rank": 1}],
                    },
                    org="default",
                )
                raise_alerts(store, entry)
        _ingest_runs(store, midnight, clock)
        store.orgs.add(PARTNER, by=me)
        store.accounts.add_user("psup", "supervisor", PASSWORD, by=me, org=PARTNER)


def _ingest_runs(store: Any, midnight: datetime, clock: list[datetime]) -> None:
    """Yesterday, inv1's ingest into "cctv" killed midway, its end logged by system:ingest
    (app.abandoned_runs); today, admin1's still running: their entries as app.ingest writes
    them."""
    from facesearch.accountability import Action

    base = {"collection": "cctv", "paths": ["cams.zip"], "paths_total": 1, "label_from_dir": False}
    clock[0] = midnight - timedelta(hours=10)
    start = {**base, "run_id": 90, "outcome": "started"}
    started = store.audit.append(actor="inv1", action=Action.INGEST, payload=start, org="default")
    clock[0] = midnight - timedelta(hours=9)
    error = "no end logged, and its process (pid 4242 on gallery-1) is gone"
    end = {**base, "run_id": 90, "outcome": "abandoned", "error": error}
    end |= {"started_entry": started.seq, "images_added": 40, "faces_added": 52, "failed": 1}
    store.audit.append(actor="system:ingest", action=Action.INGEST, payload=end, org="default")
    clock[0] = datetime.now(UTC)
    start = {**base, "run_id": 91, "outcome": "started"}
    store.audit.append(actor="admin1", action=Action.INGEST, payload=start, org="default")


def _gallery_changes(url: str, home: Any) -> None:
    """Through the API: admin1 shares the collection "default" with PARTNER; inv1 builds the
    persons, names one and merges another into it."""
    r = httpx.put(f"{url}/api/v1/collections/default/shares/{PARTNER}", headers=home.auth("admin1"))
    assert r.status_code == 200, r.text
    inv1 = home.auth("inv1")
    r = httpx.post(url + "/api/v1/people/build", headers=inv1, data={"collection": "default"})
    assert r.status_code == 200, r.text
    first, second = httpx.get(url + "/api/v1/people", headers=inv1).json()["people"][:2]
    person = f"{url}/api/v1/people/{first['person']}"
    r = httpx.post(person + "/name", headers=inv1, data={"name": "Maria Nowak"})
    assert r.status_code == 200, r.text
    r = httpx.post(person + "/merge", headers=inv1, data={"other": second["person"]})
    assert r.status_code == 200, r.text


def test_oversight_page(browser: Any, fake_homes: Any, fake_server: Any) -> None:
    home = fake_homes("oversight-page")
    _two_weeks(home)
    with fake_server(home.settings) as url:
        searches = []
        for case in ("K-1", "K-2"):  # one photo under two cases: a repeated probe
            r = httpx.post(
                url + "/api/v1/searches",
                headers=home.auth("inv1"),
                files={"image": ("p.png", face_photo(1, 0), "image/png")},
                data={"case": case, "purpose": "oversight page"},
                timeout=60,
            )
            assert r.status_code == 201, r.text
            searches.append(r.json()["id"])
        _gallery_changes(url, home)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        problems: list[str] = []
        page.on("pageerror", lambda exc: problems.append(str(exc)))
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        login(page, url, "sup1", "/oversight")
        assert page.locator("nav a.here").inner_text() == "Oversight"
        assert page.locator("#users svg.plot").count() == 2  # inv1, inv2
        hours = page.locator("#by-hour svg")
        assert hours.bounding_box()["width"] > 300  # type: ignore[index]
        rules = page.locator("#alerts tbody tr td:nth-child(3)").all_inner_texts()
        assert {"searches per day", "outside hours", "probe several cases"} <= set(rules)
        assert page.locator(f'#unreviewed a[href="/searches/{searches[0]}"]').count() == 0
        ingests = page.locator("#ingests tbody tr td:nth-child(5)").all_inner_texts()
        assert ingests[0] == "collection cctv: running (no end logged yet)"
        assert ingests[1] == (
            "collection cctv: 40 images, 52 faces added; 1 failed; abandoned: no end logged, "
            "and its process (pid 4242 on gallery-1) is gone; started by inv1"
        )
        assert re.fullmatch(r"collection default: (\d+) images, \1 faces added", ingests[2])
        sharing = page.locator("#sharing tbody tr").all_inner_texts()
        assert len(sharing) == 1 and "admin1" in sharing[0]
        assert f"collection default shared with organisation {PARTNER} (read-only)" in sharing[0]
        naming = page.locator("#naming tbody tr td:nth-child(5)").all_inner_texts()
        assert "merged into person" in naming[0] and naming[1].endswith("faces")
        assert naming[1].startswith("person ") and "named 'Maria Nowak'" in naming[1]
        shot(page, "60-oversight")
        page.set_viewport_size({"width": 390, "height": 844})
        page.locator("#naming").scroll_into_view_if_needed()
        wide = page.evaluate("document.documentElement.scrollWidth")
        assert wide <= 390, f"the page is {wide} px wide on a 390 px screen"
        what = page.locator("#ingests td.what").nth(1).bounding_box()
        assert what is not None and what["width"] > 300  # under the entry, not a thin column
        shot(page, "61-oversight-phone")
        page.set_viewport_size({"width": 1280, "height": 900})
        page.locator(f'#repeated-probes a[href="/searches/{searches[1]}"]').click()
        page.wait_for_url(re.compile(rf".*/searches/{searches[1]}$"))
        assert "K-2" in page.content()
        assert problems == []
        context.close()
        _partner_sees_the_share(browser, url)


def _partner_sees_the_share(browser: Any, url: str) -> None:
    """The supervisor of the organisation the collection was shared with sees the share, not
    who made it nor an entry to open (it is the owner's), on a phone."""
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    login(page, url, "psup", "/oversight")
    rows = page.locator("#sharing tbody tr")
    assert rows.count() == 1
    row = rows.first.inner_text()
    assert "collection default shared with this organisation (read-only)" in row
    assert "another organisation" in row and "admin1" not in row
    assert rows.first.locator("a").count() == 0
    assert page.locator("#ingests tbody tr").all_inner_texts() == ["No ingest in this period."]
    page.locator("#sharing").scroll_into_view_if_needed()
    shot(page, "62-oversight-partner-phone")
    context.close()
