"""An erasure like a photo after its scan: its pending blocklist entry is renewed until its
audit entry records it, and an erasure that fails after the scan (faces may be gone) leaves
the entry to settle at once. Before, the renewal stopped with the scan, and a failure after
it left an entry that every ingest applied, that no audit entry recorded, and that
``facesearch erasure blocklist`` called "may be running" for as long as the process lived (a
server: until its restart)."""

from __future__ import annotations

import importlib
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
