"""More of a demanding user's review of the web UI, on the fake pipeline: refusals that read
as English, counts and empty states that make sense, no link to a page that has nothing for
its reader, and forms that start from the organisation's own collections."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.fakes import FakePipeline, face_photo
from tests.homes import PASSWORD
from tests.jobs import job_finished

from facesearch.accountability import (
    AccountabilityStore,
    Actor,
    Permission,
    Role,
    can,
    local_actor,
    require,
)
from facesearch.errors import PermissionDeniedError
from facesearch.server import create_app
from facesearch.server.routes import approvals as approvals_routes

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


# every permission, as a refusal says it: "inv1 (investigator) may not <this>"
REFUSED = {
    Permission.SEARCH: "search the gallery",
    Permission.VERIFY: "verify two faces",
    Permission.DECIDE: "record a verdict on a candidate",
    Permission.READ_GALLERY: "read the gallery",
    Permission.INGEST: "ingest photos into the gallery",
    Permission.ERASE: "erase from the gallery",
    Permission.MANAGE_USERS: "manage users",
    Permission.MANAGE_SETTINGS: "manage the server's settings",
    Permission.READ_AUDIT: "read the audit trail",
    Permission.CURATE: "curate the people of a collection",
    Permission.SUPERVISE: "supervise the organisation's searches",
    Permission.SHARE: "share a collection with another organisation",
    Permission.SET_POLICY: "set the organisation's policies",
    Permission.MANAGE_ORGS: "manage organisations",
}


def test_every_refusal_of_a_permission_reads_as_english(fake_homes: Any) -> None:
    """A 403 page read "aud1 (auditor) may not read gallery", "... may not read audit",
    "... may not set policy": the permission's name with its underscore made a space."""
    assert set(REFUSED) == set(Permission)
    for permission, words in REFUSED.items():
        role = next(r for r in Role if not can(r, permission))
        with pytest.raises(PermissionDeniedError) as refused:
            require(Actor("someone", role), permission)
        assert str(refused.value) == f"someone ({role.value}) may not {words}"
    home = fake_homes("ui-review-more-refusals")
    with TestClient(create_app(home.settings, pipelines=FakePipeline)) as c:
        for who, path, words in [
            ("aud1", "/gallery", "read the gallery"),
            ("inv1", "/users", "manage users"),
            ("inv1", "/audit", "read the audit trail"),
            ("aud1", "/search", "search the gallery"),
            ("aud1", "/ingest", "ingest photos into the gallery"),
        ]:
            r = c.get(path, headers=home.auth(who) | HTML)
            assert r.status_code == 403, (path, r.text)
            role = "auditor" if who == "aud1" else "investigator"
            assert f"{who} ({role}) may not {words}" in r.text, (path, r.text)


def test_the_approvals_page_counts_the_decided_requests(
    fake_homes: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Approvals page headed its second table "Decided (the newest 0)" when nothing had
    been decided yet (and "the newest 1" for one): "the newest" only when the page leaves
    older ones out."""
    made = fake_homes("ui-review-more-approvals")
    me = local_actor("tester")
    with AccountabilityStore.open(made.home) as store:
        store.orgs.change("default", policy={"search_approval": True}, by=me)
        store.accounts.add_user("sup1", "supervisor", PASSWORD, by=me)
        made.tokens["sup1"] = store.accounts.issue_token("sup1", by=me)

    def heading(c: TestClient) -> str:
        text = page(c, made, "inv1", "/approvals")
        found = re.search(r'<h2>Decided <span class="small muted"[^>]*>([^<]*)</span>', text)
        assert found, text
        return found[1]

    with TestClient(create_app(made.settings, pipelines=FakePipeline)) as c:
        assert heading(c) == "(0)"
        for n in (1, 2):
            r = c.post(
                "/api/v1/search-requests",
                headers=made.auth("inv1"),
                files={"image": ("p.png", face_photo(n, 0), "image/png")},
                data={"case": "K-appr", "purpose": "approvals heading"},
            )
            assert r.status_code == 201, r.text
            seq = r.json()["id"]
            r = c.post(f"/api/v1/search-requests/{seq}/deny", headers=made.auth("sup1"))
            assert r.status_code == 200, r.text
            assert heading(c) == f"({n})"
        monkeypatch.setattr(approvals_routes, "SHOWN_DECIDED", 1)
        assert heading(c) == "(the newest 1 of 2)"


@pytest.fixture(scope="module")
def orgs_home(fake_homes: Any) -> Any:
    """The fake gallery with the platform operator op1 and a supervisor sup1; organisation
    customs, whose admin cad ingests into its own collections "mugshots" and "visas" (in
    ``orgs_client``); and harbour (admin had), which holds no collection yet."""
    made = fake_homes("ui-review-more-orgs")
    me = local_actor("tester")
    with AccountabilityStore.open(made.home) as store:
        store.orgs.add("customs", by=me)
        store.orgs.add("harbour", by=me)
        for name, role, org in [
            ("op1", "operator", None),
            ("sup1", "supervisor", "default"),
            ("cad", "admin", "customs"),
            ("had", "admin", "harbour"),
        ]:
            store.accounts.add_user(name, role, PASSWORD, by=me, org=org)
            made.tokens[name] = store.accounts.issue_token(name, by=me)
    return made


@pytest.fixture(scope="module")
def orgs_client(orgs_home: Any) -> Iterator[TestClient]:
    cad = orgs_home.auth("cad")
    with TestClient(create_app(orgs_home.settings, pipelines=FakePipeline)) as c:
        for n, collection in enumerate(["mugshots", "visas"]):
            r = c.post(
                "/api/v1/ingest-jobs",
                headers=orgs_home.auth("cad"),
                files={"files": ("m.png", face_photo(5, n), "image/png")},
                data={"collection": collection},
            )
            assert r.status_code == 202, r.text
            job = job_finished(lambda path: c.get(path, headers=cad), r.json(), 60, 0.1)
            assert job["status"] == "completed", job
        yield c


def test_the_operator_has_no_cases_link(orgs_client: TestClient, orgs_home: Any) -> None:
    """The platform operator (of no organisation) had "Cases" in its navigation, to a page
    that only said "You are a member of no case": it can never have one. Typed in, /cases
    says why."""
    for where in ("/orgs", "/users"):
        assert 'href="/cases"' not in page(orgs_client, orgs_home, "op1", where), where
    text = page(orgs_client, orgs_home, "op1", "/cases")
    assert re.search(r'<p class="muted" id="no-cases">[^<]*platform operator[^<]*</p>', text)
    assert "member of no case" not in text and "<table" not in text
    for who in ("admin1", "inv1", "aud1", "cad"):
        assert 'href="/cases"' in page(orgs_client, orgs_home, who, "/cases"), who


def test_the_orgs_page_and_api_show_cases_required_in_force(
    orgs_client: TestClient, orgs_home: Any
) -> None:
    """harbour's policy says cases are not required, but its registry holds a case, which
    requires them (``cases.refusal``): the page and the API show the rule in force."""
    me = local_actor("tester")
    with AccountabilityStore.open(orgs_home.home) as store:
        store.orgs.change("harbour", policy={"cases_required": False}, by=me)
        store.cases.open("H-1", "harbour's", by=local_actor("tester", org="harbour"))
    shown = orgs_client.get("/api/v1/orgs/harbour", headers=orgs_home.auth("had")).json()
    assert shown["cases_required"] is True and shown["policy"]["cases_required"] is False
    assert shown["cases_required_reason"] == "the registry holds cases"
    text = page(orgs_client, orgs_home, "had", "/orgs")
    assert 'True <span class="hint">(the registry holds cases; policy False)</span>' in text
    off = orgs_client.patch(
        "/api/v1/orgs/harbour", json={"cases_required": False}, headers=orgs_home.auth("had")
    )
    assert off.status_code == 422 and "cannot take effect" in off.text, off.text


class _Tables(HTMLParser):
    """Per table of a page: its id, how many header cells its head row has, and the colspan
    of each body cell that spans columns."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[dict[str, Any]] = []
        self._in_head = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table":
            self.tables.append({"id": a.get("id"), "headers": 0, "spans": []})
        elif tag == "thead":
            self._in_head = True
        elif tag == "th" and self._in_head:
            self.tables[-1]["headers"] += 1
        elif tag == "td" and a.get("colspan"):
            self.tables[-1]["spans"].append(int(a["colspan"] or 0))

    def handle_endtag(self, tag: str) -> None:
        if tag == "thead":
            self._in_head = False


def test_an_empty_tables_row_spans_every_column(orgs_client: TestClient, orgs_home: Any) -> None:
    """The Cases page's "no case" row spanned 5 of the 6 columns an admin sees (the column of
    the Add member and Close buttons): its box stopped short of the table's right edge. Every
    empty row of every table, on the pages that have one, spans all of its columns."""
    seen = 0
    for who, path in [
        ("admin1", "/cases"),
        ("aud1", "/cases"),
        ("inv2", "/cases"),
        ("inv1", "/approvals"),
        ("sup1", "/approvals"),
        ("sup1", "/oversight"),
        ("admin1", "/audit?actor=nobody-at-all"),
        ("admin1", "/ingest"),
        ("had", "/gallery"),
    ]:
        parser = _Tables()
        parser.feed(page(orgs_client, orgs_home, who, path))
        for table in parser.tables:
            for span in table["spans"]:
                seen += 1
                assert span == table["headers"], (who, path, table)
    assert seen >= 14
    # and the row says what it means to its reader: an admin sees every case of its own
    assert "No case has been opened yet." in page(orgs_client, orgs_home, "admin1", "/cases")
    assert "You are a member of no case." in page(orgs_client, orgs_home, "inv2", "/cases")


def test_the_people_page_of_no_collection_shows_only_that(
    orgs_client: TestClient, orgs_home: Any
) -> None:
    """The People page of an organisation that holds no collection showed an empty
    Collection list and a "Show" button above "Empty: ingest photos first.": a form with
    nothing to choose. Now only the empty state."""
    text = page(orgs_client, orgs_home, "had", "/people")
    main = text[text.index('<main id="main"') : text.index("</main>")]
    assert "<form" not in main and "<select" not in main and ">Show<" not in main, main
    assert re.search(r'<p class="muted" id="no-collection">Empty: ingest photos first.</p>', main)
    shown = page(orgs_client, orgs_home, "admin1", "/people")  # a collection: the form
    assert '<select name="collection">' in shown and 'id="no-collection"' not in shown


def _collection_field(text: str) -> tuple[str, str | None, list[str]]:
    field = re.search(r'<input id="collection" name="collection"[^>]*>', text)
    assert field, text
    value = re.search(r'value="([^"]*)"', field[0])
    listed = re.search(r'list="([^"]*)"', field[0])
    options: list[str] = []
    if listed:
        found = re.search(rf'<datalist id="{listed[1]}">(.*?)</datalist>', text, re.S)
        options = re.findall(r'<option value="([^"]*)"', found[1]) if found else []
    return (value[1] if value else ""), (listed[1] if listed else None), options


def test_the_ingest_form_starts_from_the_organisations_collection(
    orgs_client: TestClient, orgs_home: Any
) -> None:
    """The Ingest page of an organisation's admin filled in the Collection "default", the
    default organisation's (an ingest there went into a collection named after the
    organisation instead, not the "mugshots" the admin ingests into). It starts from the
    organisation's first collection, offers the others it owns, and where it has none the
    name its first ingest makes."""
    value, listed, options = _collection_field(page(orgs_client, orgs_home, "cad", "/ingest"))
    assert (value, options) == ("mugshots", ["mugshots", "visas"]) and listed
    value, _, options = _collection_field(page(orgs_client, orgs_home, "had", "/ingest"))
    assert (value, options) == ("harbour", [])
    value, _, options = _collection_field(page(orgs_client, orgs_home, "admin1", "/ingest"))
    assert value == "default" and "default" in options and "mugshots" not in options
    r = orgs_client.post(  # a refused upload keeps what was typed, and the list
        "/ingest", headers=orgs_home.auth("cad") | HTML, data={"collection": "visas"}
    )
    assert 'class="error"' in r.text, r.text
    assert _collection_field(r.text)[0::2] == ("visas", ["mugshots", "visas"])
