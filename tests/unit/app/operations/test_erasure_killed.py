"""An erasure like a photo killed outright (SIGKILL) between its blocklist entry and its audit
entry: the entry, which every ingest applies, stays pending, naming the dead process;
``pending_blocklist`` lists it (``facesearch erasure blocklist``) and ``settle_pending`` keeps
or takes it back in an ``erase`` entry (``facesearch erasure settle``). A pending entry of a
process still running is not settled."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.fakes import DIM, face_photo

from facesearch.accountability import AccountabilityStore, Action, local_actor
from facesearch.app import EraseRequest, erase
from facesearch.app.blocklist_pending import pending_blocklist, settle_pending
from facesearch.engine import Engine
from facesearch.errors import InputError, NotFoundError
from facesearch.gallery.catalog import RunOwner
from facesearch.gallery.run_lease import this_process

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="pid spaces are read in /proc")

REPO = Path(__file__).resolve().parents[4]
CHILD = "tests.unit.app.operations.erase_until_killed"
HOST = local_actor("tester")


def _kill_an_erasure(home: Any, tmp_path: Path) -> None:
    """The host's erasure like person 0, killed with SIGKILL during its scan."""
    ready, log = tmp_path / "ready", tmp_path / "child.log"
    settings = home.settings
    with log.open("w") as err:
        args = (settings.home, settings.cache_dir, ready)
        proc = subprocess.Popen(
            [sys.executable, "-m", CHILD, *map(str, args)], cwd=REPO, stderr=err
        )
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the erasure to kill never got ready"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


@pytest.mark.parametrize("keep", [True, False])
def test_an_erasure_killed_before_its_entry_leaves_a_pending_entry_to_settle(
    engine: Engine, store: AccountabilityStore, home: Any, tmp_path: Path, keep: bool
) -> None:
    """Before, the killed erasure's blocklist entry stayed, applied by every ingest, and no
    audit entry recorded it nor anything listed it."""
    model = engine.pipeline.model_id
    assert engine.catalog.blocklist(model).shape[0] == 0
    _kill_an_erasure(home, tmp_path)
    assert store.audit.entries(action=Action.ERASE, limit=None) == []
    assert engine.catalog.blocklist(model).shape[0] == 1  # ingests skip the person meanwhile
    (pending,) = pending_blocklist(engine, store, HOST)
    assert pending.gone is not None and "has ended" in pending.gone
    assert pending.block.org is None and "pid" in pending.line()
    with pytest.raises(InputError, match="reason is required"):
        settle_pending(engine, store, HOST, pending.block.id, keep=keep, reason=" ")
    entry = settle_pending(engine, store, HOST, pending.block.id, keep=keep, reason="DSR-9 crash")
    assert entry.action == Action.ERASE and entry.payload["blocklisted"] is keep
    settled = entry.payload["pending_blocklist"]
    assert settled["id"] == pending.block.id
    assert settled["settled"] == ("kept" if keep else "taken back")
    assert pending_blocklist(engine, store, HOST) == []
    assert engine.catalog.blocklist(model).shape[0] == (1 if keep else 0)
    with pytest.raises(NotFoundError):
        settle_pending(engine, store, HOST, pending.block.id, keep=keep, reason="again")


def test_an_erasure_that_ends_records_its_entry_and_a_running_one_is_not_settled(
    engine: Engine, store: AccountabilityStore
) -> None:
    done = erase(engine, store, HOST, EraseRequest("DSR-1", like=face_photo(0, 9)))
    assert done.blocklisted and pending_blocklist(engine, store, HOST) == []
    model = engine.pipeline.model_id
    running = engine.catalog.blocklist_add(model, np.ones(DIM), pending=this_process())
    (pending,) = pending_blocklist(engine, store, HOST)
    assert pending.block.id == running and pending.gone is None  # this process lives
    with pytest.raises(InputError, match="may still be running"):
        settle_pending(engine, store, HOST, running, keep=False, reason="r")
    engine.catalog.blocklist_remove(running)


def test_an_organisation_sees_its_own_pending_entries_only(
    engine: Engine, store: AccountabilityStore
) -> None:
    store.orgs.add("police", by=HOST)
    model = engine.pipeline.model_id
    gone = RunOwner("elsewhere", "", 1, "")  # another machine's process: told by the age
    theirs = engine.catalog.blocklist_add(model, np.ones(DIM), org="police", pending=gone)
    ours = engine.catalog.blocklist_add(model, -np.ones(DIM), pending=gone)
    officer = local_actor("tester", org="police")
    assert [p.block.id for p in pending_blocklist(engine, store, officer)] == [theirs]
    assert [p.block.id for p in pending_blocklist(engine, store, HOST)] == [theirs, ours]
    with pytest.raises(NotFoundError):
        settle_pending(engine, store, officer, ours, keep=True, reason="r")
    (fresh,) = pending_blocklist(engine, store, officer)
    assert fresh.gone is None  # another machine's process, seen a moment ago: may be running
    later = datetime.now(UTC) + timedelta(hours=2)
    (old,) = pending_blocklist(engine, store, officer, now=later)
    assert old.gone is not None and "cannot see" in old.gone


def test_an_erasure_whose_audit_entry_fails_leaves_its_entry_pending_to_settle_now(
    engine: Engine, store: AccountabilityStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The faces went but the ``erase`` entry could not be written: the blocklist entry stays
    pending, said to be over although this process lives on (a server), and is settled now;
    the error names it."""
    from facesearch.errors import CatalogError

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise CatalogError("the trail cannot be written")

    with monkeypatch.context() as m:
        m.setattr(store.audit, "append", broken)
        with pytest.raises(CatalogError, match="no audit entry records it") as raised:
            erase(engine, store, HOST, EraseRequest("DSR-2", like=face_photo(0, 9)))
    (pending,) = pending_blocklist(engine, store, HOST)
    assert f"blocklist entry {pending.block.id} is pending" in str(raised.value)
    assert pending.gone is not None and "its audit entry could not be written" in pending.gone
    settle_pending(engine, store, HOST, pending.block.id, keep=True, reason="DSR-2, recorded")
    assert pending_blocklist(engine, store, HOST) == []
    assert engine.catalog.blocklist(engine.pipeline.model_id).shape[0] == 1
