"""The hash chain of the audit trail: how an entry is hashed, and how the chain is checked.

An entry's hash is::

    hash = sha256(canonical_json({"seq": ..., "time": ..., "actor": ..., "action": ...,
                                  "case": ..., "purpose": ..., "payload": ...,
                                  "prev_hash": ...})).hexdigest()

where ``canonical_json`` is ``json.dumps(sort_keys=True, separators=(",", ":"),
ensure_ascii=False, allow_nan=False)`` encoded as UTF-8, ``time`` is the stored text
(``2025-01-31T12:00:00.000000+00:00``) and ``prev_hash`` is the previous entry's hash, or
``GENESIS_HASH`` (64 zeros) for entry 1. Anyone can re-check an export with these lines.

``verify_chain`` reads the chain once in seq order and reports, by seq, every entry edited,
deleted, inserted, moved, or cut off the end directly in the SQLite file (``BreakKind``). The
head row (seq and hash of the last entry, updated by every append) is what shows a cut-off
tail. The limit: someone with write access who rewrites the whole chain from some entry on
*and* the head row consistently leaves no trace inside the file. Against that, write down or
publish the head (``AuditTrail.head()``) from time to time -- a ticket, a signed e-mail, a
second machine -- and pass it back as ``expected_head``: every entry up to that seq is then
proven unchanged.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from facesearch.accountability.db import GENESIS_HASH
from facesearch.errors import InputError

__all__ = [
    "GENESIS_HASH",
    "AuditHead",
    "AuditReport",
    "BreakKind",
    "ChainBreak",
    "canonical_json",
    "entry_hash",
    "verify_chain",
]

MAX_LISTED_BREAKS = 1000
_CROSS_CHECK_LIMIT = 64  # moved entries are looked for among at most this many broken ones
AUDIT_COLUMNS = "seq, time, actor, action, case_number, purpose, payload, prev_hash, hash"


class BreakKind(StrEnum):
    EDITED = "edited"  # the entry's content no longer matches its own hash
    REORDERED = "reordered"  # an intact entry sits at another seq than it was written at
    DELETED = "deleted"  # seqs missing in the middle of the chain
    RELINKED = "relinked"  # an intact entry that does not chain from its predecessor:
    #                         one of the two was replaced by a forged entry
    INSERTED = "inserted"  # entries beyond the head row, not written by append()
    TRUNCATED = "truncated"  # the head row counts entries that are gone from the end
    HEAD = "head"  # the head row does not match the last entry
    ANCHOR = "anchor"  # the entry named by expected_head is missing or differs
    INDEX = "index"  # a table derived from the trail (decisions) disagrees with it
    ACCOUNT = "account"  # a user account that the trail does not account for


@dataclass(frozen=True)
class ChainBreak:
    """One thing verify() found. first..last are the seqs concerned (None: no entry)."""

    kind: BreakKind
    first: int | None
    last: int | None
    detail: str

    def __str__(self) -> str:
        if self.first is None:
            where = "-"
        elif self.first == self.last:
            where = str(self.first)
        else:
            where = f"{self.first}..{self.last}"
        return f"{self.kind.value} [{where}]: {self.detail}"


@dataclass(frozen=True)
class AuditHead:
    """Seq and hash of the last entry: write it down to anchor the chain."""

    seq: int
    hash: str

    def __str__(self) -> str:
        return f"{self.seq}:{self.hash}"

    @classmethod
    def parse(cls, text: str) -> AuditHead:
        """Read back ``str(head)`` (``SEQ:HASH``)."""
        seq, sep, digest = text.strip().partition(":")
        if not sep or not seq.isdigit() or len(digest) != 64:
            raise InputError(f"not an audit head (SEQ:SHA256): {text!r}")
        return cls(int(seq), digest.lower())


@dataclass(frozen=True)
class AuditReport:
    entries: int  # entries read
    head: AuditHead  # the last entry as found in the file
    breaks: tuple[ChainBreak, ...]
    omitted: int = 0  # further breaks found and not listed

    @property
    def ok(self) -> bool:
        return not self.breaks

    def summary(self) -> str:
        if self.ok:
            return f"audit trail intact: {self.entries} entries, head {self.head}"
        lines = [f"audit trail BROKEN: {len(self.breaks) + self.omitted} problem(s)"]
        lines += [f"  {b}" for b in self.breaks]
        if self.omitted:
            lines.append(f"  ... and {self.omitted} more")
        return "\n".join(lines)

    def with_findings(self, more: Sequence[ChainBreak]) -> AuditReport:
        room = max(0, MAX_LISTED_BREAKS - len(self.breaks))
        return AuditReport(
            self.entries,
            self.head,
            self.breaks + tuple(more[:room]),
            self.omitted + max(0, len(more) - room),
        )


def canonical_json(value: Any) -> str:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def entry_hash(
    seq: int,
    time: str,
    actor: str,
    action: str,
    case: str | None,
    purpose: str | None,
    payload: Any,
    prev_hash: str,
) -> str:
    envelope = {
        "seq": seq,
        "time": time,
        "actor": actor,
        "action": action,
        "case": case,
        "purpose": purpose,
        "payload": payload,
        "prev_hash": prev_hash,
    }
    return hashlib.sha256(canonical_json(envelope).encode("utf-8")).hexdigest()


def _row_hash(row: sqlite3.Row, seq: int | None = None) -> str | None:
    """The hash a stored row should have at ``seq`` (its own by default); None if unreadable."""
    try:
        payload = json.loads(row["payload"])
        return entry_hash(
            row["seq"] if seq is None else seq,
            row["time"],
            row["actor"],
            row["action"],
            row["case_number"],
            row["purpose"],
            payload,
            row["prev_hash"],
        )
    except (TypeError, ValueError):
        return None


def verify_chain(conn: sqlite3.Connection, expected_head: AuditHead | None = None) -> AuditReport:
    """Re-check every hash and link, the head row, and the anchor if one is given.

    Run it inside one read transaction, so that it sees one snapshot.
    """
    return _Verifier(conn).run(expected_head)


class _Verifier:
    """One pass over the chain in seq order, then a look at the head row and the anchor."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.breaks: list[ChainBreak] = []
        self.omitted = 0

    def add(self, kind: BreakKind, first: int | None, last: int | None, detail: str) -> None:
        if len(self.breaks) < MAX_LISTED_BREAKS:
            self.breaks.append(ChainBreak(kind, first, last, detail))
        else:
            self.omitted += 1

    def run(self, expected_head: AuditHead | None) -> AuditReport:
        checked = 0
        expected_seq = 1
        prev_hash = GENESIS_HASH
        prev_intact = True
        last = AuditHead(0, GENESIS_HASH)
        unexplained: list[sqlite3.Row] = []  # broken rows kept for the cross-check below
        broken_seqs: list[int] = []
        for row in self.conn.execute(f"SELECT {AUDIT_COLUMNS} FROM audit_log ORDER BY seq"):
            checked += 1
            seq = int(row["seq"])
            gap = False
            if seq > expected_seq:
                gap = True
                self.add(
                    BreakKind.DELETED,
                    expected_seq,
                    seq - 1,
                    _plural(expected_seq, seq - 1) + " missing",
                )
            elif seq < expected_seq:  # only a seq below 1 can get here
                self.add(BreakKind.INSERTED, seq, seq, f"entry with seq {seq} before entry 1")
                continue
            intact = _row_hash(row) == row["hash"]
            if not intact:
                broken_seqs.append(seq)
                moved_from = next(
                    (t for t in (seq - 1, seq + 1) if t >= 1 and _row_hash(row, t) == row["hash"]),
                    None,
                )
                if moved_from is not None:
                    self._moved(seq, moved_from)
                elif len(unexplained) <= _CROSS_CHECK_LIMIT:
                    unexplained.append(row)
                else:
                    self._edited(seq)
            elif not gap and prev_intact and row["prev_hash"] != prev_hash:
                what = "the genesis value" if seq == 1 else f"entry {seq - 1}"
                self.add(
                    BreakKind.RELINKED,
                    seq,
                    seq,
                    f"entry {seq} does not chain from {what}: one of them was replaced",
                )
            prev_hash, prev_intact = row["hash"], intact
            expected_seq = seq + 1
            last = AuditHead(seq, row["hash"])
        self._cross_check(unexplained, broken_seqs)
        self._check_head(last)
        if expected_head is not None:
            self._check_anchor(expected_head)
        self.breaks.sort(key=lambda b: (b.first if b.first is not None else -1, b.kind.value))
        return AuditReport(checked, last, tuple(self.breaks), self.omitted)

    def _moved(self, seq: int, written_as: int) -> None:
        self.add(
            BreakKind.REORDERED,
            seq,
            seq,
            f"entry {seq} is intact but was written as entry {written_as}",
        )

    def _edited(self, seq: int) -> None:
        self.add(BreakKind.EDITED, seq, seq, f"entry {seq} was changed after it was written")

    def _cross_check(self, unexplained: list[sqlite3.Row], broken_seqs: list[int]) -> None:
        """A broken row may be another broken row's entry moved here (two entries swapped)."""
        others = broken_seqs if len(broken_seqs) <= _CROSS_CHECK_LIMIT else []
        for row in unexplained:
            seq = int(row["seq"])
            written_as = next(
                (t for t in others if t != seq and _row_hash(row, t) == row["hash"]), None
            )
            if written_as is None:
                self._edited(seq)
            else:
                self._moved(seq, written_as)

    def _check_head(self, last: AuditHead) -> None:
        row = self.conn.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
        if row is None:
            self.add(BreakKind.HEAD, None, None, "the head row is missing")
            return
        head = AuditHead(int(row["seq"]), row["hash"])
        if head.seq > last.seq:
            self.add(
                BreakKind.TRUNCATED,
                last.seq + 1,
                head.seq,
                f"the head row counts {head.seq} entries; "
                + _plural(last.seq + 1, head.seq)
                + " gone from the end",
            )
        elif head.seq < last.seq:
            self.add(
                BreakKind.INSERTED,
                head.seq + 1,
                last.seq,
                _plural(head.seq + 1, last.seq) + " beyond the head row, not written by append()",
            )
        elif head.hash != last.hash:
            self.add(
                BreakKind.HEAD,
                last.seq,
                last.seq,
                f"the head row's hash differs from entry {last.seq}'s: "
                "the last entry was replaced or the head row edited",
            )

    def _check_anchor(self, anchor: AuditHead) -> None:
        if anchor.seq == 0:
            return
        row = self.conn.execute(
            "SELECT hash FROM audit_log WHERE seq = ?", (anchor.seq,)
        ).fetchone()
        if row is None:
            self.add(
                BreakKind.ANCHOR,
                anchor.seq,
                anchor.seq,
                f"entry {anchor.seq}, named by the expected head, is missing",
            )
        elif row["hash"] != anchor.hash:
            self.add(
                BreakKind.ANCHOR,
                anchor.seq,
                anchor.seq,
                f"entry {anchor.seq} has another hash than the expected head: "
                "the chain up to it was rewritten",
            )


def _plural(first: int, last: int) -> str:
    return f"entry {first} is" if first == last else f"entries {first}..{last} are"
