"""An erasure like a photo after its scan: its pending blocklist entry is renewed until its
audit entry records it, and an erasure that fails after the scan (faces may be gone) leaves
the entry to settle at once. Before, the renewal stopped with the scan, and a failure after
it left an entry that every ingest applied, that no audit entry recorded, and that
``facesearch erasure blocklist`` called "may be running" for as long as the process lived (a
server: until its restart)."""

from __future__ import annotations

import importlib
import logging
import time
from typing import Any

import pytest

from facesearch.accountability import AccountabilityStore, Actor, local_actor
from facesearch.app import EraseRequest, erase
from facesearch.app.blocklist_pending import pending_blocklist, settle_pending
from facesearch.engine import Engine
from facesearch.errors import CatalogError

HOST = local_actor("tester")


def _actor(store: AccountabilityStore, who: str) -> Actor:
    """The host's CLI (its entry blocklists for every ingest, in ``Engine.forget``), or an
    organisation's admin in a home of several organisations (its own organisation's entry,
    in ``app.erase``; in a home of one, it erases as the host does)."""
    if who == "host":
        return HOST
    store.orgs.add("south", by=HOST)
    store.orgs.claim("south-photos", "south", by=HOST)
    return store.accounts.get_user(who)


@pytest.mark.parametrize("who", ["host", "admin1"])
@pytest.mark.parametrize("where", ["deleting", "after"])
def test_an_erasure_that_fails_after_its_scan_leaves_its_entry_to_settle_at_once(
    engine: Engine,
    store: AccountabilityStore,
    probe_photo: Any,
    monkeypatch: pytest.MonkeyPatch,
    who: str,
    where: str,
) -> None:
    """It fails deleting the faces (nothing went), or after (the faces went, not the uploaded
    copies), before its audit entry."""
    # the module (``facesearch.app.erase`` the attribute is the function)
    erase_module = importlib.import_module("facesearch.app.erase")
    model = engine.pipeline.model_id
    faces = engine.catalog.stats()["faces"]

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise CatalogError("the disk is full")

    with monkeypatch.context() as m:
        if where == "deleting":
            m.setattr(engine.catalog, "delete_faces", broken)
        else:
            m.setattr(erase_module, "_delete_uploaded_copies", broken)
        with pytest.raises(CatalogError, match="the disk is full"):
            erase(engine, store, _actor(store, who), EraseRequest("DSR-20", like=probe_photo(1)))
    assert (engine.catalog.stats()["faces"] == faces) is (where == "deleting")
    (pending,) = pending_blocklist(engine, store, HOST)
    assert pending.block.org == (None if who == "host" else "default")
    assert pending.gone is not None and "the disk is full" in pending.gone, pending
    settle_pending(engine, store, HOST, pending.block.id, keep=False, reason="erase again")
    assert engine.catalog.blocklist(model).shape[0] == 0 and not engine.catalog.blocklist_pending()


@pytest.mark.parametrize("who", ["host", "admin1"])
def test_an_erasure_renews_its_entry_after_its_scan_too(
    engine: Engine,
    store: AccountabilityStore,
    probe_photo: Any,
    monkeypatch: pytest.MonkeyPatch,
    who: str,
) -> None:
    """The faces' deletion waits for a renewal newer than the scan's end."""
    monkeypatch.setattr("facesearch.forgetting.RENEW_EVERY_S", 0.02)
    real = engine.catalog.delete_faces

    def after_a_renewal(*args: Any, **kwargs: Any) -> Any:
        (block,) = engine.catalog.blocklist_pending()
        deadline = time.monotonic() + 10
        while engine.catalog.blocklist_pending()[0].renewed in (None, block.renewed):
            assert time.monotonic() < deadline, "the entry was not renewed after the scan"
            time.sleep(0.02)
        return real(*args, **kwargs)

    monkeypatch.setattr(engine.catalog, "delete_faces", after_a_renewal)
    done = erase(engine, store, _actor(store, who), EraseRequest("DSR-21", like=probe_photo(1)))
    assert done.face_ids and done.blocklisted
    (entry,) = engine.catalog.blocklist_sizes(engine.pipeline.model_id)
    assert entry == (None if who == "host" else "default")
    assert engine.catalog.blocklist_pending() == []  # recorded


@pytest.mark.parametrize("who", ["host", "admin1"])
def test_an_erasure_whose_trail_fails_before_it_erases_takes_its_entry_back(
    engine: Engine, store: AccountabilityStore, probe_photo: Any, who: str
) -> None:
    """The trail checked again after the scan, before anything is erased, is unwritable: the
    entry was left pending and marked failed, to settle by hand, though nothing was erased
    (found in review)."""
    actor = _actor(store, who)
    real = store.audit.check_writable
    calls: list[None] = []

    def second_fails() -> None:
        calls.append(None)
        if len(calls) == 2:
            raise CatalogError("the audit key is unreadable")
        real()

    faces = engine.catalog.stats()["faces"]
    store.audit.check_writable = second_fails  # type: ignore[method-assign]
    try:
        with pytest.raises(CatalogError, match="the audit key is unreadable"):
            erase(engine, store, actor, EraseRequest("DSR-22", like=probe_photo(1)))
    finally:
        del store.audit.check_writable
    assert engine.catalog.stats()["faces"] == faces
    assert engine.catalog.blocklist_pending() == []
    assert engine.catalog.blocklist(engine.pipeline.model_id).shape[0] == 0


@pytest.mark.parametrize("who", ["host", "admin1"])
def test_an_erasure_whose_entry_cannot_be_marked_recorded_still_succeeds(
    engine: Engine,
    store: AccountabilityStore,
    probe_photo: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    who: str,
) -> None:
    """Its audit entry is written, then marking the entry recorded fails (database locked):
    the erasure raised, and its entry read 'ended without recording it: the erasure failed
    after its scan', inviting a take-back the erase entry ('blocklisted': true) contradicts
    (found in review). Now it returns, the entry stays pending, unmarked, and a warning says
    how to settle it."""

    def locked(*args: Any, **kwargs: Any) -> Any:
        raise CatalogError("database is locked")

    monkeypatch.setattr(engine.catalog, "blocklist_recorded", locked)
    with caplog.at_level(logging.WARNING, "facesearch.forgetting"):
        done = erase(engine, store, _actor(store, who), EraseRequest("DSR-23", like=probe_photo(1)))
    assert done.face_ids and done.blocklisted
    (block,) = engine.catalog.blocklist_pending()
    assert block.failed is None
    assert f"blocklist entry {block.id} could not be marked recorded" in caplog.text
    assert f"erasure settle {block.id} --keep" in caplog.text


def test_an_erasure_whose_failure_cannot_be_marked_says_so(
    engine: Engine,
    store: AccountabilityStore,
    probe_photo: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The catalog is down: the deletion fails, and marking the entry failed fails too. The
    entry stays pending for this process; before, nothing said so (found in review)."""

    def down(*args: Any, **kwargs: Any) -> Any:
        raise CatalogError("the database is down")

    monkeypatch.setattr(engine.catalog, "delete_faces", down)
    monkeypatch.setattr(engine.catalog, "blocklist_unrecorded", down)
    with (
        caplog.at_level(logging.WARNING, "facesearch.forgetting"),
        pytest.raises(CatalogError, match="the database is down"),
    ):
        erase(engine, store, HOST, EraseRequest("DSR-24", like=probe_photo(1)))
    (block,) = engine.catalog.blocklist_pending()
    assert f"blocklist entry {block.id}, of an erasure that failed after its scan" in caplog.text
    assert "stays pending until this process ends" in caplog.text
