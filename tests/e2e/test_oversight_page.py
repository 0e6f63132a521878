"""The supervisor's oversight page in Debian's chromium, on the fake pipeline: two weeks of an
organisation's searches (written into its trail at chosen times, plus one real search), the
alerts they raised, the plots drawn on the server shown under the page's CSP, and a search
linked from the page opening.

The screenshot goes to test-artifacts/ (gitignored) for a person to look at.
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
        shot(page, "60-oversight")
        page.locator(f'#repeated-probes a[href="/searches/{searches[1]}"]').click()
        page.wait_for_url(re.compile(rf".*/searches/{searches[1]}$"))
        assert "K-2" in page.content()
        assert problems == []
        context.close()
