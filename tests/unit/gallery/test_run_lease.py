"""Who holds an ingest run, and whether that process is gone (``gallery.run_lease``)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from facesearch.gallery import run_lease
from facesearch.gallery.catalog import Catalog, RunOwner

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="pid spaces are read in /proc")


@pytest.fixture
def cat(tmp_path: Path) -> Iterator[Catalog]:
    with Catalog.open(tmp_path / "catalog.sqlite") as catalog:
        yield catalog


@pytest.fixture
def dead() -> RunOwner:
    """A process of this pid space that has ended (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        owner = replace(run_lease.this_process(), pid=proc.pid)
        since = run_lease._start_of(proc.pid)
        assert since is not None
        owner = replace(owner, since=since)
        assert run_lease.process_gone(owner) is False  # alive: not gone
    finally:
        proc.kill()
        proc.wait()
    return owner


def _held(cat: Catalog, owner: RunOwner) -> int:
    run = cat.start_run({})
    cat.hold_run(run, owner)
    return run


def _later(seconds: float) -> datetime:
    return datetime.now().astimezone() + timedelta(seconds=seconds)


def test_this_process_lives_and_an_ended_one_is_gone(dead: RunOwner) -> None:
    me = run_lease.this_process()
    assert me.space and me.since and run_lease.process_gone(me) is False
    assert run_lease.process_gone(dead) is True


def test_a_reused_pid_is_another_process() -> None:
    """The pid of a dead holder may be handed to a new process: its start time tells them apart."""
    me = run_lease.this_process()
    assert run_lease.process_gone(replace(me, since=str(int(me.since) - 1))) is True


def test_a_process_of_another_pid_space_is_left_to_the_lease() -> None:
    me = run_lease.this_process()
    for owner in (replace(me, space="another machine"), replace(me, since=""), replace(me, pid=0)):
        assert run_lease.process_gone(owner) is None


def test_a_live_holder_is_never_abandoned_however_old_its_lease(cat: Catalog) -> None:
    _held(cat, run_lease.this_process())
    assert run_lease.abandoned(cat, _later(run_lease.LEASE_S * 100)) == []


def test_a_gone_holder_of_this_pid_space_is_abandoned_at_once(cat: Catalog, dead: RunOwner) -> None:
    run = _held(cat, dead)
    (found,) = run_lease.abandoned(cat)
    assert found.run.id == run and found.reason == (
        f"its process (pid {dead.pid} on {dead.host}) is gone"
    )


def test_a_holder_elsewhere_is_abandoned_when_its_lease_runs_out(cat: Catalog) -> None:
    elsewhere = RunOwner(host="replica-2", space="another machine", pid=77, since="5")
    run = _held(cat, elsewhere)
    assert run_lease.abandoned(cat) == []
    assert run_lease.abandoned(cat, _later(run_lease.LEASE_S - 30)) == []
    (found,) = run_lease.abandoned(cat, _later(run_lease.LEASE_S + 30))
    assert found.run.id == run
    assert found.reason.startswith("its process (pid 77 on replica-2) has given no sign of life")


def test_a_released_or_never_held_run_is_not_abandoned(cat: Catalog, dead: RunOwner) -> None:
    cat.start_run({})  # a library's run: nobody answers for it
    cat.release_run(_held(cat, dead))
    assert run_lease.abandoned(cat, _later(run_lease.LEASE_S * 100)) == []


def test_a_hold_is_renewed_from_its_own_thread_until_released(cat: Catalog) -> None:
    run = cat.start_run({})
    lease = run_lease.RunLease(cat, run, every_s=0.02)
    (held,) = cat.runs(held=True)
    assert held.owner == run_lease.this_process()
    deadline = time.monotonic() + 10
    while cat.runs()[0].renewed == held.renewed:  # the thread's own connection renews it
        assert time.monotonic() < deadline, "the hold was never renewed"
        time.sleep(0.02)
    lease.release(cat)
    assert cat.runs(held=True) == [] and not lease._thread.is_alive()
