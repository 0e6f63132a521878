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
