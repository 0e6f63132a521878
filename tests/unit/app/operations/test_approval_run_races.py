"""app.approvals under concurrency: one approved search request run twice at once, from two
processes on one home (two servers behind one proxy, the CLI and a server), each with its own
store and engine. The run claims the request (a ``search_run_claim`` entry) in one write
transaction before it searches, so the second is refused while the first is under way; a
failed run releases its claim, and a claim whose run never ended lapses after ``CLAIM_TTL``.
On the fake gallery (tests/fakes.py)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from tests.fakes import FakePipeline, no_face_photo
from tests.unit.app.operations.approval_setup import USE, approvals_on

from facesearch.accountability import AccountabilityStore, Action, Actor
from facesearch.accountability.db import utc_now
from facesearch.app import SearchRequest, search
from facesearch.app.approvals import (
    CLAIM_TTL,
    ApprovalState,
    approve,
    get_request,
    request_search,
    run_approved,
)
from facesearch.engine import Engine
from facesearch.errors import InputError, NoFaceError


@pytest.fixture()
def other(home: Any, fake_pipeline: FakePipeline) -> Iterator[tuple[Engine, AccountabilityStore]]:
    """A second process on the same home: its own engine and store."""
    e = Engine(home.settings, pipeline=fake_pipeline)
    with AccountabilityStore.open(home.home) as s:
        yield e, s
    e.catalog.close()


def _approved(engine: Engine, store: AccountabilityStore, photo: Any) -> tuple[Actor, int]:
    (sup,) = approvals_on(store)
    inv = store.accounts.get_user("inv1")
    seq = request_search(engine, store, inv, SearchRequest(photo, **USE)).id
    approve(store, sup, seq, "proportionate")
    return inv, seq


def _runs(store: AccountabilityStore, seq: int) -> list[Any]:
    return [
        e
        for e in store.audit.entries(org="default", action=Action.SEARCH, limit=None)
        if e.payload.get("approval") == seq
    ]


def test_one_approved_request_run_from_two_processes_at_once_runs_once(
    engine: Engine,
    store: AccountabilityStore,
    other: tuple[Engine, AccountabilityStore],
    probe_photo: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    inv, seq = _approved(engine, store, probe_photo(2))
    searching, release = threading.Event(), threading.Event()
    engine_search = engine.search

    def held(*args: Any, **kwargs: Any) -> Any:  # the first run, between its check and its log
        searching.set()
        assert release.wait(30)
        return engine_search(*args, **kwargs)

    monkeypatch.setattr(engine, "search", held)
    told: dict[str, Any] = {}

    def first() -> None:
        try:
            told["first"] = run_approved(engine, store, inv, seq)
        except Exception as exc:  # shown by the assertion below
            told["first"] = exc

    thread = threading.Thread(target=first)
    thread.start()
    try:
        assert searching.wait(30)
        engine2, store2 = other
        inv2 = store2.accounts.get_user("inv1")
        assert get_request(store2, inv2, seq).state is ApprovalState.RUNNING
        with pytest.raises(InputError, match=f"search request {seq} is running or ran already"):
            run_approved(engine2, store2, inv2, seq)
        # nor through search() with the approval, past run_approved's own look
        photo = probe_photo(2).read_bytes()
        with pytest.raises(InputError, match=f"search request {seq} is running or ran already"):
            search(engine2, store2, inv2, SearchRequest(photo, **USE, approval=seq))
    finally:
        release.set()
        thread.join(timeout=60)

    record = told["first"]
    assert not isinstance(record, Exception), record
    ran = _runs(store, seq)
    assert [e.seq for e in ran] == [record.id]
    assert ran[0].payload["outcome"] == "ok"
    claim = store.audit.get(ran[0].payload["claim"])
    assert claim.action == Action.SEARCH_RUN_CLAIM and claim.payload["request_seq"] == seq
    assert claim.case == "K-7" and claim.actor == "inv1"
    assert get_request(store, inv, seq).state is ApprovalState.RUN
    with pytest.raises(InputError, match="is running or ran already"):
        run_approved(other[0], other[1], inv, seq)
    assert store.verify().ok


def test_a_failed_run_releases_its_claim(
    engine: Engine, store: AccountabilityStore, tmp_path: Any
) -> None:
    sky = tmp_path / "sky.png"
    sky.write_bytes(no_face_photo())
    inv, seq = _approved(engine, store, sky)
    for _ in range(2):  # approved again after each failure: it may be tried again
        with pytest.raises(NoFaceError):
            run_approved(engine, store, inv, seq)
        assert get_request(store, inv, seq).state is ApprovalState.APPROVED
    failed = _runs(store, seq)
    assert [e.payload["outcome"] for e in failed] == ["no_face", "no_face"]
    claims = [store.audit.get(e.payload["claim"]) for e in failed]
    assert [c.action for c in claims] == [Action.SEARCH_RUN_CLAIM] * 2


def test_a_claim_whose_run_never_ended_lapses(
    engine: Engine,
    store: AccountabilityStore,
    home: Any,
    probe_photo: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    inv, seq = _approved(engine, store, probe_photo(3))

    def died(*args: Any, **kwargs: Any) -> Any:  # no entry of its end: as a process killed
        raise RuntimeError("killed")

    monkeypatch.setattr(engine, "search", died)
    with pytest.raises(RuntimeError):
        run_approved(engine, store, inv, seq)
    monkeypatch.undo()
    assert _runs(store, seq) == []
    held = get_request(store, inv, seq)
    assert held.state is ApprovalState.RUNNING and held.claimed_until is not None
    with pytest.raises(InputError, match="is running or ran already"):
        run_approved(engine, store, inv, seq)

    def later() -> datetime:
        return utc_now() + CLAIM_TTL

    with AccountabilityStore.open(home.home, clock=later) as store2:
        assert get_request(store2, inv, seq).state is ApprovalState.APPROVED
        record = run_approved(engine, store2, inv, seq)
        assert get_request(store2, inv, seq).state is ApprovalState.RUN
    assert [e.seq for e in _runs(store, seq)] == [record.id]
