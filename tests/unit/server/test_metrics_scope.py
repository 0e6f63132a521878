"""``/metrics`` counts every organisation's work together: once several share the deployment it
is the platform operator's, not an organisation's admin's or auditor's."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.fakes import FakePipeline
from tests.homes import PASSWORD

from facesearch.accountability import AccountabilityStore, local_actor
from facesearch.server import create_app


@pytest.fixture
def home(fake_homes: Any) -> Any:
    return fake_homes("metrics-scope")


@pytest.fixture
def client(home: Any) -> Iterator[TestClient]:
    with TestClient(create_app(home.settings, pipelines=FakePipeline)) as c:
        yield c


def test_metrics_are_the_operators_once_organisations_share_the_deployment(
    client: TestClient, home: Any
) -> None:
    assert client.get("/metrics", headers=home.auth("admin1")).status_code == 200
    me = local_actor("tester")
    with AccountabilityStore.open(home.home) as store:
        store.accounts.add_user("op1", "operator", PASSWORD, by=me, org=None)
        operator = {"Authorization": f"Bearer {store.accounts.issue_token('op1', by=me)}"}
        store.orgs.add("customs", by=me)
    for who in ("admin1", "aud1"):
        r = client.get("/metrics", headers=home.auth(who))
        assert r.status_code == 403 and "platform operator" in r.json()["error"]["message"]
    r = client.get("/metrics", headers=operator)
    assert r.status_code == 200 and "facesearch_" in r.text


def test_the_settings_an_admin_reads_hold_no_database_password(
    client: TestClient, home: Any
) -> None:
    """``GET /api/v1/settings`` (every organisation's admin may read it) showed the
    deployment's ``database_url`` and ``vectors_url`` as set: with a password in either URL an
    organisation's admin read the password of the database (or Milvus) that holds every
    organisation's data. Each is shown without its password, as ``stats`` and the logs show
    the database."""
    ctx = client.app.state.ctx  # type: ignore[attr-defined]
    ctx.settings = ctx.settings.replace(
        database_url="postgresql://fs:s3cret-pw@db.internal/fs",
        vectors_url="milvus://root:s3cret-mv@milvus.internal:19530",
    )
    r = client.get("/api/v1/settings", headers=home.auth("admin1"))
    assert r.status_code == 200, r.text
    assert "s3cret" not in r.text
    shown = {item["name"]: item["value"] for item in r.json()["items"]}
    assert shown["database_url"] == "postgresql://fs:***@db.internal/fs"
    assert shown["vectors_url"] == "milvus://root:***@milvus.internal:19530"


def test_the_settings_an_admin_reads_hold_no_password_given_as_a_url_parameter(
    client: TestClient, home: Any
) -> None:
    """libpq takes every connection parameter in a URL's query too
    (``postgresql://fs@db/fs?password=...``, ``sslpassword``, the key file's passphrase), and
    ``database_url`` accepts such a URL: ``GET /api/v1/settings`` masked only the password
    between ``USER:`` and ``@``, so an organisation's admin read this one."""
    ctx = client.app.state.ctx  # type: ignore[attr-defined]
    ctx.settings = ctx.settings.replace(
        database_url="postgresql://fs@/fs?host=db.internal&password=s3cret-pw&sslpassword=s3cret-k"
    )
    r = client.get("/api/v1/settings", headers=home.auth("admin1"))
    assert r.status_code == 200, r.text
    assert "s3cret" not in r.text
    shown = {item["name"]: item["value"] for item in r.json()["items"]}
    assert shown["database_url"] == (
        "postgresql://fs@/fs?host=db.internal&password=***&sslpassword=***"
    )


def test_an_organisation_s_admin_reads_no_server_path_or_address(
    client: TestClient, home: Any
) -> None:
    """Every organisation's admin may read ``GET /api/v1/settings``, which showed the host's
    home and cache folders, key files and database and vector-store machines: where every
    organisation's data lies, which is the host's to know. The host's admin still reads them."""
    ctx = client.app.state.ctx  # type: ignore[attr-defined]
    ctx.settings = ctx.settings.replace(
        database_url="postgresql://fs@db.internal/fs", trusted_proxies="10.0.0.7"
    )
    me = local_actor("tester")
    with AccountabilityStore.open(home.home) as store:
        store.orgs.add("customs", by=me)
        store.accounts.add_user("cadmin", "admin", PASSWORD, by=me, org="customs")
        customs = {"Authorization": f"Bearer {store.accounts.issue_token('cadmin', by=me)}"}
    r = client.get("/api/v1/settings", headers=customs)
    assert r.status_code == 200, r.text
    shown = {item["name"]: item["value"] for item in r.json()["items"]}
    for key in ("home", "cache_dir", "database_url", "trusted_proxies", "audit_key_file"):
        assert shown[key] == "(the host's: not shown to an organisation)", key
    assert str(home.home) not in r.text and "db.internal" not in r.text
    assert shown["index_kind"] == ctx.settings.index.kind  # the rest is shown as before
    host = client.get("/api/v1/settings", headers=home.auth("admin1"))
    mine = {item["name"]: item["value"] for item in host.json()["items"]}
    assert (
        mine["home"] == str(home.home) and mine["database_url"] == "postgresql://fs@db.internal/fs"
    )


def test_a_refusal_of_a_route_several_roles_open_names_what_the_route_does(
    client: TestClient, home: Any
) -> None:
    """The platform operator asking for a search, a candidate's crop, the case list form or
    the search requests was told it "may not record a verdict on a candidate" (the first of
    the route's permissions), whatever it asked for."""
    me = local_actor("tester")
    with AccountabilityStore.open(home.home) as store:
        store.accounts.add_user("op2", "operator", PASSWORD, by=me, org=None)
        operator = {"Authorization": f"Bearer {store.accounts.issue_token('op2', by=me)}"}
    for path, doing in (
        ("/api/v1/searches/1", "read searches"),
        ("/api/v1/searches/99999", "read searches"),
        ("/api/v1/faces/1/crop", "read gallery faces"),
    ):
        r = client.get(path, headers=operator)
        message = r.json()["error"]["message"]
        assert r.status_code == 403, path
        assert message == f"op2 (operator) may not {doing}", path
