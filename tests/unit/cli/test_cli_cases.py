"""``facesearch cases ...`` in this process on the fake pipeline: open, add a member, list,
close; a search under a closed or unknown case is refused in one line, and logged. (``cli``:
tests/unit/cli/conftest.py.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.fakes import write_photo
from tests.homes import Home

from facesearch.accountability import AccountabilityStore, Action


def test_cases_open_list_close_and_a_search_under_them(
    cli: Any, fake_homes: Any, tmp_path: Path
) -> None:
    home: Home = fake_homes("cli-cases")
    opened = cli(
        home.home, "cases", "open", "K-7", "--title", "Arson", "--legal-basis", "s. 3",
        "--member", "inv1", "--member", "inv2",
    )  # fmt: skip
    assert opened.code == 0, opened.err
    assert "K-7" in opened.out and "inv1, inv2" in opened.out
    assert cli(home.home, "cases", "add-member", "K-7", "aud1").code == 0
    listed = cli(home.home, "cases", "list", "--json")
    (case,) = [json.loads(line) for line in listed.out.splitlines()]
    assert case["number"] == "K-7" and case["status"] == "open"
    assert case["members"] == ["aud1", "inv1", "inv2"] and case["legal_basis"] == "s. 3"

    probe = write_photo(tmp_path, 1, 0)
    use = ("--case", "K-7", "--purpose", "p", "--top", "1")
    assert cli(home.home, "search", str(probe), *use).code == 0
    unknown = cli(home.home, "search", str(probe), "--case", "K-8", "--purpose", "p")
    assert unknown.code == 2 and unknown.err.count("\n") == 1 and "no case K-8" in unknown.err
    closed = cli(home.home, "cases", "close", "K-7")
    assert closed.code == 0 and "closed case K-7" in closed.out
    refused = cli(home.home, "search", str(probe), *use)
    assert refused.code == 2 and "case K-7 is closed" in refused.err
    again = cli(home.home, "cases", "close", "K-7")
    assert again.code == 2 and "closed" in again.err

    with AccountabilityStore.open(home.home) as store:
        reasons = [e.payload["reason"] for e in store.audit.entries(action=Action.CASE_REFUSED)]
        opened_entries = store.audit.entries(action=Action.CASE_OPEN)
    assert reasons == ["unknown", "closed"]
    assert [e.case for e in opened_entries] == ["K-7"]


def test_cases_report_writes_the_html_and_logs_it(
    cli: Any, fake_homes: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    from facesearch.reports import pdf

    home: Home = fake_homes("cli-case-report")
    assert cli(home.home, "cases", "open", "K-9", "--title", "Fraud", "--member", "inv1").code == 0
    probe = write_photo(tmp_path, 1, 0)
    assert cli(home.home, "search", str(probe), "--case", "K-9", "--purpose", "p").code == 0
    out = tmp_path / "report.html"
    ran = cli(home.home, "cases", "report", "K-9", "--out", str(out))
    assert ran.code == 0, ran.err
    page = out.read_text()
    assert "facesearch case report: K-9" in page and "data:image/jpeg;base64," in page
    monkeypatch.setattr(pdf, "find_chromium", lambda: None)
    missing = cli(home.home, "cases", "report", "K-9", "--out", str(tmp_path / "r.pdf"))
    assert missing.code == 2 and "need chromium" in missing.err
    assert not (tmp_path / "r.pdf").exists()
    unknown = cli(home.home, "cases", "report", "K-10", "--out", str(tmp_path / "x.html"))
    assert unknown.code == 2 and "no case K-10" in unknown.err
    with AccountabilityStore.open(home.home) as store:
        exports = store.audit.entries(action=Action.EXPORT, case="K-9")
        head = store.audit.head()
    assert [e.payload["what"] for e in exports] == ["case_report"]
    assert f"{head.seq}:{head.hash}" in page
