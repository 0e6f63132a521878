"""Work under a case once the case registry is in use: a search, verification or decision
must name an open case of which the user is a member; every refusal is an audit entry."""

from __future__ import annotations

from typing import Any

import pytest

from facesearch.accountability import AccountabilityStore, Action, local_actor
from facesearch.app import SearchRequest, VerifyRequest, search, verify
from facesearch.app.cases import OpenCaseRequest, add_member, close_case, list_cases, open_case
from facesearch.app.review import DecideRequest, decide
from facesearch.engine import Engine
from facesearch.errors import PermissionDeniedError

ROOT = local_actor("root")


@pytest.fixture()
def registry(store: AccountabilityStore) -> AccountabilityStore:
    """The store with case K-1 (members inv1, inv2) and K-2 (no members) open."""
    open_case(store, ROOT, OpenCaseRequest("K-1", "Burglary", members=("inv1", "inv2")))
    open_case(store, ROOT, OpenCaseRequest("K-2", "Fraud"))
    return store


def _refused(store: AccountabilityStore) -> list[tuple[str, str | None, dict[str, Any]]]:
    entries = store.audit.entries(action=Action.CASE_REFUSED, limit=None)
    return [(e.actor, e.case, dict(e.payload)) for e in entries]


@pytest.mark.parametrize(
    ("case", "reason"),
    [("K-2", "not_member"), ("K-404", "unknown"), ("K-1", "closed")],
)
def test_a_search_outside_an_open_case_of_the_user_is_refused_and_logged(
    engine: Engine, registry: AccountabilityStore, probe_photo: Any, case: str, reason: str
) -> None:
    if reason == "closed":
        close_case(registry, ROOT, "K-1")
    inv = registry.accounts.get_user("inv1")
    searches = len(registry.audit.entries(action=Action.SEARCH, limit=None))
    with pytest.raises(PermissionDeniedError, match=case):
        search(engine, registry, inv, SearchRequest(probe_photo(1), case=case, purpose="p"))
    assert len(registry.audit.entries(action=Action.SEARCH, limit=None)) == searches
    ((actor, logged_case, payload),) = _refused(registry)
    assert (actor, logged_case) == ("inv1", case)
    assert payload["attempt"] == "search" and payload["reason"] == reason
    assert payload["outcome"] == "forbidden" and case in payload["error"]


def test_a_member_searches_and_verifies_under_an_open_case(
    engine: Engine, registry: AccountabilityStore, probe_photo: Any
) -> None:
    inv = registry.accounts.get_user("inv2")
    record = search(engine, registry, inv, SearchRequest(probe_photo(1), case="K-1", purpose="p"))
    assert record.case == "K-1" and record.hits
    checked = verify(
        engine, registry, inv, VerifyRequest(probe_photo(1), probe_photo(1, 5), "K-1", "p")
    )
    assert checked.case == "K-1"
    assert _refused(registry) == []


def test_a_verification_under_a_case_the_user_is_not_member_of_is_refused(
    engine: Engine, registry: AccountabilityStore, probe_photo: Any
) -> None:
    inv = registry.accounts.get_user("inv1")
    with pytest.raises(PermissionDeniedError, match="not a member of case K-2"):
        verify(engine, registry, inv, VerifyRequest(probe_photo(1), probe_photo(2), "K-2", "p"))
    assert [(a, c, p["attempt"]) for a, c, p in _refused(registry)] == [("inv1", "K-2", "verify")]


def test_a_decision_after_its_case_was_closed_is_refused_and_logged(
    engine: Engine, registry: AccountabilityStore, probe_photo: Any
) -> None:
    inv1, inv2 = registry.accounts.get_user("inv1"), registry.accounts.get_user("inv2")
    record = search(engine, registry, inv1, SearchRequest(probe_photo(1), case="K-1", purpose="p"))
    assert record.id is not None
    face = record.hits[0].face_id
    decide(engine.catalog, registry, inv1, DecideRequest(record.id, face, "possible_match"))
    close_case(registry, ROOT, "K-1")
    with pytest.raises(PermissionDeniedError, match="closed"):
        decide(engine.catalog, registry, inv2, DecideRequest(record.id, face, "possible_match"))
    assert [(a, c, p["attempt"]) for a, c, p in _refused(registry)] == [("inv2", "K-1", "decide")]
    assert len(registry.audit.entries(action=Action.DECISION, limit=None)) == 1


def test_without_cases_in_the_registry_any_case_number_is_accepted(
    engine: Engine, store: AccountabilityStore, probe_photo: Any
) -> None:
    inv = store.accounts.get_user("inv1")
    record = search(engine, store, inv, SearchRequest(probe_photo(1), case="free", purpose="p"))
    assert record.case == "free"


def test_investigators_see_their_cases_and_admins_and_auditors_every_case(
    registry: AccountabilityStore,
) -> None:
    add_member(registry, ROOT, "K-2", "inv2")

    def seen(name: str) -> list[str]:
        return [c.number for c in list_cases(registry, registry.accounts.get_user(name))]

    assert seen("inv1") == ["K-1"]
    assert seen("inv2") == ["K-2", "K-1"]
    assert seen("admin1") == seen("aud1") == ["K-2", "K-1"]
    with pytest.raises(PermissionDeniedError):  # auditors open no case
        open_case(registry, registry.accounts.get_user("aud1"), OpenCaseRequest("K-3", "x"))
    mine = open_case(registry, registry.accounts.get_user("inv1"), OpenCaseRequest("K-3", "mine"))
    assert mine.members == ("inv1",)  # an investigator's own case: a member from the start
    assert seen("inv1") == ["K-3", "K-1"]
