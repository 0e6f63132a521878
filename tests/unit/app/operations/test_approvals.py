"""app.approvals: a supervisor approves a search before it runs, where the organisation's
policy says so; request, approve or deny, and run are each an audit entry of the organisation,
and the request's state is read back from them. On the fake gallery (tests/fakes.py)."""

from __future__ import annotations

from typing import Any

import pytest
from tests.fakes import no_face_photo
from tests.unit.app.operations.approval_setup import ME, PW, USE, approvals_on

from facesearch.accountability import AccountabilityStore, Action, Actor, Role
from facesearch.app import SearchRequest, search
from facesearch.app.approvals import (
    ApprovalState,
    approve,
    deny,
    get_request,
    request_search,
    requests,
    run_approved,
)
from facesearch.engine import Engine
from facesearch.errors import InputError, NoFaceError, NotFoundError, PermissionDeniedError


@pytest.fixture()
def sup(store: AccountabilityStore) -> Actor:
    """A supervisor of ``default``, whose policy now asks for approval."""
    (sup,) = approvals_on(store)
    return sup


@pytest.fixture()
def inv(store: AccountabilityStore) -> Actor:
    return store.accounts.get_user("inv1")


def _ask(engine: Engine, store: AccountabilityStore, inv: Actor, photo: Any, **kw: Any) -> int:
    return request_search(engine, store, inv, SearchRequest(photo, **USE, **kw)).id


def test_request_approve_run_each_an_entry_of_the_organisation(
    engine: Engine, store: AccountabilityStore, sup: Actor, inv: Actor, probe_photo: Any
) -> None:
    photo = probe_photo(2)
    asked = request_search(
        engine, store, inv, SearchRequest(photo, **USE, top=3, collections=("default",))
    )
    assert asked.state is ApprovalState.PENDING and asked.requester == "inv1"
    assert [r.id for r in requests(store, sup, pending_only=True)] == [asked.id]
    assert [r.id for r in requests(store, inv)] == [asked.id]
    assert requests(store, store.accounts.get_user("inv2")) == []  # not theirs
    with pytest.raises(PermissionDeniedError, match="waits for a supervisor"):
        run_approved(engine, store, inv, asked.id)

    approved = approve(store, sup, asked.id, "proportionate")
    assert approved.state is ApprovalState.APPROVED and approved.decided_by == "sup1"
    assert requests(store, sup, pending_only=True) == []
    with pytest.raises(NotFoundError):  # only its requester runs it
        run_approved(engine, store, store.accounts.get_user("inv2"), asked.id)

    record = run_approved(engine, store, inv, asked.id)
    assert record.id is not None and record.case == "K-7" and record.top == 3
    ran = get_request(store, sup, asked.id)
    assert ran.state is ApprovalState.RUN and ran.search_id == record.id
    with pytest.raises(InputError, match="ran already"):
        run_approved(engine, store, inv, asked.id)

    seqs = (asked.id, approved.decision_id or 0, record.id)
    request_entry, decision, searched = (store.audit.get(s, org="default") for s in seqs)
    assert request_entry.action == Action.SEARCH_REQUEST and request_entry.case == "K-7"
    assert request_entry.payload["probe_sha256"] == record.probe_sha256
    assert request_entry.payload["parameters"]["top"] == 3
    assert request_entry.payload["parameters"]["collections"] == ["default"]
    assert decision.action == Action.SEARCH_APPROVE and decision.actor == "sup1"
    assert decision.payload == {"request_seq": asked.id, "note": "proportionate"}
    assert searched.action == Action.SEARCH and searched.payload["approval"] == asked.id
    assert {e.org for e in (request_entry, decision, searched)} == {"default"}
    assert store.verify().ok


def test_a_denied_request_never_runs(
    engine: Engine, store: AccountabilityStore, sup: Actor, inv: Actor, probe_photo: Any
) -> None:
    seq = _ask(engine, store, inv, probe_photo(3))
    denied = deny(store, sup, seq, "no legal basis given")
    assert denied.state is ApprovalState.DENIED and denied.note == "no legal basis given"
    assert store.audit.get(denied.decision_id or 0).action == Action.SEARCH_DENY
    with pytest.raises(PermissionDeniedError, match="was denied"):
        run_approved(engine, store, inv, seq)
    with pytest.raises(InputError, match="denied already"):  # a decision is final
        approve(store, sup, seq, None)
    assert get_request(store, inv, seq).state is ApprovalState.DENIED


def test_another_organisations_supervisor_finds_no_request(
    engine: Engine, store: AccountabilityStore, sup: Actor, inv: Actor, probe_photo: Any
) -> None:
    seq = _ask(engine, store, inv, probe_photo(4))
    store.orgs.add("south", by=ME)
    zsup = store.accounts.add_user("zsup", Role.SUPERVISOR, PW, by=ME, org="south")
    for tried in (seq, 10_000):  # another's and an unknown one: the same answer
        with pytest.raises(NotFoundError, match=f"no search request {tried}$"):
            approve(store, zsup, tried, None)
        with pytest.raises(NotFoundError, match=f"no search request {tried}$"):
            get_request(store, zsup, tried)
    with pytest.raises(NotFoundError, match="no search request"):  # an entry, not a request
        approve(store, sup, seq - 1, None)
    assert requests(store, zsup) == []
    assert get_request(store, sup, seq).state is ApprovalState.PENDING


def test_no_one_decides_their_own_request_nor_without_supervise(
    engine: Engine, store: AccountabilityStore, sup: Actor, inv: Actor, probe_photo: Any
) -> None:
    seq = _ask(engine, store, inv, probe_photo(5))
    with pytest.raises(PermissionDeniedError, match="their own"):
        approve(store, Actor("inv1", Role.SUPERVISOR), seq, None)
    for someone in (inv, store.accounts.get_user("admin1")):
        with pytest.raises(PermissionDeniedError, match="may not supervise"):
            deny(store, someone, seq, None)
    with pytest.raises(PermissionDeniedError):  # an auditor neither requests nor sees them
        requests(store, store.accounts.get_user("aud1"))
    assert get_request(store, sup, seq).state is ApprovalState.PENDING


def test_a_search_needs_an_approval_when_the_policy_is_on(
    engine: Engine, store: AccountabilityStore, sup: Actor, inv: Actor, probe_photo: Any
) -> None:
    photo, other = probe_photo(6), probe_photo(7)
    head = store.audit.head()
    with pytest.raises(PermissionDeniedError, match="need a supervisor's approval first"):
        search(engine, store, inv, SearchRequest(photo, **USE))
    assert store.audit.head() == head  # refused before it started: no search entry
    seq = _ask(engine, store, inv, photo)
    with pytest.raises(PermissionDeniedError, match="waits for a supervisor"):
        search(engine, store, inv, SearchRequest(photo.read_bytes(), **USE, approval=seq))
    approve(store, sup, seq, None)
    with pytest.raises(PermissionDeniedError, match="another probe photo"):
        search(engine, store, inv, SearchRequest(other.read_bytes(), **USE, approval=seq))
    with pytest.raises(NotFoundError):  # inv2 cannot borrow inv1's approval
        search(
            engine,
            store,
            store.accounts.get_user("inv2"),
            SearchRequest(photo.read_bytes(), **USE, approval=seq),
        )
    assert search(engine, store, ME, SearchRequest(photo, **USE)).id  # the CLI needs none

    store.orgs.change("default", policy={"search_approval": False}, by=ME)
    record = search(engine, store, inv, SearchRequest(photo, **USE))
    assert "approval" not in store.audit.get(record.id or 0).payload
    with pytest.raises(InputError, match="need no approval"):
        _ask(engine, store, inv, photo)


def test_a_failed_run_is_logged_with_its_approval_and_leaves_it_approved(
    engine: Engine, store: AccountabilityStore, sup: Actor, inv: Actor, tmp_path: Any
) -> None:
    sky = tmp_path / "sky.png"
    sky.write_bytes(no_face_photo())
    seq = _ask(engine, store, inv, sky)
    approve(store, sup, seq, None)
    with pytest.raises(NoFaceError):
        run_approved(engine, store, inv, seq)
    failed = store.audit.entries(action=Action.SEARCH, limit=None)[-1]
    assert failed.payload["outcome"] == "no_face" and failed.payload["approval"] == seq
    assert get_request(store, inv, seq).state is ApprovalState.APPROVED


def test_a_request_whose_entry_cannot_be_written_keeps_no_probe(
    engine: Engine,
    store: AccountabilityStore,
    sup: Actor,
    inv: Actor,
    probe_photo: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A search request kept its probe in a commit of its own, before the commit of the entry
    that names it: a probe no entry named when that second commit failed, and for an erasure
    running in between, a probe of no organisation (its bytes went, and the request then
    named a photo that was gone). The probe now commits with its entry, as a search's does."""
    import hashlib

    from facesearch.errors import CatalogError

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise CatalogError("the trail cannot be written")

    monkeypatch.setattr(store.audit, "append", broken)
    photo = probe_photo(0)
    with pytest.raises(CatalogError):
        _ask(engine, store, inv, photo)
    with pytest.raises(NotFoundError):
        store.probes.expires(hashlib.sha256(photo.read_bytes()).hexdigest())
