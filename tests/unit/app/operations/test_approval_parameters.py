"""app.approvals: an approved request runs only as approved. The search under it must match
the request in every parameter it recorded (case, purpose, collections, top, max_fmr,
threshold, face, allow_poor), not only its probe photo: each difference is refused with an
InputError naming it, before the search starts. On the fake gallery (tests/fakes.py)."""

from __future__ import annotations

from typing import Any

import pytest
from tests.unit.app.operations.approval_setup import approvals_on

from facesearch.accountability import AccountabilityStore, Action
from facesearch.app import SearchRequest, search
from facesearch.app.approvals import ApprovalState, approve, get_request, request_search
from facesearch.engine import Engine
from facesearch.errors import InputError

ASKED: dict[str, Any] = {
    "case": "K-7",
    "purpose": "armed robbery, 3 May",
    "collections": ("default",),
    "top": 3,
    "max_fmr": 1e-4,
}


@pytest.mark.parametrize(
    ("field", "changed"),
    [
        ("case", {"case": "K-8"}),
        ("purpose", {"purpose": "a curious look"}),
        ("collections", {"collections": None}),
        ("top", {"top": 50}),
        ("max_fmr", {"max_fmr": 1e-2}),
        ("threshold", {"max_fmr": None, "threshold": 0.1}),
        ("face", {"face": 0}),
        ("allow_poor", {"allow_poor": True}),
    ],
)
def test_a_search_differing_from_its_approval_is_refused(
    engine: Engine, store: AccountabilityStore, probe_photo: Any, field: str, changed: Any
) -> None:
    (sup,) = approvals_on(store)
    inv = store.accounts.get_user("inv1")
    photo = probe_photo(2).read_bytes()
    seq = request_search(engine, store, inv, SearchRequest(photo, **ASKED)).id
    approve(store, sup, seq, "proportionate")
    head = store.audit.head()

    differing = SearchRequest(photo, **{**ASKED, **changed}, approval=seq)
    with pytest.raises(InputError, match=f"search request {seq} was approved with (.*; )?{field} "):
        search(engine, store, inv, differing)
    # refused before it started, and logged as a refusal the supervisor's dashboard lists
    # (it left no trace: found by the review)
    (refused,) = [e for e in store.audit.entries(limit=None) if e.seq > head.seq]
    assert refused.action == Action.CASE_REFUSED and refused.actor == "inv1"
    assert refused.payload["reason"] == "not_as_approved"
    assert refused.payload["request_seq"] == seq
    assert any(d.startswith(f"{field} ") for d in refused.payload["differences"])
    assert get_request(store, inv, seq).state is ApprovalState.APPROVED

    # the one approved runs
    record = search(engine, store, inv, SearchRequest(photo, **ASKED, approval=seq))
    entry = store.audit.get(record.id or 0)
    assert entry.action == Action.SEARCH and entry.payload["approval"] == seq
    assert entry.case == "K-7" and entry.purpose == ASKED["purpose"]
    assert get_request(store, inv, seq).state is ApprovalState.RUN
