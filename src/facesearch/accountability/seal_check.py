"""The keyed half of the audit check: every MAC, the key, and the anchor file outside the home.

``SealChecks`` collects what a check finds (``add``; the MAC and anchor findings apart, in
``add_sealed``, merged at the end so that an entry the hash chain already named gets no second
finding) and checks a ``Seal``: the MAC of each entry from ``keyed_from`` on, that the key is the
trail's, and that the anchor file's start record and last head match the chain. The hash-chain
pass that calls these is ``chain_check.py``; the formulas are in ``chain.py``.
"""

from __future__ import annotations

import hmac
import json
import sqlite3

from facesearch.accountability.audit_report import (
    MAX_LISTED_BREAKS,
    BreakKind,
    ChainBreak,
    Seal,
    plural,
)
from facesearch.accountability.chain import GENESIS_HASH, AuditHead, row_mac
from facesearch.accountability.keying import key_id

__all__ = ["SealChecks"]

_PER_ENTRY = frozenset({BreakKind.MAC, BreakKind.ANCHOR, BreakKind.TRUNCATED, BreakKind.UNANCHORED})


class SealChecks:
    """The findings of one check, and the checks of the keyed chain and the anchor file."""

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
        self.keyed_seen = 0  # keyed entries seen by the chain pass

    def add(self, kind: BreakKind, first: int | None, last: int | None, detail: str) -> None:
        if len(self.breaks) < MAX_LISTED_BREAKS:
            self.breaks.append(ChainBreak(kind, first, last, detail))
        else:
            self.omitted += 1

    def add_sealed(self, kind: BreakKind, first: int | None, last: int | None, text: str) -> None:
        self.sealed.append(ChainBreak(kind, first, last, text))

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
        expected = row_mac(row, key, seal.trail, prev_mac or "missing") or ""
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
                    f"{plural(1, seal.keyed_from - 1)} from before audit keys existed: only "
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
        needs_key = seal.key_id is not None or last.seq >= seal.keyed_from
        if seal.key is None:
            if needs_key or seal.key_problem:  # else none yet: the first keyed entry makes it
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
            if seal.shared and last.seq >= 1:
                self._shared_warning(
                    BreakKind.ANCHOR_LOST,
                    None,
                    None,
                    f"the anchor file {where} of this machine is missing: this replica has "
                    "appended nothing yet (or it was deleted); only the other replicas' anchors "
                    "vouch for the end of the chain",
                )
            elif last.seq >= 1 and last.seq >= seal.keyed_from:
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
            if start.seq >= seal.keyed_from and seal.shared:
                self._shared_warning(
                    BreakKind.ANCHOR_LOST,
                    seal.keyed_from,
                    start.seq,
                    f"{where} was started at entry {start.seq}, when this replica first "
                    "appended to the shared trail: the anchors of the replicas that wrote the "
                    "earlier entries vouch for them",
                )
            elif start.seq >= seal.keyed_from:
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
        if reading.rewound is not None:
            first, highest, line = reading.rewound
            self.add_sealed(
                BreakKind.TRUNCATED,
                first,
                highest,
                f"line {line} of {where} anchors entry {first} anew after entry {highest} was "
                f"anchored: {plural(first, highest)} cut and written again (the tail of the "
                "chain deleted, or an older copy of the file put back, and used since)",
            )
        latest = reading.latest
        if latest is None:
            return
        if latest.seq < last.seq and seal.shared:
            self._shared_warning(
                BreakKind.UNANCHORED,
                latest.seq + 1,
                last.seq,
                f"{plural(latest.seq + 1, last.seq)} beyond this replica's last anchored head "
                f"(entry {latest.seq} in {where}): appended by other replicas since",
            )
        elif latest.seq < last.seq:
            self.add_sealed(
                BreakKind.UNANCHORED,
                latest.seq + 1,
                last.seq,
                f"{plural(latest.seq + 1, last.seq)} not anchored in {where} (its last head "
                f"is entry {latest.seq}): appended without facesearch, or facesearch stopped "
                "between writing the entry and anchoring it",
            )
        self._compare(latest.seq, latest.hash, latest.mac, last, where, "last head")

    def _shared_warning(
        self, kind: BreakKind, first: int | None, last: int | None, detail: str
    ) -> None:
        """What a shared trail's per-machine anchor cannot vouch for: a warning, not a break."""
        self.warnings.append(ChainBreak(kind, first, last, detail))

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
                f"{plural(last.seq + 1, seq)} gone: {where} anchored entry {seq} ({what}); "
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
