"""A use in flight while its case number is opened is not that case's.

While a registry does not hold a number, a search or verification may name it; its check
passes at the start, and its entry is written when it ends. A case of that number opened in
between (by an investigator, who is its member from the start) must not show that use to its
members: it was not checked as the case's work (``reads._member_since``). The author, admins,
auditors and supervisors still see it. Deterministic: the case is opened from inside the
engine's call, after the check and before the entry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from facesearch.accountability import AccountabilityStore, Action, Actor
from facesearch.app import SearchRequest, VerifyRequest, record_failed_search, search, verify
from facesearch.app.case_report import case_report, case_timeline
from facesearch.app.cases import OpenCaseRequest, open_case
from facesearch.app.checks import CASE_REGISTERED, Failure
from facesearch.app.reads import visible_search
from facesearch.app.review import DecideRequest, decide
from facesearch.engine import Engine
from facesearch.errors import InputError, NotFoundError

NUMBER = "2026/0099"


def _opening_while(
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
    verb: str,
    opener: Actor,
    store: AccountabilityStore,
    members: tuple[str, ...] = (),
    fail: bool = False,
) -> None:
    """Make the engine's ``verb`` open case NUMBER (by ``opener``) while it runs."""
    real: Callable[..., Any] = getattr(engine, verb)

    def running(*args: Any, **kwargs: Any) -> Any:
        open_case(store, opener, OpenCaseRequest(NUMBER, "opened mid-use", members=members))
        if fail:
            raise InputError("no face found in the probe")
        return real(*args, **kwargs)

    monkeypatch.setattr(engine, verb, running)


def _timeline_actions(store: AccountabilityStore, actor: Actor) -> list[str]:
    return [e.entry.action for e in case_timeline(store, actor, NUMBER).events]


def test_a_search_in_flight_when_its_case_is_opened_is_not_shown_to_its_members(
    engine: Engine, store: AccountabilityStore, probe_photo: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    inv1, inv2 = store.accounts.get_user("inv1"), store.accounts.get_user("inv2")
    _opening_while(engine, monkeypatch, "search", inv2, store)
    request = SearchRequest(probe_photo(1), case=NUMBER, purpose="free text, registry empty")
    record = search(engine, store, inv1, request)
    assert record.id is not None
    with pytest.raises(NotFoundError):
        visible_search(store, inv2, record.id)  # the opener, its member: not theirs
    assert _timeline_actions(store, inv2) == ["case_open"]
    report = case_report(store, engine.catalog, engine.calibration, inv2, NUMBER, "html")
    assert report.searches == ()
    for who in ("inv1", "admin1", "aud1"):  # its author and the overseers still see it
        assert visible_search(store, store.accounts.get_user(who), record.id).seq == record.id
    admin = store.accounts.get_user("admin1")
    assert Action.SEARCH.value in _timeline_actions(store, admin)


def test_a_verification_in_flight_when_its_case_is_opened_is_not_shown_to_its_members(
    engine: Engine, store: AccountabilityStore, probe_photo: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    inv1, inv2 = store.accounts.get_user("inv1"), store.accounts.get_user("inv2")
    _opening_while(engine, monkeypatch, "verify", inv2, store)
    request = VerifyRequest(probe_photo(1), probe_photo(1, 5), NUMBER, "free text")
    verify(engine, store, inv1, request)
    assert _timeline_actions(store, inv2) == ["case_open"]
    admin = store.accounts.get_user("admin1")
    assert Action.VERIFY.value in _timeline_actions(store, admin)


def test_a_failed_search_in_flight_when_its_case_is_opened_is_not_shown_to_its_members(
    engine: Engine, store: AccountabilityStore, probe_photo: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    inv1, inv2 = store.accounts.get_user("inv1"), store.accounts.get_user("inv2")
    _opening_while(engine, monkeypatch, "search", inv2, store, fail=True)
    with pytest.raises(InputError):
        search(engine, store, inv1, SearchRequest(probe_photo(1), case=NUMBER, purpose="p"))
    assert _timeline_actions(store, inv2) == ["case_open"]


def test_a_decision_on_a_search_not_of_the_case_is_not_shown_to_its_members(
    engine: Engine, store: AccountabilityStore, probe_photo: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """inv2 opens the case mid-search with inv1 as a member too: inv1 may then give verdicts
    under it, but a verdict on that search names it, its candidate and the note, and so is
    no more the case's than the search."""
    inv1, inv2 = store.accounts.get_user("inv1"), store.accounts.get_user("inv2")
    _opening_while(engine, monkeypatch, "search", inv2, store, members=("inv1",))
    record = search(engine, store, inv1, SearchRequest(probe_photo(1), case=NUMBER, purpose="p"))
    assert record.id is not None
    face = record.hits[0].face_id
    decide(engine.catalog, store, inv1, DecideRequest(record.id, face, "rejected", "not him"))
    with pytest.raises(NotFoundError):
        visible_search(store, inv2, record.id)
    assert _timeline_actions(store, inv2) == ["case_open"]
    admin = store.accounts.get_user("admin1")
    assert _timeline_actions(store, admin) == ["case_open", "search", "decision"]


def test_a_search_under_a_case_opened_before_it_started_is_shown_to_its_members(
    engine: Engine, store: AccountabilityStore, probe_photo: Any
) -> None:
    inv1, inv2 = store.accounts.get_user("inv1"), store.accounts.get_user("inv2")
    open_case(store, inv2, OpenCaseRequest(NUMBER, "opened first", members=("inv1",)))
    record = search(engine, store, inv1, SearchRequest(probe_photo(1), case=NUMBER, purpose="p"))
    assert record.id is not None
    assert visible_search(store, inv2, record.id).seq == record.id
    assert _timeline_actions(store, inv2) == ["case_open", "search"]


def test_an_attempt_logged_before_any_check_says_what_the_registry_held_when_logged(
    engine: Engine, store: AccountabilityStore, probe_photo: Any
) -> None:
    """An upload the server refuses before the application's checks is logged unchecked: its
    entry says whether the registry held its number when it was written."""
    inv1, inv2 = store.accounts.get_user("inv1"), store.accounts.get_user("inv2")
    failure = Failure(InputError("not an image"), engine.pipeline.model_id)
    before = record_failed_search(store, inv1, SearchRequest(b"x", NUMBER, "p"), failure)
    open_case(store, inv2, OpenCaseRequest(NUMBER, "opened after", members=("inv1",)))
    after = record_failed_search(store, inv1, SearchRequest(b"x", NUMBER, "p"), failure)
    assert store.audit.get(before).payload[CASE_REGISTERED] is False
    assert CASE_REGISTERED not in store.audit.get(after).payload
    searches = [e.entry.seq for e in case_timeline(store, inv2, NUMBER).events]
    assert before not in searches and after in searches


def test_an_erasure_in_flight_when_its_case_is_opened_is_not_shown_to_its_members(
    engine: Engine, store: AccountabilityStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An erasure names its case as free text (no registry check: it is no case's work to
    refuse), so one running while a case of that number is opened was shown, faces and
    reason, in the timeline of that case's members."""
    from facesearch.app import EraseRequest, erase

    admin, inv2 = store.accounts.get_user("admin1"), store.accounts.get_user("inv2")
    _opening_while(engine, monkeypatch, "forget", inv2, store)
    first, second = engine.catalog.faces([1, 2])
    request = EraseRequest("a request", face_ids=(first.id,), case=NUMBER)
    record = erase(engine, store, admin, request)
    assert store.audit.get(record.id).payload[CASE_REGISTERED] is False
    assert _timeline_actions(store, inv2) == ["case_open"]
    assert Action.ERASE.value in _timeline_actions(store, admin)
    monkeypatch.undo()  # the case is open now
    request = EraseRequest("a request", face_ids=(second.id,), case=NUMBER)
    later = erase(engine, store, admin, request)
    assert CASE_REGISTERED not in store.audit.get(later.id).payload  # once opened: its work
    assert _timeline_actions(store, inv2).count(Action.ERASE.value) == 1
