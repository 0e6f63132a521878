"""app.approvals under concurrency: two supervisors deciding one search request at once. The
state is read and the decision written in one write transaction, so the second is refused
("approved already"), the trail holds one decision, and no one is told a decision holds that
does not. On the fake gallery (tests/fakes.py)."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from tests.unit.app.operations.approval_setup import USE, approvals_on

from facesearch.accountability import AccountabilityStore, Action, Actor
from facesearch.app import SearchRequest, approvals
from facesearch.app.approvals import ApprovalRequest, approve, deny, get_request, request_search
from facesearch.engine import Engine
from facesearch.errors import InputError


def test_two_supervisors_deciding_at_once_leave_one_decision(
    engine: Engine, store: AccountabilityStore, probe_photo: Any, monkeypatch: Any
) -> None:
    sup1, sup2 = approvals_on(store, "sup1", "sup2")
    inv = store.accounts.get_user("inv1")
    seq = request_search(engine, store, inv, SearchRequest(probe_photo(2), **USE)).id

    read = approvals._request

    def slow_read(s: AccountabilityStore, a: Actor, n: int) -> ApprovalRequest:
        found = read(s, a, n)
        time.sleep(0.3)  # both would read "pending" before either writes its decision
        return found

    monkeypatch.setattr(approvals, "_request", slow_read)
    told: dict[str, str] = {}
    start = threading.Barrier(2)

    def decide(name: str, sup: Actor, verb: Any) -> None:
        start.wait()
        try:
            told[name] = verb(store, sup, seq, f"by {name}").state.value
        except InputError as exc:
            told[name] = f"refused: {exc}"

    threads = [
        threading.Thread(target=decide, args=("sup1", sup1, approve)),
        threading.Thread(target=decide, args=("sup2", sup2, deny)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    held = [state for state in told.values() if not state.startswith("refused")]
    refused = [state for state in told.values() if state.startswith("refused")]
    assert len(held) == 1 and len(refused) == 1, told
    assert "already" in refused[0]
    assert get_request(store, sup1, seq).state.value == held[0]  # what its supervisor was told
    decisions = [
        e
        for action in (Action.SEARCH_APPROVE, Action.SEARCH_DENY)
        for e in store.audit.entries(org="default", action=action, limit=None)
        if e.payload.get("request_seq") == seq
    ]
    assert len(decisions) == 1
    assert store.verify().ok


def test_a_refused_decision_leaves_the_write_transaction_closed(
    engine: Engine, store: AccountabilityStore, probe_photo: Any
) -> None:
    (sup,) = approvals_on(store)
    inv = store.accounts.get_user("inv1")
    seq = request_search(engine, store, inv, SearchRequest(probe_photo(2), **USE)).id
    approve(store, sup, seq, "ok")
    with pytest.raises(InputError, match="approved already"):
        deny(store, sup, seq, "no")
    # the refusal rolled back and let go of the transaction: the next write goes through
    assert (
        approve(
            store,
            sup,
            request_search(engine, store, inv, SearchRequest(probe_photo(3), **USE)).id,
            "ok",
        ).state.value
        == "approved"
    )
