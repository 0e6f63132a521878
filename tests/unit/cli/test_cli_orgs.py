"""Organisations from the CLI on the fake pipeline: ``facesearch orgs``, ``--org`` on users,
cases, ingest and search; each organisation searches its own and shared collections only.
(``cli``: tests/unit/cli/conftest.py.)"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from tests.fakes import write_photo
from tests.homes import Home

from facesearch.accountability import AccountabilityStore, Action
from facesearch.cli.common import split_org

PASSWORD = "correct horse battery staple 42"


def _searched(ran: Any) -> set[str]:
    """The collections a ``search --json`` covered."""
    assert ran.code == 0, ran.err
    return {c["name"] if isinstance(c, dict) else c for c in json.loads(ran.out)["collections"]}


def test_split_org_takes_the_option_anywhere_and_leaves_the_rest() -> None:
    assert split_org(["cases", "open", "K-1", "--org", "police", "--title", "t"]) == (
        ["cases", "open", "K-1", "--title", "t"],
        "police",
    )
    assert split_org(["--org=customs", "users", "list"]) == (["users", "list"], "customs")
    assert split_org(["search", "x.jpg"]) == (["search", "x.jpg"], None)
    assert split_org(["search", "--", "--org"]) == (["search", "--", "--org"], None)


def test_two_organisations_each_search_their_own_collections_and_shares(
    cli: Any, fake_homes: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home: Home = fake_homes("cli-orgs", users=False)  # its gallery is default's
    h = home.home
    assert cli(h, "orgs", "add", "police", "--quota-faces", "1000").code == 0
    added = cli(h, "orgs", "add", "customs", "--policy", "max_fmr=1e-4")
    assert added.code == 0 and "max_fmr=0.0001" in added.out
    assert cli(h, "orgs", "add", "POLICE").code == 2  # names ignore case
    bad = cli(h, "orgs", "add", "x", "--policy", "max_fmr=2")
    assert bad.code == 2 and "max_fmr" in bad.err
    for name, org in (("ana", "police"), ("ivo", "police"), ("cid", "customs")):
        monkeypatch.setattr("sys.stdin", io.StringIO(PASSWORD + "\n"))
        role = "admin" if name == "ana" else "investigator"
        ran = cli(h, "users", "add", name, "--role", role, "--org", org, "--password-stdin")
        assert ran.code == 0 and f"organisation {org}" in ran.out, ran.err
    listed = [json.loads(line) for line in cli(h, "users", "list", "--json").out.splitlines()]
    assert {u["name"]: u["org"] for u in listed} == {
        "ana": "police",
        "ivo": "police",
        "cid": "customs",
    }

    police, customs = tmp_path / "p", tmp_path / "c"
    for person in (1, 2):
        write_photo(police, person, 0)
        write_photo(customs, person + 2, 0)
    assert cli(h, "ingest", str(police), "--org", "police").code == 0
    assert cli(h, "--org", "customs", "ingest", str(customs), "--collection", "cust").code == 0
    taken = cli(h, "ingest", str(customs), "--org", "customs", "--collection", "police")
    assert taken.code == 2 and "belongs to another organisation" in taken.err

    for org in ("police", "customs"):
        opened = cli(h, "cases", "open", "K-1", "--org", org, "--title", org)
        assert opened.code == 0, opened.err
    (case,) = [
        json.loads(x)
        for x in cli(h, "cases", "list", "--json", "--org", "police").out.split("\n")
        if x
    ]
    assert case["title"] == "police"

    probe = write_photo(tmp_path / "probe", 1, 1)
    use = ("search", str(probe), "--case", "K-1", "--purpose", "p", "--json")
    assert _searched(cli(h, *use, "--org", "police")) == {"police"}
    assert _searched(cli(h, *use, "--org", "customs")) == {"cust"}
    default = cli(h, "search", str(probe), "--case", "free text", "--purpose", "p", "--json")
    assert "default" in _searched(default)  # the gallery of the home from before: default's
    typo = cli(h, *use, "--org", "polize")
    assert typo.code == 2 and "no organisation polize" in typo.err
    assert _searched(cli(h, *use, "--org", "POLICE")) == {"police"}  # names ignore case
    unseen = cli(h, *use, "--org", "customs", "--collection", "police")
    assert unseen.code == 2 and "no collection named 'police'" in unseen.err

    assert cli(h, "orgs", "share", "police", "--with", "customs", "--org", "police").code == 0
    assert _searched(cli(h, *use, "--org", "customs")) == {"cust", "police"}
    not_theirs = cli(h, "orgs", "share", "police", "--with", "customs", "--org", "customs")
    assert not_theirs.code == 2 and "no collection police" in not_theirs.err
    assert cli(h, "orgs", "unshare", "police", "--with", "customs", "--org", "police").code == 0
    assert _searched(cli(h, *use, "--org", "customs")) == {"cust"}

    with AccountabilityStore.open(h) as store:
        searches = store.audit.entries(org="customs", action=Action.SEARCH, limit=None)
        grants = store.audit.entries(org="police", action=Action.COLLECTION_GRANT, limit=None)
        police_entries = store.audit.entries(org="police", limit=None)
    assert len(searches) == 4 and all(e.org == "customs" for e in searches)  # 1 refused
    assert [g.payload["to"] for g in grants] == ["customs"]
    assert not any(e.org == "customs" for e in police_entries)
    assert {e.org for e in police_entries} == {"police"}  # as the organisation spells it


def test_orgs_list_shows_cases_required_in_force_once_the_registry_holds_a_case(
    cli: Any, fake_homes: Any
) -> None:
    h = fake_homes("cli-orgs-cases", users=False).home
    assert "cases_required=False," in cli(h, "orgs", "list").out  # default's: none kept yet
    assert cli(h, "cases", "open", "K-1", "--title", "t").code == 0
    line = cli(h, "orgs", "list").out
    assert "cases_required=True (the registry holds cases; policy False)" in line
    (shown,) = [json.loads(x) for x in cli(h, "orgs", "list", "--json").out.splitlines()]
    assert shown["cases_required"] is True and shown["policy"]["cases_required"] is False
    off = cli(h, "orgs", "set", "default", "--policy", "cases_required=false")
    assert off.code == 2 and "cannot take effect" in off.err and "holds cases" in off.err
