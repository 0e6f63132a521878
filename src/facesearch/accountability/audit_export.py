"""Writing audit entries out: CSV or JSON lines (``AuditTrail.export`` logs each export).

JSON lines are exact: each line is the canonical JSON of the entry (``AuditEntry.as_dict``),
re-verifiable with ``entry_hash``. In CSV, an actor, case number or purpose starting with
= + - @ (or a tab or CR) gets a leading apostrophe so that spreadsheets do not run it as a
formula; the payload column is the canonical JSON, and the org column is empty for an entry
without one (written before organisations; its hash leaves the org out).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import TextIO

from facesearch.accountability.audit_entries import AuditEntry
from facesearch.accountability.chain import canonical_json
from facesearch.errors import InputError

__all__ = ["EXPORT_FIELDS", "EXPORT_FORMATS", "check_format", "write_entries"]

EXPORT_FORMATS = ("csv", "jsonl")
EXPORT_FIELDS = (
    "seq",
    "time",
    "actor",
    "action",
    "case",
    "purpose",
    "payload",
    "prev_hash",
    "hash",
    "mac",
    "org",
)


def check_format(fmt: str) -> None:
    if fmt not in EXPORT_FORMATS:
        raise InputError(f"export format must be csv or jsonl, not {fmt!r}")


def _csv_cell(value: str | None) -> str:
    """Free text that a spreadsheet would run as a formula gets a leading apostrophe."""
    if value and value[0] in "=+-@\t\r":
        return "'" + value
    return value or ""


def write_entries(entries: Iterable[AuditEntry], fmt: str, out: TextIO) -> int:
    """Write the entries as ``fmt`` ("csv" or "jsonl") to ``out``; the number written."""
    check_format(fmt)
    count = 0
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(EXPORT_FIELDS)
        for e in entries:
            cells = {"org": None, **e.as_dict()}
            cells["payload"] = canonical_json(e.payload)
            for name in ("actor", "case", "purpose", "org"):
                cells[name] = _csv_cell(cells[name])
            writer.writerow([cells[name] for name in EXPORT_FIELDS])
            count += 1
    else:
        for e in entries:
            out.write(canonical_json(e.as_dict()) + "\n")
            count += 1
    return count
