"""The two-person rule: states, transitions, who may decide, and the trail behind it."""

from __future__ import annotations

from datetime import timedelta
from itertools import product

import pytest
from accountability_helpers import PW, T0, tamper

from facesearch.accountability import (
    TRANSITIONS,
    AccountabilityStore,
    Action,
    BreakKind,
    CandidateStatus,
    PendingCandidate,
    Role,
    User,
    Verdict,
    local_actor,
    next_status,
)
from facesearch.errors import (
    AuthenticationError,
    CatalogError,
    InputError,
    NotFoundError,
    PermissionDeniedError,
)

S, V = CandidateStatus, Verdict
MATCH, REJECT = Verdict.POSSIBLE_MATCH, Verdict.REJECTED


@pytest.fixture
def people(store: AccountabilityStore) -> dict[str, User]:
    root = local_actor("root")
    return {
        name: store.accounts.add_user(name, role, PW, by=root)
        for name, role in [
            ("admin", Role.ADMIN),
            ("alice", Role.INVESTIGATOR),
            ("bob", Role.INVESTIGATOR),
            ("carol", Role.INVESTIGATOR),
            ("audrey", Role.AUDITOR),
        ]
    }


@pytest.fixture
def search(store: AccountabilityStore, people: dict[str, User]) -> int:
    """A logged search with three candidates (the payload keys the decisions read)."""
    return new_search(store, case="K-17")


def new_search(store: AccountabilityStore, case: str) -> int:
    candidates = [{"face_id": 11, "score": 0.71}, {"face_id": 12, "score": 0.52}]
    candidates.append({"face_id": "ext-7", "score": 0.45})
    entry = store.audit.append(
        actor="alice",
        action=Action.SEARCH,
        case=case,
        purpose="burglary",
        payload={"probe_sha256": "cd" * 32, "candidates": candidates},
    )
    return entry.seq


# --- the table --------------------------------------------------------------------------------


def test_transition_table_is_complete_and_as_documented():
    assert set(TRANSITIONS) == set(product(CandidateStatus, Verdict))
    assert TRANSITIONS == {
        (S.UNREVIEWED, V.POSSIBLE_MATCH): S.POSSIBLE_MATCH,
        (S.UNREVIEWED, V.REJECTED): S.REJECTED,
        (S.POSSIBLE_MATCH, V.POSSIBLE_MATCH): S.CONFIRMED,
        (S.POSSIBLE_MATCH, V.REJECTED): S.DISPUTED,
        (S.REJECTED, V.POSSIBLE_MATCH): S.DISPUTED,
        (S.REJECTED, V.REJECTED): S.REJECTED,
        (S.CONFIRMED, V.POSSIBLE_MATCH): S.CONFIRMED,
        (S.CONFIRMED, V.REJECTED): S.DISPUTED,
        (S.DISPUTED, V.POSSIBLE_MATCH): S.DISPUTED,
        (S.DISPUTED, V.REJECTED): S.DISPUTED,
    }
    # Nothing leads out of disputed, and only possible_match leads into confirmed.
    assert all(next_status(S.DISPUTED, v) is S.DISPUTED for v in Verdict)
    assert {k for k, v in TRANSITIONS.items() if v is S.CONFIRMED} == {
        (S.POSSIBLE_MATCH, V.POSSIBLE_MATCH),
        (S.CONFIRMED, V.POSSIBLE_MATCH),
    }


# --- the rule ---------------------------------------------------------------------------------


def test_two_different_people_confirm(store, people, search, clock):
    state = store.decisions.state(search, 11)
    assert state.status is S.UNREVIEWED and state.history == ()
    clock.advance(minutes=5)
    state = store.decisions.decide(people["alice"], search, 11, MATCH, "same scar")
    assert state.status is S.POSSIBLE_MATCH
    assert state.awaits_second_person("bob") and not state.awaits_second_person("alice")
    clock.advance(minutes=5)
    state = store.decisions.decide(people["bob"], search, 11, "possible_match", "agree")
    assert state.status is S.CONFIRMED
    assert state.verified_by == ("alice", "bob")
    assert [(r.actor, r.verdict, r.note, r.status, r.time) for r in state.history] == [
        ("alice", MATCH, "same scar", S.POSSIBLE_MATCH, T0 + timedelta(minutes=5)),
        ("bob", MATCH, "agree", S.CONFIRMED, T0 + timedelta(minutes=10)),
    ]
    assert store.decisions.state(search, 11) == state  # read back the same


def test_the_same_person_twice_does_not_confirm(store, people, search):
    store.decisions.decide(people["alice"], search, 11, MATCH)
    with pytest.raises(PermissionDeniedError, match="two-person rule"):
        store.decisions.decide(people["alice"], search, 11, MATCH)
    # The same person under another spelling of the name is still the same person.
    same = store.accounts.check_password("ALICE", PW)
    with pytest.raises(PermissionDeniedError, match="two-person rule"):
        store.decisions.decide(same, search, 11, MATCH)
    state = store.decisions.state(search, 11)
    assert state.status is S.POSSIBLE_MATCH and len(state.history) == 1
    assert len(store.audit.entries(action=Action.DECISION)) == 1


def test_an_admin_may_be_the_second_person(store, people, search):
    store.decisions.decide(people["alice"], search, 11, MATCH)
    assert store.decisions.decide(people["admin"], search, 11, MATCH).status is S.CONFIRMED


def test_two_local_logins_are_two_people(store, search):
    store.decisions.decide(local_actor("jo"), search, 12, MATCH)
    assert store.decisions.decide(local_actor("kim"), search, 12, MATCH).status is S.CONFIRMED


def test_auditors_cannot_decide(store, people, search):
    with pytest.raises(PermissionDeniedError):
        store.decisions.decide(people["audrey"], search, 11, MATCH)
    with pytest.raises(PermissionDeniedError):
        store.decisions.decide(people["audrey"], search, 11, REJECT)
    assert store.audit.entries(action=Action.DECISION) == []


def test_a_disabled_account_cannot_decide(store, people, search):
    store.accounts.disable_user("bob", by=people["admin"])
    with pytest.raises(AuthenticationError):
        store.decisions.decide(people["bob"], search, 11, MATCH)


@pytest.mark.parametrize(
    "steps, final",
    [
        ([("alice", MATCH), ("bob", REJECT)], S.DISPUTED),
        ([("alice", MATCH), ("alice", REJECT)], S.DISPUTED),  # changed their mind
        ([("alice", REJECT)], S.REJECTED),
        ([("alice", REJECT), ("bob", REJECT)], S.REJECTED),
        ([("alice", REJECT), ("bob", MATCH)], S.DISPUTED),
        ([("alice", REJECT), ("bob", MATCH), ("carol", MATCH)], S.DISPUTED),
        ([("alice", MATCH), ("bob", MATCH), ("carol", MATCH)], S.CONFIRMED),
        ([("alice", MATCH), ("bob", MATCH), ("carol", REJECT)], S.DISPUTED),
        ([("alice", MATCH), ("bob", REJECT), ("carol", MATCH)], S.DISPUTED),
    ],
)
def test_sequences(store, people, search, steps, final):
    for name, verdict in steps:
        state = store.decisions.decide(people[name], search, "ext-7", verdict)
    assert state.status is final
    assert [r.status for r in state.history][-1] is final
    assert store.decisions.state(search, "ext-7").status is final


def test_duplicate_verdicts_are_refused(store, people, search):
    store.decisions.decide(people["alice"], search, 11, REJECT)
    with pytest.raises(InputError, match="already marked"):
        store.decisions.decide(people["alice"], search, 11, REJECT)
    store.decisions.decide(people["alice"], search, 12, MATCH)
    store.decisions.decide(people["bob"], search, 12, MATCH)
    with pytest.raises(InputError, match="already marked"):
        store.decisions.decide(people["bob"], search, 12, MATCH)


def test_candidates_are_checked_against_the_search(store, people, search):
    alice = people["alice"]
    with pytest.raises(NotFoundError):
        store.decisions.decide(alice, 999, 11, MATCH)
    with pytest.raises(NotFoundError):
        store.decisions.decide(alice, 1, 11, MATCH)  # entry 1 is a user_add, not a search
    with pytest.raises(InputError, match="not a candidate"):
        store.decisions.decide(alice, search, 13, MATCH)
    with pytest.raises(InputError, match="not a candidate"):
        store.decisions.decide(alice, search, "11", MATCH)  # a face id keeps its type
    with pytest.raises(InputError, match="verdict"):
        store.decisions.decide(alice, search, 11, "confirmed")
    with pytest.raises(InputError, match="note"):
        store.decisions.decide(alice, search, 11, MATCH, "x" * 2001)


def test_each_verdict_is_an_audit_entry(store, people, search):
    store.decisions.decide(people["alice"], search, 11, MATCH, "looks alike")
    store.decisions.decide(people["bob"], search, 11, MATCH, case="K-17b", purpose="review")
    first, second = store.audit.entries(action=Action.DECISION)
    assert first.actor == "alice" and first.case == "K-17" and first.purpose == "burglary"
    assert first.payload == {
        "search_seq": search,
        "face_id": 11,
        "verdict": "possible_match",
        "note": "looks alike",
        "status_before": "unreviewed",
        "status_after": "possible_match",
    }
    assert second.case == "K-17b" and second.purpose == "review"
    assert second.payload["status_after"] == "confirmed"
    assert store.verify().ok


def test_states_of_a_search(store, people, search):
    store.decisions.decide(people["alice"], search, 12, REJECT)
    store.decisions.decide(people["alice"], search, 11, MATCH)
    store.decisions.decide(people["bob"], search, "ext-7", MATCH)
    states = {s.face_id: s.status for s in store.decisions.states(search)}
    assert states == {11: S.POSSIBLE_MATCH, 12: S.REJECTED, "ext-7": S.POSSIBLE_MATCH}


# --- against tampering ------------------------------------------------------------------------


def test_hiding_a_rejection_in_the_index_is_found(store, people, search):
    store.decisions.decide(people["alice"], search, 11, MATCH)
    rejection = store.decisions.decide(people["carol"], search, 11, REJECT).history[-1]
    store.decisions.decide(people["bob"], search, 11, MATCH)
    assert store.decisions.state(search, 11).status is S.DISPUTED
    tamper(store, f"DELETE FROM decisions WHERE audit_seq = {rejection.audit_seq}")
    report = store.verify()
    assert [(b.kind, b.first) for b in report.breaks] == [(BreakKind.INDEX, rejection.audit_seq)]


def test_pointing_the_index_at_another_entry_is_found_and_refused(store, people, search):
    state = store.decisions.decide(people["alice"], search, 11, MATCH)
    face = "'11'" if store.db.url else "11"  # the JSONB 11 on PostgreSQL
    tamper(store, f"INSERT INTO decisions VALUES (1, {search}, {face})")  # 1 is a user_add
    assert (BreakKind.INDEX, 1) in [(b.kind, b.first) for b in store.verify().breaks]
    with pytest.raises(CatalogError, match="run verify"):
        store.decisions.state(search, 11)
    assert state.history[0].audit_seq != 1


# --- who may see a search (usage.may_see_search, built on the decisions) ------------------------


def test_a_search_is_seen_by_author_reviewers_and_those_asked_to_confirm(
    store: AccountabilityStore, people: dict[str, User], search: int
) -> None:
    from facesearch.app import may_see_search, visible_search

    def seen_by() -> set[str]:
        entry = store.audit.get(search)
        return {name for name, user in people.items() if may_see_search(store, user, entry)}

    assert seen_by() == {"admin", "alice", "audrey"}  # author, admin, auditor
    with pytest.raises(NotFoundError, match=f"no search {search}"):
        visible_search(store, people["bob"], search)
    with pytest.raises(NotFoundError, match="no search 999"):  # the same as a missing one
        visible_search(store, people["bob"], 999)
    store.decisions.decide(people["alice"], search, 12, REJECT)
    assert seen_by() == {"admin", "alice", "audrey"}  # a rejection asks nobody
    store.decisions.decide(people["alice"], search, 11, MATCH)
    assert seen_by() == set(people)  # a possible match asks every other reviewer to confirm
    store.decisions.decide(people["bob"], search, 11, MATCH)
    assert seen_by() == {"admin", "alice", "audrey", "bob"}  # confirmed: carol is not asked now
    assert may_see_search(store, local_actor("root"), store.audit.get(search))


# --- what waits for a second person -----------------------------------------------------------


def test_awaiting_second_person_lists_one_persons_possible_matches_since(store, people, clock):
    """One query answers the pending list: a candidate whose only verdict is a possible match
    by someone else, given since ``since``; newest first."""
    one, two, three = (
        new_search(store, "K-17"),
        new_search(store, "K-18"),
        new_search(store, "K-19"),
    )
    decide = store.decisions.decide
    decide(people["carol"], one, 12, MATCH)  # older than `since`
    clock.advance(days=10)
    t1 = clock.now
    decide(people["alice"], one, 11, MATCH)  # pending
    decide(people["alice"], one, "ext-7", MATCH)
    decide(people["carol"], one, "ext-7", REJECT)  # disputed
    decide(people["carol"], two, 11, REJECT)  # rejected
    clock.advance(hours=1)
    decide(people["alice"], two, 12, MATCH)
    decide(people["carol"], two, 12, MATCH)  # decided twice: confirmed
    decide(people["admin"], one, 12, MATCH)  # confirms carol's old mark: not pending any more
    decide(people["bob"], two, "ext-7", MATCH)  # bob's own mark
    clock.advance(minutes=1)
    t2 = clock.now
    decide(people["admin"], three, 11, MATCH)
    since = T0 + timedelta(days=5)

    pending = store.decisions.awaiting_second_person("bob", since)
    assert pending == [
        PendingCandidate(three, 11, "K-19", ("admin",), t2),
        PendingCandidate(one, 11, "K-17", ("alice",), t1),
    ]
    carol = store.decisions.awaiting_second_person("carol", since)
    assert [(p.search_seq, p.face_id, p.marked_by) for p in carol] == [
        (three, 11, ("admin",)),
        (two, "ext-7", ("bob",)),
        (one, 11, ("alice",)),
    ]
    assert store.decisions.awaiting_second_person("bob", t2 + timedelta(seconds=1)) == []
    # the same answer as replaying every candidate decided since then
    for name in people:
        expected = {
            (seq, face)
            for seq in (one, two, three)
            for face in (11, 12, "ext-7")
            if store.decisions.state(seq, face).awaits_second_person(name)
            and store.decisions.state(seq, face).history[0].time >= since
        }
        found = store.decisions.awaiting_second_person(name, since)
        assert {(p.search_seq, p.face_id) for p in found} == expected, name
