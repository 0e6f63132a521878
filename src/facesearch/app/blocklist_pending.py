"""Erasure-blocklist entries that no audit entry records yet, and how to settle them.

An erasure like a photo puts the person on the blocklist before it scans for their faces
(``forgetting.blocklisted_for_the_scan``), and its ``erase`` audit entry is written after the
faces went. Until then the entry is *pending*: it names the erasing process. An erasure that
fails takes its entry back; one whose process is killed outright (kill -9, the OOM killer, a
power cut) takes nothing back, and its entry, which every ingest applies, would be recorded
nowhere; nor would that of one whose audit entry could not be written after its faces went.
``pending_blocklist`` lists the pending entries (``facesearch erasure blocklist``), each with
why its erasure is over, or None while it may still be running (``gallery.run_lease`` tells,
as for an abandoned ingest). ``settle_pending`` settles one whose erasure is over, in an
``erase`` entry with the reason given (``facesearch erasure settle``):

- ``keep``: the entry stays and is recorded (the erasure was asked for; run it again to erase
  any face of the person it did not get to);
- take back: the entry goes, as the erasure would have taken it back had it failed.

An organisation's admin sees and settles its own organisation's entries; the host's CLI every
one. Listing is not logged: it shows no personal data (no embedding, no photo).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from facesearch.accountability import AccountabilityStore, Action, Actor, AuditEntry, Permission
from facesearch.accountability.text_checks import MAX_PURPOSE_CHARS, clean_text
from facesearch.app.checks import allow, log
from facesearch.app.scope import reach_of
from facesearch.engine import Engine
from facesearch.errors import InputError, NotFoundError
from facesearch.gallery.catalog import PendingBlock
from facesearch.gallery.run_lease import LEASE_S, process_gone

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
        state = f"its process is gone: {self.gone}" if self.gone else "its erasure may be running"
        org = "every ingest" if b.org is None else f"organisation {b.org}"
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
    """Keep (record) or take back pending entry ``entry_id``, whose process is gone; the
    ``erase`` entry that says so, written before the catalog changes (a crash in between
    leaves the entry pending, to settle again)."""
    why = clean_text(reason, "the reason", MAX_PURPOSE_CHARS, one_line=False)
    if why is None:
        raise InputError("a reason is required to settle a pending blocklist entry")
    found = {p.block.id: p for p in pending_blocklist(engine, store, actor)}
    pending = found.get(entry_id)
    if pending is None:
        raise NotFoundError(f"no pending blocklist entry {entry_id}")
    if pending.gone is None:
        raise InputError(
            f"blocklist entry {entry_id} is pending for an erasure that may still be running: "
            "settle it once its process is gone"
        )
    payload: dict[str, Any] = {
        "reason": why,
        "selector": {"pending_blocklist_entry": entry_id},
        "counts": {"faces": 0, "images": 0, "subjects": 0},
        "removed": {"faces": [], "images": [], "subjects": []},
        "blocklisted": keep,
        "pending_blocklist": {**pending.as_json(), "settled": "kept" if keep else "taken back"},
    }
    entry = log(store, actor, Action.ERASE, None, None, payload)
    if keep:
        engine.catalog.blocklist_recorded(entry_id)
    else:
        engine.catalog.blocklist_remove(entry_id)
    return entry


def _why_gone(block: PendingBlock, now: datetime) -> str | None:
    """Why the process of ``block`` is surely gone; None while it may run: from the kernel
    when the process ran in this machine's pid space (``run_lease.process_gone``), else from
    the entry's age, ten times an ingest's lease (a scan of a large gallery takes a while)."""
    if block.failed is not None:
        return f"its erasure could not write its audit entry ({block.failed})"
    owner = block.owner
    if owner is not None:
        gone = process_gone(owner)
        if gone is not None:
            return f"pid {owner.pid} on {owner.host} has ended" if gone else None
    added = datetime.fromisoformat(block.added)
    if added.tzinfo is None:
        added = added.replace(tzinfo=UTC)
    limit = timedelta(seconds=10 * LEASE_S)
    if now - added <= limit:
        return None
    return f"added {block.added}, over {limit} ago, by a process this machine cannot see"
