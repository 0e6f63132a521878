"""Erasure-blocklist entries that no audit entry records yet, and how to settle them.

An erasure like a photo puts the person on the blocklist before it scans for their faces
(``forgetting.blocklisted_for_the_scan``), and its ``erase`` audit entry is written after the
faces went. Until then the entry is *pending*: it names the erasing process. An erasure that
fails takes its entry back; one whose process is killed outright (kill -9, the OOM killer, a
power cut) takes nothing back, and its entry, which every ingest applies, would be recorded
nowhere; nor would that of one whose audit entry could not be written after its faces went.
``pending_blocklist`` lists the pending entries (``facesearch erasure blocklist``), each with
why its erasure is over, or None while it may still be running (``gallery.run_lease`` tells,
as for an abandoned ingest; for a process this machine cannot see, the last renewal its scan
made, else its age). ``settle_pending`` settles one whose erasure is over, in an ``erase``
entry with the reason given, in the trail of the entry's organisation whoever settles it
(``facesearch erasure settle``). It claims the entry first (a compare-and-set in the
catalog): of two settlements at once one settles it, the other finds no pending entry and
logs nothing; and an erasure that was only slow neither records nor takes back an entry
settled meanwhile. Settling:

- ``keep``: the entry stays and is recorded (the erasure was asked for; run it again to erase
  any face of the person it did not get to);
- take back: the entry goes, as the erasure would have taken it back had it failed.

An organisation's admin sees and settles its own organisation's entries; the host's CLI every
one. Listing is not logged: it shows no personal data (no embedding, no photo).
"""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from facesearch.accountability import AccountabilityStore, Action, Actor, AuditEntry, Permission
from facesearch.accountability.audit import PLATFORM_ORG
from facesearch.accountability.text_checks import MAX_PURPOSE_CHARS, clean_text
from facesearch.app.checks import allow
from facesearch.app.scope import reach_of
from facesearch.engine import Engine
from facesearch.errors import FaceSearchError, InputError, NotFoundError
from facesearch.gallery.catalog import PendingBlock
from facesearch.gallery.run_lease import LEASE_S, process_gone, this_process

__all__ = ["PendingEntry", "pending_blocklist", "settle_pending"]


@dataclass(frozen=True)
class PendingEntry:
    """A pending blocklist entry, and why its erasure's process is gone (None: it may still
    be running; an entry is settled only once it is gone)."""

    block: PendingBlock
    gone: str | None

    def as_json(self) -> dict[str, Any]:
        return {**self.block.as_json(), "process_gone": self.gone}

    def line(self) -> str:
        b = self.block
        owner = b.owner
        who = "an unknown process" if owner is None else f"pid {owner.pid} on {owner.host}"
        org = "every ingest" if b.org is None else f"organisation {b.org}"
        if b.settling:
            state = f"a settlement by {who} was cut short: {self.gone}" if self.gone else ""
            state = state or f"{who} is settling it"
            return f"entry {b.id}: added {b.added} ({org}, model {b.model_id}); {state}"
        state = f"its process is gone: {self.gone}" if self.gone else "its erasure may be running"
        return f"entry {b.id}: added {b.added} by {who} ({org}, model {b.model_id}); {state}"


def pending_blocklist(
    engine: Engine, store: AccountabilityStore, actor: Actor, now: datetime | None = None
) -> list[PendingEntry]:
    """The pending blocklist entries ``actor`` may settle, oldest first."""
    allow(actor, Permission.ERASE)
    scope = reach_of(store, engine.catalog, actor)
    moment = now or datetime.now(UTC)
    return [
        PendingEntry(b, _why_gone(b, moment))
        for b in engine.catalog.blocklist_pending()
        if scope.everything or (b.org is not None and b.org.lower() == str(scope.org).lower())
    ]


def settle_pending(
    engine: Engine,
    store: AccountabilityStore,
    actor: Actor,
    entry_id: int,
    *,
    keep: bool,
    reason: str,
) -> AuditEntry:
    """Keep (record) or take back pending entry ``entry_id``, whose process is gone, and
    return the ``erase`` entry that says so, in the trail of the entry's organisation (the
    host's entries: the host's).

    The entry is claimed first (``Catalog.blocklist_claim``, a compare-and-set on what was
    read), so that of two settlements at once exactly one logs and settles it; the other
    finds no pending entry (NotFoundError) and logs nothing. The claim is given back if the
    entry cannot be logged. A crash between the entry and the catalog's change leaves it
    pending, naming the settlement's process, to settle again once that is gone."""
    why = clean_text(reason, "the reason", MAX_PURPOSE_CHARS, one_line=False)
    if why is None:
        raise InputError("a reason is required to settle a pending blocklist entry")
    found = {p.block.id: p for p in pending_blocklist(engine, store, actor)}
    pending = found.get(entry_id)
    if pending is None or (pending.block.settling and pending.gone is None):
        raise NotFoundError(f"no pending blocklist entry {entry_id}" + _settling(pending))
    if pending.gone is None:
        raise InputError(
            f"blocklist entry {entry_id} is pending for an erasure that may still be running: "
            "settle it once its process is gone"
        )
    marker = engine.catalog.blocklist_claim(entry_id, pending.block.held, this_process())
    if marker is None:
        raise NotFoundError(
            f"no pending blocklist entry {entry_id}: it was settled, or changed, since it was "
            "read (list them again: facesearch erasure blocklist)"
        )
    payload: dict[str, Any] = {
        "reason": why,
        "selector": {"pending_blocklist_entry": entry_id},
        "counts": {"faces": 0, "images": 0, "subjects": 0},
        "removed": {"faces": [], "images": [], "subjects": []},
        "blocklisted": keep,
        "pending_blocklist": {**pending.as_json(), "settled": "kept" if keep else "taken back"},
    }
    try:
        with store.db.write():
            entry = store.audit.append(
                actor=actor.name,
                action=Action.ERASE,
                payload=payload,
                org=_trail_of(pending.block, actor),
            )
    except BaseException:
        with suppress(FaceSearchError):  # else pending for this process: settled once it ends
            engine.catalog.blocklist_unclaim(entry_id, marker, pending.block.held)
        raise
    engine.catalog.blocklist_settled(entry_id, marker, keep=keep)
    return entry


def _settling(pending: PendingEntry | None) -> str:
    if pending is None or pending.block.owner is None:
        return ""
    owner = pending.block.owner
    return f": pid {owner.pid} on {owner.host} is settling it"


def _trail_of(block: PendingBlock, actor: Actor) -> str:
    """The trail a settlement of ``block`` goes in: its organisation's (an organisation's
    auditor answers for its own opt-outs, whoever settles them), else the actor's."""
    if block.org is not None:
        return block.org
    return actor.org if actor.org is not None else PLATFORM_ORG


def _why_gone(block: PendingBlock, now: datetime) -> str | None:
    """Why the process of ``block`` (its erasure, or a settlement of it cut short) is surely
    gone; None while it may run: from the kernel when the process ran in this machine's pid
    space (``run_lease.process_gone``), else from its last sign of life (its erasure renews
    it until its audit entry: ``forgetting.blocklisted_for_the_scan``), or when it gave none the
    entry's age, ten times an ingest's lease (what follows the scan takes a while too)."""
    if block.failed is not None and not block.settling:
        return f"its erasure ended without recording it: {block.failed}"
    owner = block.owner
    who = "its settlement, " if block.settling else ""
    if owner is not None:
        gone = process_gone(owner)
        if gone is not None:
            return f"{who}pid {owner.pid} on {owner.host} has ended" if gone else None
    seen, what = (block.renewed, "last renewed") if block.renewed else (block.added, "added")
    last = datetime.fromisoformat(seen)
    if last.tzinfo is None:
        last = last.replace(tzinfo=UTC)
    limit = timedelta(seconds=10 * LEASE_S)
    if now - last <= limit:
        return None
    return f"{who}{what} {seen}, over {limit} ago, by a process this machine cannot see"
