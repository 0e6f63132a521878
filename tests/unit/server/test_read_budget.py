"""A read the reader may not make is refused (403) before it is charged: an auditor asking
for a gallery face's crop without ``?search=`` never spends their read budget (issue 8: the
restructured server charged the read first and answered 429 once the budget was spent)."""

from __future__ import annotations

from typing import Any

import httpx


def test_a_refused_gallery_read_is_not_charged(fake_homes: Any, fake_server: Any) -> None:
    home = fake_homes("read-budget", server_read_rate_limit=3)
    with fake_server(home.settings) as url, httpx.Client(base_url=url, timeout=60) as api:
        codes = [
            api.get("/api/v1/faces/1/crop", headers=home.auth("aud1")).status_code for _ in range(6)
        ]
        assert codes == [403] * 6, codes
        # the auditor's budget is untouched: their reads of the trail still work
        assert api.get("/api/v1/audit?limit=1", headers=home.auth("aud1")).status_code == 200
