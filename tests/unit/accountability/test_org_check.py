"""``verify`` against organisations edited in the file: an organisation, its policies or quota,
a collection's owner or a share that the trail's org and collection entries do not record."""

from __future__ import annotations

import json

import pytest
from accountability_helpers import ROOT, tamper

from facesearch.accountability import AccountabilityStore, BreakKind, User

Orgs = dict[str, User]
ORG_ID = "(SELECT id FROM organisations WHERE name = '{}')"


@pytest.fixture
def shared(store: AccountabilityStore, orgs: Orgs) -> AccountabilityStore:
    """Every kind of org and collection change, done through the library."""
    store.orgs.change("acme", policy={"two_person": False}, by=orgs["ann"])
    store.orgs.change("acme", quota_faces=5000, by=orgs["opal"])
    store.orgs.change("default", policy={"search_approval": True}, by=ROOT)
    store.orgs.claim("cctv", "acme", by=orgs["ann"])
    store.orgs.claim("mugs", "beta", by=orgs["ben"])
    store.orgs.grant("cctv", "beta", by=orgs["ann"])
    store.orgs.grant("cctv", "default", by=orgs["ann"])
    store.orgs.withdraw("cctv", "default", by=orgs["ann"])
    store.orgs.grant("old", "acme", by=orgs["admin"])  # an unclaimed collection: default's
    return store


def findings(store: AccountabilityStore) -> list[str]:
    report = store.verify()
    assert all(b.kind is BreakKind.INDEX for b in report.breaks), report.summary()
    return [b.detail for b in report.breaks]


def test_organisations_changed_through_the_library_verify(shared: AccountabilityStore):
    assert shared.verify().ok, shared.verify().summary()
    shared.orgs.forget_collection("cctv")  # an erased collection: its rows go
    assert shared.verify().ok


def test_an_organisation_added_in_the_file_is_reported(shared: AccountabilityStore):
    tamper(
        shared,
        "INSERT INTO organisations (name, created_by, created_at, policies) "
        "VALUES ('gamma', 'x', '2025-01-01T00:00:00.000000+00:00', '{}')",
    )
    assert findings(shared) == ["organisation gamma has no org_add entry"]


@pytest.mark.parametrize("org", ["acme", "default"])
def test_a_policy_edited_in_the_file_is_reported(shared: AccountabilityStore, org: str):
    policy = shared.orgs.get(org).policy.as_json()
    edited = json.dumps({**policy, "cases_required": not policy["cases_required"]})
    tamper(shared, f"UPDATE organisations SET policies = '{edited}' WHERE name = '{org}'")
    (detail,) = findings(shared)
    assert detail.startswith(f"organisation {org}'s policies are not those its entries record")


def test_a_quota_edited_in_the_file_is_reported(shared: AccountabilityStore):
    tamper(shared, "UPDATE organisations SET quota_faces = NULL WHERE name = 'acme'")
    assert findings(shared) == [
        "organisation acme's face quota is none, but its entries record 5000"
    ]


def test_a_collection_given_to_another_owner_in_the_file_is_reported(shared):
    tamper(
        shared,
        f"UPDATE collection_owners SET org_id = {ORG_ID.format('beta')} WHERE collection = 'cctv'",
    )
    assert findings(shared) == [
        "collection cctv belongs to beta, which no collection_claim entry records"
    ]


def test_a_share_added_in_the_file_is_reported(shared: AccountabilityStore):
    tamper(
        shared,
        "INSERT INTO collection_grants (collection, org_id, granted_by, granted_at) "
        f"SELECT 'mugs', {ORG_ID.format('acme')}, 'ben', 'x'",
        "INSERT INTO collection_grants (collection, org_id, granted_by, granted_at) "
        f"SELECT 'cctv', {ORG_ID.format('default')}, 'ann', 'x'",  # granted, then withdrawn
    )
    assert findings(shared) == [
        "collection cctv is shared with default, which no collection_grant entry records",
        "collection mugs is shared with acme, which no collection_grant entry records",
    ]
