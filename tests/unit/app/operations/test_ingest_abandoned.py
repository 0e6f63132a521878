"""An ingest killed outright (kill -9, the OOM killer, a power cut) cannot log its end; the next
ingest (or the server) finds its process gone and logs it, once, with what the run added."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.fakes import write_photo

from facesearch.accountability import AccountabilityStore, Action, Actor, AuditEntry, Role
from facesearch.app import IngestRequest, ingest
from facesearch.app.abandoned_runs import RUN_ACTOR, log_abandoned
from facesearch.app.oversight import dashboard
from facesearch.engine import Engine
from facesearch.gallery import run_lease
from facesearch.gallery.catalog import Catalog, RunOwner
from facesearch.gallery.ingest import IngestSummary
from facesearch.server.routes.audit import audit_summary

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="pid spaces are read in /proc")

REPO = Path(__file__).resolve().parents[4]
CHILD = "tests.unit.app.operations.ingest_until_killed"
COMMITTED = 4  # ingest_until_killed.COMMITTED: photos committed when it is killed


def _photos(folder: Path, count: int, first: int = 20) -> Path:
    for i in range(count):
        write_photo(folder, first + i, 1)
    return folder


@dataclass(frozen=True)
class Killed:
    started: AuditEntry  # its started entry
    run_id: int
    pid: int


@pytest.fixture
def killed(home: Any, store: AccountabilityStore, tmp_path: Path) -> Killed:
    """An ingest of 9 photos into "killed", killed with SIGKILL after 4 were committed."""
    ready, log = tmp_path / "ready", tmp_path / "child.log"
    settings = home.settings
    with log.open("w") as err:
        photos = _photos(tmp_path / "p", 9)
        args = (settings.home, settings.cache_dir, photos, ready)
        proc = subprocess.Popen(
            [sys.executable, "-m", CHILD, *map(str, args)],
            cwd=REPO,
            stderr=err,
        )
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "the ingest to kill never got ready"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    (started,) = _ingests(store, collection="killed")
    assert started.payload["outcome"] == "started"
    return Killed(started, int(started.payload["run_id"]), proc.pid)


def _ingests(store: AccountabilityStore, **payload: Any) -> list[AuditEntry]:
    return [
        e
        for e in store.audit.entries(action=Action.INGEST, limit=None)
        if all(e.payload.get(k) == v for k, v in payload.items())
    ]


def _ends(store: AccountabilityStore, started: AuditEntry) -> list[AuditEntry]:
    return _ingests(store, started_entry=started.seq)


def _later(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def test_a_killed_ingest_gets_its_end_entry_from_the_next_ingest(
    engine: Engine, store: AccountabilityStore, killed: Killed, tmp_path: Path
) -> None:
    """kill -9 left the run's ``started`` entry alone for ever: it seemed to be still running."""
    (run,) = [r for r in engine.catalog.runs() if r.id == killed.run_id]
    assert (run.status, run.images_added, run.faces_added) == ("running", COMMITTED, COMMITTED)
    admin = store.accounts.get_user("admin1")
    assert _ends(store, killed.started) == []

    done = ingest(engine, store, admin, IngestRequest((_photos(tmp_path / "q", 2, 40),)))

    (end,) = _ends(store, killed.started)
    p = end.payload
    assert p["outcome"] == "abandoned" and p["run_id"] == killed.run_id
    assert (p["images_added"], p["faces_added"], p["failed"]) == (COMMITTED, COMMITTED, 0)
    (collection,) = [c for c in engine.catalog.collections() if c.name == "killed"]
    assert collection.images == collection.faces == COMMITTED  # what the catalog holds
    assert p["collection"] == "killed" and p["paths"] == killed.started.payload["paths"]
    assert (
        p["error"]
        == f"no end logged, and its process (pid {killed.pid} on {os.uname()[1]}) is gone"
    )
    assert (end.actor, end.org, end.case) == (RUN_ACTOR, killed.started.org, killed.started.case)
    assert end.seq < done.id  # logged before the next run started
    (after,) = [r for r in engine.catalog.runs() if r.id == killed.run_id]
    assert (after.status, after.renewed) == ("abandoned", None)
    assert "abandoned: no end logged, and its process" in audit_summary(end.as_dict())
    assert audit_summary(end.as_dict()).startswith("4 images, 4 faces into killed; 0 failed")
    assert log_abandoned(engine.catalog, store, _later(run_lease.LEASE_S * 10)) == []  # once
    assert len(_ends(store, killed.started)) == 1
    assert store.verify().ok


def test_the_supervisors_dashboard_shows_the_killed_run(
    engine: Engine, store: AccountabilityStore, killed: Killed, tmp_path: Path
) -> None:
    """The dashboard (app.oversight) over these real entries: the killed run is running while
    it has no end entry, then abandoned, with who started it; a run that ended, by its end."""
    supervisor = Actor("sup", Role.SUPERVISOR, killed.started.org)

    def listed() -> dict[int, tuple[str, str]]:
        return {r.seq: (r.actor, r.summary) for r in dashboard(store, supervisor).ingests}

    assert listed()[killed.started.seq] == (
        "admin1",
        "collection killed: running (no end logged yet)",
    )
    admin = store.accounts.get_user("admin1")
    done = ingest(engine, store, admin, IngestRequest((_photos(tmp_path / "q", 2, 40),)))
    (end,) = _ends(store, killed.started)
    now = listed()
    assert killed.started.seq not in now
    assert now[end.seq] == (
        RUN_ACTOR,
        f"collection killed: {COMMITTED} images, {COMMITTED} faces added; abandoned: no end "
        f"logged, and its process (pid {killed.pid} on {os.uname()[1]}) is gone; started by "
        "admin1",
    )
    assert now[done.id] == ("admin1", "collection default: 2 images, 2 faces added")


def test_a_run_whose_process_lives_is_never_taken_for_abandoned(
    engine: Engine, store: AccountabilityStore, tmp_path: Path
) -> None:
    """However long ago its lease was renewed: its process is there."""
    looked: list[tuple[list[int], list[int]]] = []

    def progress(summary: IngestSummary) -> None:
        if not looked:  # mid-run, as another ingest of this machine starting now would
            with engine.catalog.another() as other:
                held = [r.id for r in other.runs(held=True)]
                looked.append((held, log_abandoned(other, store, _later(run_lease.LEASE_S * 10))))

    admin = store.accounts.get_user("admin1")
    done = ingest(engine, store, admin, IngestRequest((_photos(tmp_path / "p", 3),)), progress)
    assert looked == [([done.summary.run_id], [])]  # held while it ran, and left alone
    started, end = _ingests(store, run_id=done.summary.run_id)
    assert started.payload["outcome"] == "started" and end.payload["outcome"] == "ok"
    assert end.seq == done.id and engine.catalog.runs(held=True) == []


def test_two_processes_finding_the_same_abandoned_run_log_its_end_once(
    home: Any, store: AccountabilityStore, killed: Killed, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two ingests started together both find the killed run: one end entry, not two."""
    finders = 6
    together = threading.Barrier(finders)
    look = run_lease.abandoned

    def look_then_wait(catalog: Catalog, now: datetime | None = None) -> Any:
        found = look(catalog, now)
        together.wait(timeout=60)  # every finder has found it before any writes
        return found

    monkeypatch.setattr(run_lease, "abandoned", look_then_wait)
    written: list[list[int]] = []
    failed: list[BaseException] = []

    def finder() -> None:
        try:
            with (
                Catalog.open_home(home.home) as catalog,
                AccountabilityStore.open(home.home) as mine,
            ):
                written.append(log_abandoned(catalog, mine))
        except BaseException as exc:
            failed.append(exc)
            together.abort()

    threads = [threading.Thread(target=finder) for _ in range(finders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert failed == []
    assert sorted(len(w) for w in written) == [0] * (finders - 1) + [1]
    (end,) = _ends(store, killed.started)
    assert end.payload["outcome"] == "abandoned" and [end.seq] in written
    assert store.verify().ok


def test_a_run_held_on_another_machine_is_abandoned_when_its_lease_runs_out(
    engine: Engine, store: AccountabilityStore, killed: Killed
) -> None:
    """From here the pid of another host says nothing: its renewals do."""
    replica = RunOwner(host="replica-2", space="another machine", pid=killed.pid, since="5")
    engine.catalog.hold_run(killed.run_id, replica)  # as if replica-2 held it, renewed now
    assert log_abandoned(engine.catalog, store) == []
    assert log_abandoned(engine.catalog, store, _later(run_lease.LEASE_S - 60)) == []
    (seq,) = log_abandoned(engine.catalog, store, _later(run_lease.LEASE_S + 60))
    (end,) = _ends(store, killed.started)
    assert end.seq == seq and end.payload["images_added"] == COMMITTED
    error = str(end.payload["error"])
    assert f"(pid {killed.pid} on replica-2) has given no sign of life since" in error


def test_a_run_killed_before_its_started_entry_is_released_without_an_entry(
    engine: Engine, store: AccountabilityStore, killed: Killed
) -> None:
    """Between its catalog record and its started entry: no entry says it started."""
    gone = engine.catalog.runs(held=True)[0].owner  # the killed process
    assert gone is not None and gone.pid == killed.pid
    run = engine.catalog.start_run({"collection": "never-logged"})
    engine.catalog.hold_run(run, gone)
    before = store.audit.head().seq
    (seq,) = log_abandoned(engine.catalog, store)  # the killed run's end only
    assert store.audit.head().seq == before + 1 == seq
    assert engine.catalog.runs(held=True) == []
    (unlogged,) = [r for r in engine.catalog.runs() if r.id == run]
    assert unlogged.status == "abandoned"


def test_the_server_logs_a_killed_ingest_when_it_starts(
    home: Any, killed: Killed, fake_server: Any
) -> None:
    """A server restarted after a crash: its housekeeping finds the run of the dead process."""
    with fake_server(home.settings) as url, httpx.Client(base_url=url, timeout=60) as client:
        deadline = time.monotonic() + 30
        while True:
            r = client.get(
                "/api/v1/audit",
                headers=home.auth("aud1"),
                params={"action": "ingest", "limit": 1000},
            )
            assert r.status_code == 200, r.text
            ends = [
                e
                for e in r.json()["items"]
                if e["payload"].get("started_entry") == killed.started.seq
            ]
            if ends or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        page = client.get("/audit", headers={**home.auth("aud1"), "Accept": "text/html"})
    (end,) = ends
    assert end["actor"] == RUN_ACTOR and end["payload"]["outcome"] == "abandoned"
    assert page.status_code == 200
    assert "4 images, 4 faces into killed; 0 failed (abandoned: no end logged" in page.text
