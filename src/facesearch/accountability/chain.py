"""The hash chain of the audit trail: how an entry is hashed and MACed (the checks that use
this are ``chain_check.py`` and ``seal_check.py``).

An entry's hash is::

    hash = sha256(canonical_json({"seq": ..., "time": ..., "actor": ..., "action": ...,
                                  "case": ..., "purpose": ..., "payload": ...,
                                  "prev_hash": ..., "org": ...})).hexdigest()

with ``"org"`` (the organisation the entry belongs to) left out of entries that have none:
those written before organisations existed, read as the ``default`` organisation's.

where ``canonical_json`` is ``json.dumps(sort_keys=True, separators=(",", ":"),
ensure_ascii=False, allow_nan=False)`` encoded as UTF-8, ``time`` is the stored text
(``2025-01-31T12:00:00.000000+00:00``) and ``prev_hash`` is the previous entry's hash, or
``GENESIS_HASH`` (64 zeros) for entry 1. Anyone can re-check an export with these lines.

``chain_check.verify_chain`` reads the chain once in seq order and reports, by seq, every
entry edited, deleted, inserted, moved, or cut off the end directly in the SQLite file
(``audit_report.BreakKind``). The head row (seq and hash of the last entry, updated by every
append) is what shows a cut-off tail. The limit of the hash chain alone: someone with write
access who rewrites the chain from some entry on *and* the head row consistently leaves no
trace inside the file. Hence the keyed chain: from entry ``keyed_from`` on (1 for a trail
started keyed, the seq after the last old entry for a trail written before keys existed),
every entry also has a MAC::

    mac = hmac_sha256(key, canonical_json({"entry": <the envelope above>,
                                           "prev_mac": ..., "trail": ...})).hexdigest()

with the audit key (``keying.py``), ``prev_mac`` the MAC of the entry before (64 zeros for
entry ``keyed_from``) and ``trail`` the trail's random id. Without the key nobody can append,
edit or rewrite an entry with a valid MAC. Cutting entries off the end, or putting back an
older copy of the file, keeps the MACs valid: the anchor file (outside the home, one line per
new head) shows that. ``verify_chain`` with a ``Seal`` checks both (``seal_check.py``) and
reports what it finds by seq (``MAC``, ``KEY``, ``TRUNCATED``, ``ANCHOR``, ``UNANCHORED``,
``ANCHOR_LOST``). A head written down by hand (``AuditTrail.head()``) can still be passed as
``expected_head``.

A seq gets one finding: the keyed checks say nothing more about an entry the hash chain already
named (an edited entry's MAC is wrong too).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from facesearch.accountability.schema import GENESIS_HASH
from facesearch.errors import InputError
from facesearch.types import fields_dict

__all__ = [
    "AUDIT_COLUMNS",
    "GENESIS_HASH",
    "AuditEnvelope",
    "AuditHead",
    "canonical_json",
    "entry_hash",
    "entry_mac",
    "row_hash",
    "row_mac",
]

AUDIT_COLUMNS = "seq, time, actor, action, case_number, purpose, payload, prev_hash, hash, org"


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
    org: str | None = None  # the organisation; None (entries before organisations): not hashed

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
            _canonical_payload(row["payload"]),
            row["prev_hash"],
            row["org"],
        )

    def as_dict(self) -> dict[str, Any]:
        """The hashed fields; ``org`` only when the entry has one (older hashes stay valid)."""
        fields = fields_dict(self)
        if fields["org"] is None:
            del fields["org"]
        return fields


def _canonical_payload(text: str) -> Any:
    """The parsed payload of a stored entry; ValueError unless ``text`` is exactly the
    canonical JSON it was written as (``payload_json``). The hash covers the parsed payload,
    while checks in SQL (``json_extract``) read the text: text that parses alike but reads
    otherwise in SQL (a key named twice, whose first SQL reads and last Python keeps; a key
    written with escapes, ``"n\\u0061me"``, that SQL does not decode) would let a check read
    what the hash does not vouch for."""
    parsed = json.loads(text)
    if canonical_json(parsed) != text:
        raise ValueError("the payload is not the canonical JSON it was written as")
    return parsed


def entry_hash(envelope: AuditEnvelope) -> str:
    """sha256 of the canonical JSON of the envelope (see the module docstring)."""
    return hashlib.sha256(canonical_json(envelope.as_dict()).encode("utf-8")).hexdigest()


def entry_mac(key: bytes, trail: str, envelope: AuditEnvelope, prev_mac: str) -> str:
    """HMAC-SHA256 of an entry, chained to the MAC before it (see the module docstring)."""
    message = canonical_json({"entry": envelope.as_dict(), "prev_mac": prev_mac, "trail": trail})
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).hexdigest()


def row_hash(row: sqlite3.Row, seq: int | None = None) -> str | None:
    """The hash a stored row should have at ``seq`` (its own by default); None if unreadable."""
    try:
        return entry_hash(AuditEnvelope.of_row(row, seq))
    except (TypeError, ValueError):
        return None


def row_mac(row: sqlite3.Row, key: bytes, trail: str, prev_mac: str) -> str | None:
    try:
        envelope = AuditEnvelope.of_row(row)
    except (TypeError, ValueError):
        return None
    return entry_mac(key, trail, envelope, prev_mac)
