"""Settling a pending erasure-blocklist entry (``app.blocklist_pending``): of two settlements
at once exactly one logs and settles it; a settlement is recorded in the trail of the
entry's organisation; an erasure that renews its entry is not taken for gone, and one whose
entry was settled meanwhile neither takes it back nor records it, and says so."""

from __future__ import annotations

import logging
import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from tests.fakes import DIM

from facesearch.accountability import AccountabilityStore, Action, local_actor
from facesearch.app.blocklist_pending import _why_gone, pending_blocklist, settle_pending
from facesearch.engine import Engine
from facesearch.errors import CatalogError, NotFoundError
from facesearch.forgetting import blocklisted_for_the_scan
from facesearch.gallery.catalog import PendingBlock, RunOwner
from facesearch.gallery.run_lease import this_process
from facesearch.results import PersonLike

HOST = local_actor("tester")


def _dead() -> RunOwner:
    """A process of this pid space that is surely gone (this pid, another start time)."""
    me = this_process()
    return RunOwner(me.host, me.space, os.getpid(), "1")


def _erases(store: AccountabilityStore, org: str | None = None) -> list[Any]:
    return store.audit.entries(org=org, action=Action.ERASE, limit=None)


@pytest.mark.parametrize(("first", "second"), [(True, False), (False, True), (True, True)])
def test_of_two_settlements_at_once_one_settles_and_the_other_logs_nothing(
    engine: Engine,
    store: AccountabilityStore,
    monkeypatch: pytest.MonkeyPatch,
    first: bool,
    second: bool,
) -> None:
    """Another settlement runs whole between this one's read and its change. Before, both
    logged ("taken back" then "kept", or "kept" twice) and both said they settled it."""
    model = engine.pipeline.model_id
    entry = engine.catalog.blocklist_add(model, np.ones(DIM), pending=_dead())
    read = engine.catalog.blocklist_pending
    raced: list[Any] = []

    def read_then_race() -> Any:
        found = read()
        if not raced:  # the first read, this settlement's: the other runs now, whole
            raced.append(None)
            raced[0] = settle_pending(engine, store, HOST, entry, keep=second, reason="B")
        return found

    monkeypatch.setattr(engine.catalog, "blocklist_pending", read_then_race)
    with pytest.raises(NotFoundError, match=f"no pending blocklist entry {entry}"):
        settle_pending(engine, store, HOST, entry, keep=first, reason="A")
    monkeypatch.undo()
    assert [e.seq for e in _erases(store)] == [raced[0].seq]  # the winner's entry alone
    assert pending_blocklist(engine, store, HOST) == []
    assert engine.catalog.blocklist(model).shape[0] == (1 if second else 0)


def test_a_settlement_that_cannot_be_logged_leaves_the_entry_pending_as_it_was(
    engine: Engine, store: AccountabilityStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = engine.catalog.blocklist_add(engine.pipeline.model_id, np.ones(DIM), pending=_dead())
    (before,) = engine.catalog.blocklist_pending()

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise CatalogError("the trail cannot be written")

    with monkeypatch.context() as m:
        m.setattr(store.audit, "append", broken)
        with pytest.raises(CatalogError):
            settle_pending(engine, store, HOST, entry, keep=True, reason="r")
    (after,) = engine.catalog.blocklist_pending()
    assert after == before and after.held == before.held and not after.settling
    settle_pending(engine, store, HOST, entry, keep=True, reason="r")
    assert engine.catalog.blocklist_pending() == []


def test_the_host_s_settlement_of_an_organisation_s_entry_goes_in_its_trail(
    engine: Engine, store: AccountabilityStore
) -> None:
    """Before, the host's settlement went into the default organisation's trail, with south's
    details, and south's auditor saw nothing of its own opt-out's fate."""
    store.orgs.add("south", by=HOST)
    model = engine.pipeline.model_id
    theirs = engine.catalog.blocklist_add(model, np.ones(DIM), org="south", pending=_dead())
    ours = engine.catalog.blocklist_add(model, -np.ones(DIM), pending=_dead())
    entry = settle_pending(engine, store, HOST, theirs, keep=True, reason="DSR-10 crash")
    assert entry.org == "south" and entry.actor == HOST.name
    assert [e.seq for e in _erases(store, "south")] == [entry.seq]
    assert _erases(store, "default") == []
    officer = local_actor("tester", org="south")
    mine = engine.catalog.blocklist_add(model, 2 * np.ones(DIM), org="south", pending=_dead())
    assert settle_pending(engine, store, officer, mine, keep=False, reason="r").org == "south"
    host = settle_pending(engine, store, HOST, ours, keep=False, reason="r")
    assert [e.seq for e in _erases(store, "default")] == [host.seq]


def test_an_erasure_elsewhere_that_renewed_its_entry_is_not_taken_for_gone() -> None:
    """Before, one added over 100 minutes ago was taken for gone, however long its scan ran."""
    now = datetime.now(UTC)
    added = (now - timedelta(hours=3)).isoformat()
    elsewhere = RunOwner("elsewhere", "", 1, "")
    renewed = (now - timedelta(minutes=1)).isoformat()
    alive = PendingBlock(1, "m", None, added, "", elsewhere, renewed=renewed)
    assert _why_gone(alive, now) is None
    silent = (now - timedelta(hours=2)).isoformat()
    gone = _why_gone(PendingBlock(1, "m", None, added, "", elsewhere, renewed=silent), now)
    assert gone is not None and f"last renewed {silent}" in gone


def test_an_erasure_renews_its_entry_during_its_scan(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("facesearch.forgetting.RENEW_EVERY_S", 0.02)
    person = PersonLike(np.ones(DIM, np.float32), 1)
    with blocklisted_for_the_scan(engine, person) as hold:
        deadline = time.monotonic() + 10
        while engine.catalog.blocklist_pending()[0].renewed is None:
            assert time.monotonic() < deadline, "the scan's entry was never renewed"
            time.sleep(0.02)
    assert engine.catalog.blocklist_recorded(hold.id, this_process())


@pytest.mark.parametrize("keep", [True, False])
def test_an_erasure_whose_entry_was_settled_meanwhile_leaves_it_and_says_so(
    engine: Engine, store: AccountabilityStore, caplog: pytest.LogCaptureFixture, keep: bool
) -> None:
    """Before, a failed erasure took back an entry someone chose to keep meanwhile."""
    person = PersonLike(np.ones(DIM, np.float32), 1)
    with (
        caplog.at_level(logging.WARNING, "facesearch.forgetting"),
        pytest.raises(RuntimeError, match="Ray"),
        blocklisted_for_the_scan(engine, person) as hold,
    ):
        (seen,) = engine.catalog.blocklist_pending()  # as if taken for gone elsewhere
        marker = engine.catalog.blocklist_claim(hold.id, seen.held, _dead())
        assert marker is not None and engine.catalog.blocklist_settled(hold.id, marker, keep=keep)
        raise RuntimeError("Ray is unreachable")
    assert engine.catalog.blocklist(engine.pipeline.model_id).shape[0] == (1 if keep else 0)
    assert f"blocklist entry {hold.id} was settled by someone else" in caplog.text


def test_an_audited_erasure_whose_entry_was_settled_meanwhile_says_so(
    engine: Engine,
    store: AccountabilityStore,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """``app.erase`` recorded its entry after its audit entry without looking: an entry
    someone took back meanwhile (its process taken for gone) went unremarked."""
    from tests.fakes import face_photo

    from facesearch.app import EraseRequest, erase

    real = engine.forget

    def settled_elsewhere(**kwargs: Any) -> Any:
        result = real(**kwargs)
        (seen,) = engine.catalog.blocklist_pending()  # taken for gone, and taken back
        marker = engine.catalog.blocklist_claim(seen.id, seen.held, _dead())
        assert marker is not None
        assert engine.catalog.blocklist_settled(seen.id, marker, keep=False)
        return result

    monkeypatch.setattr(engine, "forget", settled_elsewhere)
    with caplog.at_level(logging.WARNING, "facesearch.forgetting"):
        erase(engine, store, HOST, EraseRequest("a request", like=face_photo(0, 9)))
    assert "was settled by someone else while this erasure ran" in caplog.text
    assert engine.catalog.blocklist(engine.pipeline.model_id).shape[0] == 0
