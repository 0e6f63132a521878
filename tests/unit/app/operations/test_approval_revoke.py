"""app.approvals.revoke: a supervisor withdraws an approval before its run (given by mistake,
or no longer needed); the request is then revoked and never runs, and the revocation is an
audit entry of the organisation. Before, an approval could not be taken back: it ran whenever
its requester chose, for as long as its probe was kept."""

from __future__ import annotations

from typing import Any

import pytest
from tests.unit.app.operations.approval_setup import ME, PW, USE, approvals_on

from facesearch.accountability import AccountabilityStore, Action, Actor, Role
from facesearch.app import SearchRequest, search
from facesearch.app.approvals import (
    ApprovalState,
    approve,
    deny,
    get_request,
    request_search,
    revoke,
    run_approved,
)
from facesearch.engine import Engine
from facesearch.errors import InputError, NotFoundError, PermissionDeniedError


@pytest.fixture()
def sup(store: AccountabilityStore) -> Actor:
    (sup,) = approvals_on(store)
    return sup


def _approved(engine: Engine, store: AccountabilityStore, sup: Actor, photo: Any) -> int:
    inv = store.accounts.get_user("inv1")
    seq = request_search(engine, store, inv, SearchRequest(photo, **USE)).id
    approve(store, sup, seq, "proportionate")
    return seq


def test_a_revoked_approval_never_runs(
    engine: Engine, store: AccountabilityStore, sup: Actor, probe_photo: Any
) -> None:
    inv = store.accounts.get_user("inv1")
    seq = _approved(engine, store, sup, probe_photo(2))
    other = store.accounts.add_user("sup2", Role.SUPERVISOR, PW, by=ME)
    done = revoke(store, other, seq, "the suspect was arrested")
    assert done.state is ApprovalState.REVOKED and done.revoked_by == "sup2"
    seen = get_request(store, inv, seq)
    assert seen.state is ApprovalState.REVOKED and seen.revoke_note == "the suspect was arrested"
    assert seen.as_json()["revoked_by"] == "sup2"
    with pytest.raises(PermissionDeniedError, match="revoked by sup2"):
        run_approved(engine, store, inv, seq)
    request = SearchRequest(probe_photo(2), **USE, approval=seq)
    with pytest.raises(PermissionDeniedError, match="revoked"):
        search(engine, store, inv, request)
    (entry,) = store.audit.entries(org="default", action=Action.SEARCH_REVOKE, limit=None)
    assert entry.payload == {"request_seq": seq, "note": "the suspect was arrested"}
    assert entry.actor == "sup2" and entry.case == "K-7"
    assert not store.audit.entries(org="default", action=Action.SEARCH, limit=None)
    with pytest.raises(InputError, match="revoked"):  # once
        revoke(store, sup, seq, None)
    with pytest.raises(InputError, match="revoked"):  # nor decided again
        deny(store, sup, seq, None)


def test_only_an_approved_request_no_run_holds_is_revoked(
    engine: Engine, store: AccountabilityStore, sup: Actor, probe_photo: Any
) -> None:
    inv = store.accounts.get_user("inv1")
    pending = request_search(engine, store, inv, SearchRequest(probe_photo(3), **USE)).id
    with pytest.raises(InputError, match="pending: deny it"):
        revoke(store, sup, pending, None)
    deny(store, sup, pending, "no")
    with pytest.raises(InputError, match="denied"):
        revoke(store, sup, pending, None)
    ran = _approved(engine, store, sup, probe_photo(4))
    record = run_approved(engine, store, inv, ran)
    with pytest.raises(InputError, match="is run"):
        revoke(store, sup, ran, None)
    assert get_request(store, sup, ran).search_id == record.id


def test_who_may_revoke(
    engine: Engine, store: AccountabilityStore, sup: Actor, probe_photo: Any
) -> None:
    seq = _approved(engine, store, sup, probe_photo(5))
    with pytest.raises(PermissionDeniedError):  # an investigator, even the requester
        revoke(store, store.accounts.get_user("inv1"), seq, None)
    store.orgs.add("south", by=ME)
    stranger = store.accounts.add_user("zsup", Role.SUPERVISOR, PW, by=ME, org="south")
    with pytest.raises(NotFoundError):  # another organisation's: as an unknown request
        revoke(store, stranger, seq, None)
    with pytest.raises(NotFoundError):
        revoke(store, sup, 2**63 - 1, None)
    assert get_request(store, sup, seq).state is ApprovalState.APPROVED
