"""How strictly ingest matches new faces against the erasure blocklist.

Each entry skips about its false match rate (FMR) of every other person's new faces: K entries
skip about K x FMR of them, silently (1,000 entries at 1e-4: a tenth of every new face). So
each entry is matched at FMR = min(blocklist_max_fmr, blocklist_max_skip / K), K being the
entries that apply to the ingest (the deployment-wide ones and its organisation's own), and
K x FMR stays within blocklist_max_skip. The price is the other error: the stricter the
threshold, the more new photos of an erased person it lets in (the calibration's false
non-match rate there, ``missed``). Past what the calibration can resolve (``min_fmr``) the
threshold stops rising and the bound is not kept (``bounded`` false): K x min_fmr is then
the estimate, and says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from facesearch.core.calibration import CalibrationTable

__all__ = ["BlocklistMatch", "blocklist_match", "entry_fmr"]


def entry_fmr(entries: int, max_fmr: float, max_skip: float) -> float:
    """The false match rate each of ``entries`` blocklist entries is matched at, so that
    all of them skip at most ``max_skip`` of other people's new faces: min(max_fmr,
    max_skip / entries); ``max_fmr`` when there is none."""
    return max_fmr if entries <= 0 else min(max_fmr, max_skip / entries)


@dataclass(frozen=True)
class BlocklistMatch:
    """How one ingest matches new faces against its ``entries`` blocklist entries."""

    entries: int
    fmr: float  # each entry's false match rate (at most)
    threshold: float  # a new face at or above this similarity to an entry is skipped
    missed: float  # share of new photos of an erased person let in (calibration's FNMR)
    bounded: bool  # False: max_skip / entries is below what the calibration resolves

    @property
    def skipped(self) -> float:
        """The expected share of other people's new faces skipped: entries x fmr."""
        return self.entries * self.fmr

    def as_dict(self) -> dict[str, Any]:
        return {
            "entries": self.entries,
            "fmr": _sig(self.fmr),
            "threshold": round(self.threshold, 4),
            "skipped": _sig(self.skipped),
            "missed": _sig(self.missed),
            "bounded": self.bounded,
        }


def blocklist_match(
    entries: int, max_fmr: float, max_skip: float, table: CalibrationTable
) -> BlocklistMatch:
    """The match of ``entries`` blocklist entries (``entry_fmr``), read from ``table``."""
    fmr = entry_fmr(entries, max_fmr, max_skip)
    bounded = fmr >= table.min_fmr
    if not bounded:  # the table cannot tell rarer rates apart: its floor, and say so
        fmr = table.min_fmr
    threshold = table.threshold_for_fmr(fmr)
    missed = float(np.interp(threshold, table.similarity, table.fnmr))
    return BlocklistMatch(entries, fmr, threshold, missed, bounded)


def _sig(x: float) -> float:
    """Two significant figures (a rate, not a measurement to the last digit)."""
    return float(f"{x:.2g}")
