"""What one organisation sees of another at the store level: accounts, cases and the trail of
another organisation answer NotFoundError, exactly as ones that do not exist (the ``orgs``
fixture: ``default`` with ``people``, ``acme`` with ann and ivy, ``beta`` with ben, and the
operator opal)."""

from __future__ import annotations

import io
import json

import pytest
from accountability_helpers import PW, ROOT, tamper

from facesearch.accountability import AccountabilityStore, Action, CaseRefusal, Role, User
from facesearch.errors import (
    InputError,
    NotFoundError,
    PasswordChangeRequiredError,
    PermissionDeniedError,
)

Orgs = dict[str, User]

# --- accounts ---------------------------------------------------------------------------------


def test_an_admin_sees_and_manages_only_the_accounts_of_their_organisation(store, orgs: Orgs):
    ben = orgs["ben"]
    before = store.audit.head()
    with pytest.raises(NotFoundError, match="no user ann"):
        store.accounts.get_user("ann", seen_by=ben)
    for change in (store.accounts.disable_user, store.accounts.enable_user):
        with pytest.raises(NotFoundError, match="no user ivy"):
            change("ivy", by=ben)
    with pytest.raises(NotFoundError, match="no user ivy"):
        store.accounts.set_password("ivy", "taken over by ben", by=ben)
    assert store.audit.head() == before  # nothing happened, nothing logged
    assert not store.accounts.get_user("ivy").disabled
    with pytest.raises(PasswordChangeRequiredError):  # still the one-time one acme's admin set
        store.accounts.check_password("ivy", PW)
    # their own organisation's accounts, as before
    assert store.accounts.get_user("ben", seen_by=ben).org == "beta"
    assert store.accounts.get_user("IVY", seen_by=orgs["ann"]).org == "acme"


def test_an_admin_adds_accounts_to_their_own_organisation_only(store, orgs: Orgs):
    with pytest.raises(NotFoundError, match="no organisation acme"):
        store.accounts.add_user("mole", Role.INVESTIGATOR, PW, by=orgs["ben"], org="acme")
    with pytest.raises(NotFoundError):
        store.accounts.add_user("mole", Role.INVESTIGATOR, PW, by=orgs["admin"], org="beta")
    with pytest.raises(NotFoundError):  # an operator of no organisation: not an admin's
        store.accounts.add_user("mole", Role.OPERATOR, PW, by=orgs["ben"], org=None)
    assert "mole" not in {u.name for u in store.accounts.users()}
    added = store.accounts.add_user("bea", Role.INVESTIGATOR, PW, by=orgs["ben"], org="beta")
    assert added.org == "beta"
    entry = store.audit.entries(action=Action.USER_ADD, limit=None)[-1]
    assert (entry.actor, entry.org, entry.payload["org"]) == ("ben", "beta", "beta")


def test_the_operator_manages_the_accounts_of_every_organisation(store, orgs: Orgs):
    opal = orgs["opal"]
    assert store.accounts.get_user("ivy", seen_by=opal).org == "acme"
    store.accounts.disable_user("ivy", by=opal)
    store.accounts.enable_user("ivy", by=opal)
    store.accounts.set_password("ben", "reset by the operator", by=opal)
    entries = store.audit.entries(actor="opal", action=Action.USER_DISABLE, limit=None)
    assert [e.org for e in entries] == ["acme"]  # the entry is the account's organisation's
    assert [u.name for u in store.accounts.users(org="ACME")] == ["ann", "ivy"]
    assert store.accounts.add_user("bo", Role.AUDITOR, PW, by=opal, org="beta").org == "beta"
    assert store.verify().ok


def test_the_operator_adds_operators_and_an_admin_cannot(store, orgs: Orgs):
    with pytest.raises(InputError, match="no organisation"):
        store.accounts.add_user("op2", Role.OPERATOR, PW, by=orgs["opal"], org="acme")
    with pytest.raises(InputError, match="no organisation"):
        store.accounts.add_user("x", Role.ADMIN, PW, by=orgs["opal"], org=None)
    assert store.accounts.add_user("op2", Role.OPERATOR, PW, by=orgs["opal"], org=None).org is None


def test_the_last_enabled_admin_rule_holds_per_organisation(store, orgs: Orgs):
    # acme's only admin stays, though default and beta have admins of their own
    with pytest.raises(InputError, match="ann is the last enabled admin"):
        store.accounts.disable_user("ann", by=orgs["opal"])
    with pytest.raises(InputError, match="admin is the last enabled admin"):
        store.accounts.disable_user("admin", by=ROOT)
    ann2 = store.accounts.add_user("ann2", Role.ADMIN, PW, by=orgs["ann"], org="acme")
    assert store.accounts.disable_user("ann", by=ann2).disabled
    with pytest.raises(InputError, match="ann2 is the last enabled admin"):
        store.accounts.disable_user("ann2", by=ann2)


# --- cases ------------------------------------------------------------------------------------


def test_two_organisations_have_the_same_case_number_each(store, orgs: Orgs):
    ours = store.cases.open("K-1", "acme's", members=("ivy",), by=orgs["ann"])
    theirs = store.cases.open("K-1", "beta's", by=orgs["ben"])
    assert (ours.title, theirs.title) == ("acme's", "beta's")
    assert store.cases.get("K-1", "acme").members == ("ivy",)
    assert store.cases.get("K-1", "Beta").title == "beta's"
    with pytest.raises(NotFoundError):
        store.cases.get("K-1")  # default has none
    assert [c.title for c in store.cases.cases("acme")] == ["acme's"]
    opened = store.audit.entries(action=Action.CASE_OPEN, limit=None)
    assert [(e.case, e.org) for e in opened] == [("K-1", "acme"), ("K-1", "beta")]
    assert store.verify().ok


def test_an_admin_closes_and_staffs_only_their_organisations_cases(store, orgs: Orgs):
    store.cases.open("K-7", "t", by=orgs["ann"])
    with pytest.raises(NotFoundError, match="no case K-7"):
        store.cases.close("K-7", by=orgs["ben"])
    with pytest.raises(NotFoundError, match="no case K-7"):
        store.cases.add_member("K-7", "ben", by=orgs["ben"])
    with pytest.raises(NotFoundError, match="no user ben"):  # another organisation's user
        store.cases.add_member("K-7", "ben", by=orgs["ann"])
    with pytest.raises(NotFoundError, match="no user alice"):
        store.cases.open("K-8", "t", members=("alice",), by=orgs["ann"])
    with pytest.raises(NotFoundError, match="no user ben"):  # an investigator's own case
        store.cases.open("K-8", "t", members=("ben",), by=orgs["ivy"])
    assert store.cases.get("K-7", "acme").members == ()
    assert store.cases.close("K-7", by=orgs["ann"]).status.value == "closed"
    with pytest.raises(PermissionDeniedError):  # the operator has no registry
        store.cases.open("K-9", "t", by=orgs["opal"])


def test_a_new_organisation_requires_a_case_from_the_start(store, orgs: Orgs):
    assert not store.cases.in_use("acme") and not store.cases.in_use("default")
    assert store.cases.refusal("K-free", orgs["ivy"]) is CaseRefusal.UNKNOWN
    assert store.cases.refusal("K-free", orgs["alice"]) is None  # default: not until used
    store.cases.open("K-1", "t", members=("ivy",), by=orgs["ann"])
    assert store.cases.refusal("K-1", orgs["ivy"]) is None
    assert store.cases.refusal("K-1", orgs["alice"]) is None  # default has no K-1 and no cases
    store.cases.open("K-2", "t", by=ROOT)
    assert store.cases.refusal("K-1", orgs["alice"]) is CaseRefusal.UNKNOWN


def test_a_case_moved_to_another_organisation_in_the_file_is_reported(store, orgs: Orgs):
    store.cases.open("K-1", "t", by=orgs["ann"])
    assert store.verify().ok
    tamper(store, "UPDATE cases SET org_id = (SELECT id FROM organisations WHERE name = 'beta')")
    (finding,) = store.verify().breaks
    assert "case K-1 has no case_open entry" in finding.detail


# --- the trail --------------------------------------------------------------------------------


def test_an_organisation_reads_only_its_own_entries(store: AccountabilityStore, orgs: Orgs):
    ivy, ben = orgs["ivy"], orgs["ben"]
    searched = store.audit.append(actor=ivy.name, action=Action.SEARCH, payload={})
    assert searched.org == "acme"  # the actor's organisation
    other = store.audit.append(actor=ben.name, action=Action.SEARCH, payload={})
    assert store.audit.get(searched.seq, org="acme") == searched
    with pytest.raises(NotFoundError, match=f"no audit entry {searched.seq}"):
        store.audit.get(searched.seq, org="beta")
    with pytest.raises(NotFoundError):
        store.audit.get(searched.seq, org="default")
    assert [e.seq for e in store.audit.entries(org="beta", action=Action.SEARCH)] == [other.seq]
    acme = store.audit.entries(org="acme", limit=None)
    assert searched in acme and other not in acme
    assert {e.org for e in acme} == {"acme"}
    everyone = store.audit.entries(limit=None)
    assert {e.org for e in everyone} >= {"acme", "beta", "default", "(platform)"}


def test_organisation_names_ignore_case_when_reading_the_trail(store, orgs: Orgs):
    searched = store.audit.append(actor="ivy", action=Action.SEARCH, payload={})
    assert store.audit.get(searched.seq, org="ACME") == searched  # entry_in_org ignores case
    assert store.audit.entries(org="ACME", limit=None) == store.audit.entries(
        org="acme", limit=None
    )


def test_an_export_of_one_organisation_holds_its_entries_only(store, orgs: Orgs):
    store.audit.append(actor="ivy", action=Action.SEARCH, payload={})
    store.audit.append(actor="ben", action=Action.SEARCH, payload={})
    out = io.StringIO()
    count = store.audit.export("jsonl", out, actor="ann", org="acme")
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert count == len(rows) and {r["org"] for r in rows} == {"acme"}
    assert store.audit.entries(action=Action.EXPORT)[-1].org == "acme"
