"""Two organisations in one home, each with real data, for the cross-tenant matrix
(test_cross_tenant.py): users of every role, a case, a collection, a search, a decision, a
verification, persons, an ingest job, an erasure draft and a case report, all made through
the application layer and the API as the organisation's own people.

Names are chosen so that any of one organisation's names showing up in the other's answers is
easy to find: every name of organisation A holds ``tenantqa``, every name of B ``tenantqb``;
A's subjects are ``person_0..2``, B's ``person_3..5`` (the home's ``default`` collection, of
the ``default`` organisation, holds everyone and is seen by neither).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.fakes import FakePipeline, face_photo, person_name, write_photo
from tests.homes import PASSWORD

from facesearch.accountability import AccountabilityStore, Actor, Role, local_actor
from facesearch.server import create_app

ROLES = {
    "admin": Role.ADMIN,
    "inv1": Role.INVESTIGATOR,
    "inv2": Role.INVESTIGATOR,
    "aud": Role.AUDITOR,
    "sup": Role.SUPERVISOR,
}
PURPOSE = "cross-tenant matrix"
A_ORG, B_ORG = "tenantqa", "tenantqb"


@dataclass(frozen=True)
class Tenant:
    """One organisation's real ids (those of A are asked for by B's users)."""

    org: str
    users: dict[str, str]  # role key (ROLES) -> user name
    tokens: dict[str, str]  # user name -> API token
    people: tuple[int, ...]  # the synthetic people of its collection
    collection: str
    case: str
    search: int  # the search's audit seq
    probe_face: int
    probe_sha256: str
    face: int  # a candidate face of its collection
    image: int
    subject: str
    person: int  # a person (people built) and another one
    other_person: int
    job: str  # an ingest job its admin started
    verification: int  # the verification's audit seq
    draft: str  # an erasure draft (token) its admin previewed
    request: int | None  # a search request (None: the server has no search requests)
    audit: tuple[int, ...]  # the seqs of its audit entries

    def user(self, role: str) -> str:
        return self.users[role]

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[self.users[role]]}"}

    def names(self) -> tuple[str, ...]:
        """Names that must never show up in another organisation's answers."""
        subjects = tuple(person_name(p) for p in self.people)
        return (self.org, self.collection, self.case, self.probe_sha256, *subjects)


def add_accounts(store: AccountabilityStore, org: str) -> tuple[dict[str, str], dict[str, str]]:
    """The organisation ``org`` and one user of every role of ROLES, with a token each."""
    me = local_actor("tester")
    store.orgs.add(org, by=me)
    users = {key: f"{org}-{key}" for key in ROLES}
    tokens = {}
    for key, role in ROLES.items():
        store.accounts.add_user(users[key], role, PASSWORD, by=me, org=org)
        tokens[users[key]] = store.accounts.issue_token(users[key], by=me)
    admin = Actor(users["admin"], Role.ADMIN, org)
    store.cases.open(f"K-{org}-1", "cross-tenant", members=(users["inv1"], users["inv2"]), by=admin)
    return users, tokens


def ingest_collection(
    pipeline: FakePipeline, home: Path, store: AccountabilityStore, org: str, people: range
) -> None:
    """The org's collection, ingested by its admin through ``app.ingest``."""
    from facesearch.app import IngestRequest, ingest
    from facesearch.engine import Engine

    folder = home.parent / f"photos-{org}"
    paths = [write_photo(folder, p, s) for p in people for s in (1, 2, 3, 4)]
    engine = Engine(pipeline.settings.replace(home=home), pipeline=pipeline)
    try:
        admin = Actor(f"{org}-admin", Role.ADMIN, org)
        request = IngestRequest(tuple(paths), collection=f"{org}-photos", label_from_dir=True)
        summary = ingest(engine, store, admin, request).summary
    finally:
        engine.catalog.close()
    assert summary.faces_added == len(paths), summary


def png(person: int, shot: int) -> tuple[str, bytes, str]:
    return (f"p{person}-{shot}.png", face_photo(person, shot), "image/png")


def ok(r: Any, status: int = 200) -> Any:
    assert r.status_code == status, f"{r.request.method} {r.request.url}: {r.status_code} {r.text}"
    return r


def make_data(
    client: TestClient, org: str, users: dict[str, str], tokens: dict[str, str], people: range
) -> Tenant:
    """The org's search, decision, verification, persons, job, draft and report, through the
    API and pages as its own users."""

    def auth(role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {tokens[users[role]]}"}

    case, collection, first = f"K-{org}-1", f"{org}-photos", people[0]
    use = {"case": case, "purpose": PURPOSE}
    body = ok(
        client.post(
            "/api/v1/searches", headers=auth("inv1"), files={"image": png(first, 0)}, data=use
        ),
        201,
    ).json()
    hit = body["faces"][0]["hits"][0]
    assert hit["subject"] == person_name(first), body
    decide = f"/api/v1/searches/{body['id']}/candidates/{hit['face_id']}/decisions"
    ok(client.post(decide, headers=auth("inv1"), data={"verdict": "possible_match"}), 201)
    pair = {"a": png(first, 0), "b": png(first, 5)}
    verified = ok(
        client.post("/api/v1/verifications", headers=auth("inv1"), files=pair, data=use), 201
    ).json()
    ok(client.post("/api/v1/people/build", headers=auth("admin"), data={"collection": collection}))
    persons = ok(
        client.get("/api/v1/people", headers=auth("admin"), params={"collection": collection})
    ).json()["people"]
    job = ok(
        client.post(
            "/api/v1/ingest-jobs",
            headers=auth("admin"),
            files={"files": png(first, 6)},
            data={"collection": collection, "subject": person_name(first)},
        ),
        202,
    ).json()["id"]
    deadline = time.monotonic() + 30
    while (
        ok(client.get(f"/api/v1/ingest-jobs/{job}", headers=auth("admin"))).json()["finished"]
        is None
    ):
        assert time.monotonic() < deadline, "the ingest job did not finish"
        time.sleep(0.05)
    html = {**auth("admin"), "Accept": "text/html"}
    preview = client.post(
        "/gallery/forget",
        headers=html,
        files={"photo": png(first, 0)},
        data={"reason": "cross-tenant draft", "case": case},
    )
    draft = re.search(r'name="token" value="([^"]+)"', ok(preview).text)
    assert draft is not None, preview.text
    ok(client.get(f"/cases/{case}/report", headers=html))
    request = None
    if "/api/v1/search-requests" in client.app.openapi()["paths"]:  # type: ignore[attr-defined]
        policy = f"/api/v1/orgs/{org}"
        ok(client.patch(policy, headers=auth("admin"), json={"search_approval": True}))
        asked = client.post(
            "/api/v1/search-requests",
            headers=auth("inv1"),
            files={"image": png(first, 0)},
            data=use,
        )
        request = ok(asked, 201).json()["id"]
        ok(client.patch(policy, headers=auth("admin"), json={"search_approval": False}))
    entries = ok(client.get("/api/v1/audit", headers=auth("aud"), params={"limit": 1000}))
    return Tenant(
        org=org,
        users=users,
        tokens=tokens,
        people=tuple(people),
        collection=collection,
        case=case,
        search=body["id"],
        probe_face=body["faces"][0]["face"],
        probe_sha256=body["probe_sha256"],
        face=hit["face_id"],
        image=hit["image_id"],
        subject=hit["subject"],
        person=persons[0]["person"],
        other_person=persons[1]["person"],
        job=job,
        verification=verified["id"],
        draft=draft.group(1),
        request=request,
        audit=tuple(e["seq"] for e in entries.json()["items"]),
    )


@dataclass(frozen=True)
class World:
    """The server (in-process, on the fake pipeline) and the real ids of A and of B."""

    client: TestClient
    a: Tenant
    b: Tenant


@pytest.fixture(scope="module")
def world(fake_homes: Any, fake_pipeline: FakePipeline) -> Iterator[World]:
    """A copy of the fake gallery (its ``default`` collection belongs to the ``default``
    organisation) with organisations A and B added, each with its users, case, collection
    and data (``make_data``); one per test module."""
    home = fake_homes(
        "cross-tenant",
        users=False,
        server_login_rate_limit=10_000,
        server_read_rate_limit=10_000,  # the matrix reads far more than a person would
        training_required=False,  # a pilot's setting: training is not what is tested here
    )
    accounts = {}
    people = {A_ORG: range(0, 3), B_ORG: range(3, 6)}
    with AccountabilityStore.open(home.home) as store:
        for org in (A_ORG, B_ORG):
            accounts[org] = add_accounts(store, org)
            ingest_collection(fake_pipeline, home.home, store, org, people[org])
    app = create_app(home.settings, pipelines=FakePipeline)
    with TestClient(app, raise_server_exceptions=False) as client:
        a, b = (make_data(client, org, *accounts[org], people[org]) for org in (A_ORG, B_ORG))
        yield World(client, a, b)
