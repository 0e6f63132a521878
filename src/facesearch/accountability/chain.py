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
tail. The limit of the hash chain alone: someone with write access who rewrites the chain from
some entry on *and* the head row consistently leaves no trace inside the file. Hence the
keyed chain: from entry ``keyed_from`` on (1 for a trail started keyed, the seq after the last
old entry for a trail written before keys existed), every entry also has a MAC::

    mac = hmac_sha256(key, canonical_json({"entry": <the envelope above>,
                                           "prev_mac": ..., "trail": ...})).hexdigest()

with the audit key (``keying.py``), ``prev_mac`` the MAC of the entry before (64 zeros for
entry ``keyed_from``) and ``trail`` the trail's random id. Without the key nobody can append,
edit or rewrite an entry with a valid MAC. Cutting entries off the end, or putting back an
older copy of the file, keeps the MACs valid: the anchor file (outside the home, one line per
new head) shows that. ``verify_chain`` with a ``Seal`` checks both and reports what it finds
by seq (``MAC``, ``KEY``, ``TRUNCATED``, ``ANCHOR``, ``UNANCHORED``, ``ANCHOR_LOST``). A head
written down by hand (``AuditTrail.head()``) can still be passed as ``expected_head``.

A seq gets one finding: the keyed checks say nothing more about an entry the hash chain already
named (an edited entry's MAC is wrong too).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from facesearch.accountability.db import GENESIS_HASH
from facesearch.accountability.keying import AnchorReading, key_id
from facesearch.errors import InputError

__all__ = [
    "GENESIS_HASH",
    "AuditEnvelope",
    "AuditHead",
    "AuditReport",
    "BreakKind",
    "ChainBreak",
    "Seal",
    "canonical_json",
    "entry_hash",
    "entry_mac",
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
    MAC = "mac"  # an entry whose MAC is missing or wrong: written without the key (forged)
    KEY = "key"  # the key is missing or not the one the trail was written with
    UNANCHORED = "unanchored"  # entries beyond the last head in the anchor file
    ANCHOR_LOST = "anchor-lost"  # the anchor file is gone or was started over
    UNKEYED = "unkeyed"  # (a warning) entries written before keys existed


_PER_ENTRY = frozenset({BreakKind.MAC, BreakKind.ANCHOR, BreakKind.TRUNCATED, BreakKind.UNANCHORED})


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
    warnings: tuple[ChainBreak, ...] = ()  # findings that do not fail the check

    @property
    def ok(self) -> bool:
        return not self.breaks

    def summary(self) -> str:
        if self.ok:
            lines = [f"audit trail intact: {self.entries} entries, head {self.head}"]
        else:
            lines = [f"audit trail BROKEN: {len(self.breaks) + self.omitted} problem(s)"]
            lines += [f"  {b}" for b in self.breaks]
            if self.omitted:
                lines.append(f"  ... and {self.omitted} more")
        lines += [f"  WARNING {w}" for w in self.warnings]
        return "\n".join(lines)

    def with_findings(self, more: Sequence[ChainBreak]) -> AuditReport:
        room = max(0, MAX_LISTED_BREAKS - len(self.breaks))
        return AuditReport(
            self.entries,
            self.head,
            self.breaks + tuple(more[:room]),
            self.omitted + max(0, len(more) - room),
            self.warnings,
        )

    def accepting(self, *kinds: BreakKind) -> AuditReport:
        """The report with findings of these kinds turned into warnings (``--anchor-lost``)."""
        moved = tuple(b for b in self.breaks if b.kind in kinds)
        if not moved:
            return self
        kept = tuple(b for b in self.breaks if b.kind not in kinds)
        return AuditReport(self.entries, self.head, kept, self.omitted, self.warnings + moved)


@dataclass(frozen=True)
class Seal:
    """What verify needs to check the keyed chain: the trail's keying record, the key (None:
    missing, with ``key_problem`` saying why) and what the anchor file holds."""

    trail: str
    keyed_from: int
    key_id: str | None  # the id of the key the trail was written with (None: none yet)
    key: bytes | None
    key_path: str
    anchor: AnchorReading
    key_problem: str | None = None


def canonical_json(value: Any) -> str:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


@dataclass(frozen=True)
class AuditEnvelope:
    """What an entry's hash covers (and, with ``prev_mac`` and ``trail``, its MAC)."""

    seq: int
    time: str  # the stored text, e.g. 2025-01-31T12:00:00.000000+00:00
    actor: str
    action: str
    case: str | None
    purpose: str | None
    payload: Any  # the parsed canonical JSON
    prev_hash: str

    @classmethod
    def of_row(cls, row: sqlite3.Row, seq: int | None = None) -> AuditEnvelope:
        """The envelope of a stored row (at ``seq``, its own by default); ValueError or
        TypeError if its payload is not JSON."""
        return cls(
            row["seq"] if seq is None else seq,
            row["time"],
            row["actor"],
            row["action"],
            row["case_number"],
            row["purpose"],
            json.loads(row["payload"]),
            row["prev_hash"],
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "time": self.time,
            "actor": self.actor,
            "action": self.action,
            "case": self.case,
            "purpose": self.purpose,
            "payload": self.payload,
            "prev_hash": self.prev_hash,
        }


def entry_hash(envelope: AuditEnvelope) -> str:
    """sha256 of the canonical JSON of the envelope (see the module docstring)."""
    return hashlib.sha256(canonical_json(envelope.as_dict()).encode("utf-8")).hexdigest()


def entry_mac(key: bytes, trail: str, envelope: AuditEnvelope, prev_mac: str) -> str:
    """HMAC-SHA256 of an entry, chained to the MAC before it (see the module docstring)."""
    message = canonical_json({"entry": envelope.as_dict(), "prev_mac": prev_mac, "trail": trail})
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).hexdigest()


def _row_hash(row: sqlite3.Row, seq: int | None = None) -> str | None:
    """The hash a stored row should have at ``seq`` (its own by default); None if unreadable."""
    try:
        return entry_hash(AuditEnvelope.of_row(row, seq))
    except (TypeError, ValueError):
        return None


def _row_mac(row: sqlite3.Row, key: bytes, trail: str, prev_mac: str) -> str | None:
    try:
        envelope = AuditEnvelope.of_row(row)
    except (TypeError, ValueError):
        return None
    return entry_mac(key, trail, envelope, prev_mac)


def verify_chain(
    conn: sqlite3.Connection, expected_head: AuditHead | None = None, seal: Seal | None = None
) -> AuditReport:
    """Re-check every hash and link, the head row, the anchor if one is given, and (with a
    ``seal``) every MAC and the anchor file.

    Run it inside one read transaction, so that it sees one snapshot (and, with a seal, hold
    the anchor file's shared lock, so that the file matches that snapshot).
    """
    return _Verifier(conn, seal).run(expected_head)


class _Verifier:
    """One pass over the chain in seq order, then a look at the head row and the anchor."""

    def __init__(self, conn: sqlite3.Connection, seal: Seal | None = None) -> None:
        self.conn = conn
        self.seal = seal
        self.breaks: list[ChainBreak] = []
        self.sealed: list[ChainBreak] = []  # MAC and anchor findings, added after the rest
        self.warnings: list[ChainBreak] = []
        self.omitted = 0
        self.mac_key = self._usable_key()
        self.watch: dict[int, tuple[str, str | None]] = {}  # seq -> (hash, mac) the anchor names
        self.watched: set[int] = set()
        if seal is not None:
            self.watched = {r.seq for r in (seal.anchor.start, seal.anchor.latest) if r}
        self.keyed_seen = 0

    def add(self, kind: BreakKind, first: int | None, last: int | None, detail: str) -> None:
        if len(self.breaks) < MAX_LISTED_BREAKS:
            self.breaks.append(ChainBreak(kind, first, last, detail))
        else:
            self.omitted += 1

    def add_sealed(self, kind: BreakKind, first: int | None, last: int | None, text: str) -> None:
        self.sealed.append(ChainBreak(kind, first, last, text))

    def run(self, expected_head: AuditHead | None) -> AuditReport:
        checked = 0
        expected_seq = 1
        prev_hash = GENESIS_HASH
        prev_intact = True
        prev_mac: str | None = None  # the stored MAC of the previous row
        last = AuditHead(0, GENESIS_HASH)
        unexplained: list[sqlite3.Row] = []  # broken rows kept for the cross-check below
        broken_seqs: list[int] = []
        sql = (
            f"SELECT {', '.join('l.' + c.strip() for c in AUDIT_COLUMNS.split(','))}, m.mac "
            "FROM audit_log l LEFT JOIN audit_mac m ON m.seq = l.seq ORDER BY l.seq"
        )
        for row in self.conn.execute(sql):
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
            if gap:
                prev_mac = self._stored_mac(seq - 1)
            self._check_mac(row, intact, prev_mac)
            prev_mac = row["mac"]
            if seq in self.watched:
                self.watch[seq] = (row["hash"], row["mac"])
            prev_hash, prev_intact = row["hash"], intact
            expected_seq = seq + 1
            last = AuditHead(seq, row["hash"])
        self._cross_check(unexplained, broken_seqs)
        self._check_head(last)
        if expected_head is not None:
            self._check_anchor(expected_head)
        if self.seal is not None:
            self._check_seal(last)
        self._merge_sealed()
        self.breaks.sort(key=lambda b: (b.first if b.first is not None else -1, b.kind.value))
        return AuditReport(checked, last, tuple(self.breaks), self.omitted, tuple(self.warnings))

    # --- the keyed chain ------------------------------------------------------------------

    def _merge_sealed(self) -> None:
        """Add the MAC and anchor findings, but only one per entry, and none about an entry
        the hash chain already named (an edited entry's MAC is wrong too)."""
        named = [b for b in self.breaks if b.first is not None and b.last is not None]
        seen: set[tuple[str, int | None, int | None]] = set()
        for b in self.sealed:
            if b.kind in _PER_ENTRY and b.first is not None:
                first = b.first
                if any(c.first <= first <= c.last for c in named):  # type: ignore[operator]
                    continue
            group = "entry" if b.kind in (BreakKind.MAC, BreakKind.ANCHOR) else b.kind.value
            if b.first is not None and (group, b.first, b.last) in seen:
                continue
            seen.add((group, b.first, b.last))
            self.add(b.kind, b.first, b.last, b.detail)

    def _usable_key(self) -> bytes | None:
        seal = self.seal
        if seal is None or seal.key is None:
            return None
        if seal.key_id is not None and key_id(seal.key) != seal.key_id:
            return None
        return seal.key

    def _stored_mac(self, seq: int) -> str | None:
        if self.seal is None:
            return None
        row = self.conn.execute("SELECT mac FROM audit_mac WHERE seq = ?", (seq,)).fetchone()
        return None if row is None else str(row["mac"])

    def _check_mac(self, row: sqlite3.Row, intact: bool, prev_mac: str | None) -> None:
        """Check one row's MAC, chained from the stored MAC of the entry before it."""
        seal, key = self.seal, self.mac_key
        seq = int(row["seq"])
        if seal is None or seq < seal.keyed_from:
            return
        self.keyed_seen += 1
        if seq == seal.keyed_from:
            prev_mac = GENESIS_HASH
            if seq > 1 and not _is_marker(row, seq):
                self.add_sealed(
                    BreakKind.KEY,
                    seq,
                    seq,
                    f"entry {seq}, where the file says keying began, is not the audit_keyed "
                    "marker: the start of keying was moved in the file",
                )
        if key is None or not intact:
            return  # nothing to check with, or already named by the hash chain
        stored = row["mac"]
        if stored is None:
            self.add_sealed(
                BreakKind.MAC,
                seq,
                seq,
                f"entry {seq} has no MAC: it was written without facesearch's key (forged)",
            )
            return
        expected = _row_mac(row, key, seal.trail, prev_mac or "missing") or ""
        if not hmac.compare_digest(str(stored), expected):
            self.add_sealed(
                BreakKind.MAC,
                seq,
                seq,
                f"entry {seq}'s MAC does not match the audit key: it was forged or rewritten "
                "by someone without the key",
            )

    def _check_seal(self, last: AuditHead) -> None:
        seal = self.seal
        assert seal is not None
        if seal.keyed_from > 1:
            self.warnings.append(
                ChainBreak(
                    BreakKind.UNKEYED,
                    1,
                    seal.keyed_from - 1,
                    f"{_plural(1, seal.keyed_from - 1)} from before audit keys existed: only "
                    "their hash chain and the anchor's start record protect them",
                )
            )
        if last.seq >= 1 and seal.keyed_from > last.seq:
            self.add_sealed(
                BreakKind.KEY,
                None,
                None,
                f"no entry is keyed (the file says keying begins at entry {seal.keyed_from}, "
                f"after the last one, {last.seq}): the MACs were stripped from the file",
            )
        if seal.key is None:
            self.add_sealed(
                BreakKind.KEY,
                None,
                None,
                seal.key_problem or f"the audit key {seal.key_path} is missing",
            )
        elif self.mac_key is None and self.keyed_seen:
            self.add_sealed(
                BreakKind.KEY,
                None,
                None,
                f"the audit key {seal.key_path} (id {key_id(seal.key)}) is not the key this "
                f"trail was written with (id {seal.key_id}): wrong key file, or the key id "
                "in the file was edited; the MACs were not checked",
            )
        self._check_anchor_file(last)

    def _check_anchor_file(self, last: AuditHead) -> None:
        seal = self.seal
        assert seal is not None
        reading = seal.anchor
        where = str(reading.path)
        if not reading.exists or reading.lines == 0:
            if last.seq >= 1 and last.seq >= seal.keyed_from:
                self.add_sealed(
                    BreakKind.ANCHOR_LOST,
                    None,
                    None,
                    f"the anchor file {where} is missing: nothing outside the home vouches "
                    "for the end of the chain (deleted? or the home was moved or copied "
                    "without its anchor: set FACESEARCH_AUDIT_ANCHOR_FILE to the old one)",
                )
            return
        for line in reading.bad_lines:
            self.add_sealed(
                BreakKind.ANCHOR, None, None, f"line {line} of {where} is not an anchor record"
            )
        if reading.foreign_lines:
            self.add_sealed(
                BreakKind.ANCHOR,
                None,
                None,
                f"{where} holds records of another trail (lines "
                f"{', '.join(map(str, reading.foreign_lines))}): this home's trail was "
                "replaced, or the anchor file belongs to another home",
            )
        start = reading.start
        if start is None:
            self.add_sealed(
                BreakKind.ANCHOR_LOST,
                None,
                None,
                f"{where} has no start record: it was deleted and made again while "
                "facesearch ran; entries before its first line are not anchored",
            )
        elif start.trail == seal.trail:
            if start.seq >= seal.keyed_from:
                self.add_sealed(
                    BreakKind.ANCHOR_LOST,
                    seal.keyed_from,
                    start.seq,
                    f"{where} was started at entry {start.seq}, after keying began at entry "
                    f"{seal.keyed_from}: the earlier anchor was lost (deleted, or the home "
                    "copied or moved without it)",
                )
            if start.keyed_from is not None and start.keyed_from != seal.keyed_from:
                self.add_sealed(
                    BreakKind.KEY,
                    None,
                    None,
                    f"{where} says keying began at entry {start.keyed_from}, the file says "
                    f"{seal.keyed_from}: the start of keying was moved in the file",
                )
            self._compare(start.seq, start.hash, None, last, where, "start record")
        latest = reading.latest
        if latest is None:
            return
        if latest.seq < last.seq:
            self.add_sealed(
                BreakKind.UNANCHORED,
                latest.seq + 1,
                last.seq,
                f"{_plural(latest.seq + 1, last.seq)} not anchored in {where} (its last head "
                f"is entry {latest.seq}): appended without facesearch, or facesearch stopped "
                "between writing the entry and anchoring it",
            )
        self._compare(latest.seq, latest.hash, latest.mac, last, where, "last head")

    def _compare(
        self, seq: int, digest: str, mac: str | None, last: AuditHead, where: str, what: str
    ) -> None:
        if seq == 0:
            return
        if seq > last.seq:
            self.add_sealed(
                BreakKind.TRUNCATED,
                last.seq + 1,
                seq,
                f"{_plural(last.seq + 1, seq)} gone: {where} anchored entry {seq} ({what}); "
                "the chain was cut, or an older copy of the file put back",
            )
            return
        found = self.watch.get(seq)
        if found is None:
            return  # a missing middle entry is named by the hash chain
        stored_hash, stored_mac = found
        if stored_hash != digest or (mac is not None and stored_mac != mac):
            self.add_sealed(
                BreakKind.ANCHOR,
                seq,
                seq,
                f"entry {seq} is not the one anchored in {where} ({what}): it was rewritten, "
                "or an older copy of the file put back",
            )

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


def _is_marker(row: sqlite3.Row, seq: int) -> bool:
    try:
        payload = json.loads(row["payload"])
    except (TypeError, ValueError):
        return False
    return (
        row["action"] == "audit_keyed"
        and isinstance(payload, dict)
        and payload.get("keyed_from") == seq
    )


def _plural(first: int, last: int) -> str:
    return f"entry {first} is" if first == last else f"entries {first}..{last} are"
