"""The hash-chain half of the audit check: one pass over the entries in seq order.

``verify_chain`` finds, by seq, every entry edited, deleted, inserted, moved (two entries
swapped, or one moved by one place) or cut off the end of the chain directly in the SQLite file,
and a head row that disagrees with the last entry or with a head written down by hand. With a
``Seal`` it also checks the keyed chain and the anchor file (``seal_check.py``).
"""

from __future__ import annotations

import sqlite3

from facesearch.accountability.audit_report import AuditReport, BreakKind, Seal, plural
from facesearch.accountability.chain import AUDIT_COLUMNS, GENESIS_HASH, AuditHead, row_hash
from facesearch.accountability.seal_check import SealChecks

__all__ = ["verify_chain"]

_CROSS_CHECK_LIMIT = 64  # moved entries are looked for among at most this many broken ones


def verify_chain(
    conn: sqlite3.Connection, expected_head: AuditHead | None = None, seal: Seal | None = None
) -> AuditReport:
    """Re-check every hash and link, the head row, the anchor if one is given, and (with a
    ``seal``) every MAC and the anchor file.

    Run it inside one read transaction, so that it sees one snapshot (and, with a seal, hold
    the anchor file's shared lock, so that the file matches that snapshot).
    """
    return _Verifier(conn, seal).run(expected_head)


class _Verifier(SealChecks):
    """One pass over the chain in seq order, then a look at the head row and the anchor."""

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
                    plural(expected_seq, seq - 1) + " missing",
                )
            elif seq < expected_seq:  # only a seq below 1 can get here
                self.add(BreakKind.INSERTED, seq, seq, f"entry with seq {seq} before entry 1")
                continue
            intact = row_hash(row) == row["hash"]
            if not intact:
                broken_seqs.append(seq)
                moved_from = next(
                    (t for t in (seq - 1, seq + 1) if t >= 1 and row_hash(row, t) == row["hash"]),
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
                (t for t in others if t != seq and row_hash(row, t) == row["hash"]), None
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
                + plural(last.seq + 1, head.seq)
                + " gone from the end",
            )
        elif head.seq < last.seq:
            self.add(
                BreakKind.INSERTED,
                head.seq + 1,
                last.seq,
                plural(head.seq + 1, last.seq) + " beyond the head row, not written by append()",
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
