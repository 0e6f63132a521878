"""What a check of the audit trail found: ``BreakKind``, ``ChainBreak`` and the
``AuditReport`` that ``AccountabilityStore.verify`` returns (``chain_check.py`` and
``seal_check.py`` make them), and the ``Seal`` the keyed checks need."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from facesearch.accountability.chain import AuditHead
from facesearch.accountability.keying import AnchorReading

__all__ = ["MAX_LISTED_BREAKS", "AuditReport", "BreakKind", "ChainBreak", "Seal", "plural"]

MAX_LISTED_BREAKS = 1000


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
    shared: bool = False  # a trail that replicas share (PostgreSQL): the anchor is per machine


def plural(first: int, last: int) -> str:
    return f"entry {first} is" if first == last else f"entries {first}..{last} are"
