"""Who holds an ingest run, and whether that process is gone.

A run that somebody must account for (the application layer logs how every run ends) is
*held*: ``hold`` writes the process that runs it into its catalog row (``Catalog.hold_run``:
host, process id space, pid and the process's start time) and renews the hold every
``RENEW_EVERY_S`` from a thread of its own, on a catalog connection of its own, until
``release``. A process killed outright (kill -9, the OOM killer, a power cut) releases
nothing: its run stays held, and ``abandoned`` tells it from a live one:

- In the same process id space (the same boot of the same kernel and the same pid namespace:
  the server and the CLI of one machine): exactly, from the kernel. The owner is gone when
  its pid is free, or belongs to another process (a pid reused: its start time differs), or
  to a zombie. A live owner is never taken for gone, however long ago it renewed.
- Elsewhere (another host of a PostgreSQL deployment, another container): by the lease. The
  owner is gone when it has not renewed for ``LEASE_S``, ten renewals missed. The times are
  each machine's clock, so the clocks must agree to within a minute or so. A process frozen
  for longer (SIGSTOP, a suspended virtual machine) is taken for gone; if it wakes, its
  renewal finds the run released, it says so in the log, and it goes on.

The process id space is Linux's (``/proc``); elsewhere only the lease tells.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from facesearch.errors import FaceSearchError
from facesearch.gallery.catalog import Catalog, IngestRun, RunOwner

__all__ = [
    "LEASE_S",
    "RENEW_EVERY_S",
    "Abandoned",
    "Renewer",
    "RunLease",
    "abandoned",
    "hold",
    "process_gone",
    "this_process",
]

log = logging.getLogger(__name__)

RENEW_EVERY_S = 60.0
LEASE_S = 600.0  # no renewal for this long, and a holder outside this pid space is gone
RELEASE_WAIT_S = 5.0  # for the renewing thread to stop (it may be waiting for the write lock)


def _pid_space() -> str:
    """This process's pid space: the kernel's boot id and the pid namespace ("" off Linux)."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
        namespace = os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""
    return f"{boot} {namespace}"


def _start_of(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks after boot), None if it is a zombie; OSError
    if /proc does not show it."""
    text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    fields = text[text.rindex(")") + 2 :].split()  # after "pid (name) ": field 3 on
    state, start = fields[0], fields[19]  # fields 3 and 22 of proc(5)
    return None if state in ("Z", "X") else start


def this_process() -> RunOwner:
    pid = os.getpid()
    try:
        since = _start_of(pid) or ""
    except (OSError, ValueError, IndexError):
        since = ""
    return RunOwner(host=socket.gethostname(), space=_pid_space(), pid=pid, since=since)


def process_gone(owner: RunOwner) -> bool | None:
    """True if ``owner`` is surely gone, False if it surely lives, None if this process
    cannot tell (another pid space, or the kernel will not say)."""
    if not owner.space or not owner.since or owner.space != _pid_space() or owner.pid <= 0:
        return None
    try:
        os.kill(owner.pid, 0)  # signal 0: is there such a process (ours or not)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # there is one, another user's
    except OSError:
        return None
    try:
        start = _start_of(owner.pid)
    except (OSError, ValueError, IndexError):
        return None  # hidden from us (hidepid), or ended this moment: the next look tells
    return start != owner.since


@dataclass(frozen=True)
class Abandoned:
    """A held run whose holder is gone, and how that was told."""

    run: IngestRun
    reason: str


def abandoned(catalog: Catalog, now: datetime | None = None) -> list[Abandoned]:
    """The held runs of ``catalog`` whose holder is gone (see the module docstring)."""
    now = now or datetime.now(UTC)
    found = []
    for run in catalog.runs(held=True):
        reason = _why_gone(run, now)
        if reason is not None:
            found.append(Abandoned(run, reason))
    return found


def _why_gone(run: IngestRun, now: datetime) -> str | None:
    owner = run.owner
    who = "its process" if owner is None else f"its process (pid {owner.pid} on {owner.host})"
    if owner is not None:
        gone = process_gone(owner)
        if gone is not None:
            return f"{who} is gone" if gone else None
    if run.renewed is None:
        return None
    last = datetime.fromisoformat(run.renewed)
    if now - last <= timedelta(seconds=LEASE_S):
        return None
    return f"{who} has given no sign of life since {run.renewed} (a hold lasts {LEASE_S:.0f} s)"


class Renewer:
    """Calls ``renew(own)`` every ``every_s`` from a thread of its own, ``own`` being a catalog
    connection of its own (opened at the first renewal: a short job needs none), until
    ``stop``. A renewal that answers False means another process took over what is renewed
    (it took this one for gone): ``lost`` is logged and the renewals end; a renewal that
    fails is logged (``what``: what is renewed) and tried again at the next turn."""

    def __init__(
        self,
        catalog: Catalog,
        renew: Callable[[Catalog], bool],
        *,
        name: str,
        lost: str,
        what: str,
        every_s: float = RENEW_EVERY_S,
    ) -> None:
        self._renew_with, self._lost, self._what = renew, lost, what
        self._every_s = every_s
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(catalog,), name=name, daemon=True)
        self.thread.start()

    def _run(self, catalog: Catalog) -> None:
        own: Catalog | None = None
        try:
            while not self._stop.wait(self._every_s):
                try:
                    own = own or catalog.another()
                    if not self._renew_with(own):
                        log.warning("%s", self._lost)
                        return
                except FaceSearchError as exc:
                    log.warning("could not renew %s: %s", self._what, exc)
        finally:
            if own is not None:
                own.close()

    def stop(self) -> None:
        self._stop.set()
        self.thread.join(timeout=RELEASE_WAIT_S)


class RunLease:
    """The hold of one run, renewed from a thread until ``release`` (use ``hold``)."""

    def __init__(self, catalog: Catalog, run_id: int, every_s: float = RENEW_EVERY_S) -> None:
        self.run_id = run_id
        catalog.hold_run(run_id, this_process())
        self._renewer = Renewer(
            catalog,
            lambda own: own.renew_run(run_id),
            name=f"fs-run-{run_id}-hold",
            lost=f"ingest run {run_id} was released by another process, which took this one "
            f"for gone (no renewal for {LEASE_S:.0f} s); the run goes on",
            what=f"the hold of ingest run {run_id}",
            every_s=every_s,
        )

    @property
    def _thread(self) -> threading.Thread:
        return self._renewer.thread

    def release(self, catalog: Catalog) -> None:
        """Nobody holds the run any more: its end is recorded (``catalog``: the caller's)."""
        self._renewer.stop()
        catalog.release_run(self.run_id)


def hold(catalog: Catalog, run_id: int) -> RunLease:
    """This process holds run ``run_id`` until ``release``."""
    return RunLease(catalog, run_id)
