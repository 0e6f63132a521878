"""The audit trail: append-only, hash-chained, keyed entries of who did what, when, for which case.

Every entry holds seq (1, 2, 3, ... without gaps), time (UTC, microseconds), actor (a user name,
``os:<login>`` for the CLI, ``system:...`` for housekeeping), action, case number, purpose and
a JSON payload, and is chained to the one before by its hash and by its MAC, made with a key
kept outside the home; every new head is also written to an anchor file outside the home
(``chain.py`` says how, and how ``verify`` finds an entry edited, deleted, inserted, reordered,
forged or cut off in the file; ``keying.py`` where the key and the anchor live).

Payloads carry ids, counts, digests and scores, never embeddings or image bytes; ``append``
refuses a payload with a long list of floats or with bytes.
"""

from __future__ import annotations

import csv
import json
import logging
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, TextIO

from facesearch.accountability.chain import (
    AUDIT_COLUMNS,
    GENESIS_HASH,
    AuditEnvelope,
    AuditHead,
    AuditReport,
    BreakKind,
    ChainBreak,
    Seal,
    canonical_json,
    entry_hash,
    entry_mac,
    verify_chain,
)
from facesearch.accountability.db import Database, format_time, parse_time
from facesearch.accountability.keying import Keyring, key_id
from facesearch.errors import CatalogError, FaceSearchError, InputError, NotFoundError

log = logging.getLogger(__name__)

__all__ = ["Action", "AuditEntry", "AuditTrail", "Candidate", "FaceId", "SearchRecord"]

FaceId = int | str

MAX_PAYLOAD_BYTES = 1024 * 1024
MAX_FLOAT_RUN = 64  # a list of more floats than this looks like an embedding
MAX_ACTOR_CHARS = 128
MAX_CASE_CHARS = 200
MAX_PURPOSE_CHARS = 2000


class Action(StrEnum):
    """What an entry records. The payload each one carries is described here, once."""

    SEARCH = "search"  # SearchRecord.payload(): times, collections, probe, parameters, hits
    VERIFY = "verify"  # 1:1 comparison: probe digests, score, threshold, result
    DECISION = "decision"  # search_seq, face_id, verdict, note, status_before/after
    INGEST = "ingest"  # collection, counts, source ids
    ERASE = "erase"  # reason, what was removed: counts and ids per kind (never pixels)
    EXPORT = "export"  # format, filters, count of entries written
    LOGIN = "login"  # client, method
    LOGIN_FAILED = "login_failed"  # name tried, reason, client
    LOGOUT = "logout"
    USER_ADD = "user_add"  # name, role
    USER_DISABLE = "user_disable"  # name
    USER_ENABLE = "user_enable"  # name
    PASSWORD_SET = "password_set"  # name
    TOKEN_ISSUE = "token_issue"  # name, prefix
    TOKEN_REVOKE = "token_revoke"  # name, count
    SETTINGS = "settings"  # changed settings, old and new values
    PROBE_PURGE = "probe_purge"  # sha256 of the probe images whose bytes were deleted
    AUDIT_KEYED = "audit_keyed"  # keyed_from, legacy_head, key_id: keying starts here
    READ = "read"  # a read of personal data: what (search, probe, face_crop ...) and its ids


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    time: datetime
    actor: str
    action: str
    case: str | None
    purpose: str | None
    payload: Mapping[str, Any]
    prev_hash: str
    hash: str
    mac: str | None = None  # None: written before audit keys existed

    def as_dict(self) -> dict[str, Any]:
        """The entry as exported: exactly the fields its hash covers, the hash and the MAC."""
        return {
            "seq": self.seq,
            "time": format_time(self.time),
            "actor": self.actor,
            "action": self.action,
            "case": self.case,
            "purpose": self.purpose,
            "payload": dict(self.payload),
            "prev_hash": self.prev_hash,
            "hash": self.hash,
            "mac": self.mac,
        }


@dataclass(frozen=True)
class Candidate:
    face_id: FaceId
    score: float


@dataclass(frozen=True)
class SearchRecord:
    """What Art. 12(3) of the AI Act asks to be logged about one 1:N search."""

    started: datetime
    ended: datetime
    collections: Mapping[str, int]  # collection name -> number of faces searched
    probe_sha256: str
    parameters: Mapping[str, Any]  # threshold, top-k, model names ...
    candidates: Sequence[Candidate] = field(default_factory=tuple)

    def payload(self) -> dict[str, Any]:
        if self.ended < self.started:
            raise InputError("a search cannot end before it started")
        if len(self.probe_sha256) != 64:
            raise InputError("probe_sha256 must be a hex SHA-256")
        return {
            "started": format_time(self.started),
            "ended": format_time(self.ended),
            "collections": [{"name": n, "size": int(s)} for n, s in self.collections.items()],
            "probe_sha256": self.probe_sha256.lower(),
            "parameters": dict(self.parameters),
            "candidates": [
                {"face_id": c.face_id, "score": round(float(c.score), 6)} for c in self.candidates
            ],
        }


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
)


def _entry(row: sqlite3.Row) -> AuditEntry:
    try:
        return AuditEntry(
            seq=int(row["seq"]),
            time=parse_time(row["time"]),
            actor=row["actor"],
            action=row["action"],
            case=row["case_number"],
            purpose=row["purpose"],
            payload=json.loads(row["payload"]),
            prev_hash=row["prev_hash"],
            hash=row["hash"],
            mac=row["mac"],
        )
    except (TypeError, ValueError) as exc:
        raise CatalogError(f"audit entry {row['seq']} is unreadable; run verify") from exc


# Marks that reverse or isolate the direction of the text after them: a case number written
# K-1<U+202E>9102-K would show as another number in the trail.
_DIRECTION_MARKS = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)


def clean_text(value: str | None, what: str, limit: int, *, one_line: bool) -> str | None:
    """The one check of a use's free text (case number, purpose, reason, actor): trimmed,
    None when empty; line breaks as ``\n`` (browsers send a textarea's as CRLF) and only
    where ``one_line`` is false; InputError for other control characters, direction marks
    or more than ``limit`` characters."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InputError(f"{what} must be text")
    text = value.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not text:
        return None
    if len(text) > limit:
        raise InputError(f"{what} is longer than {limit} characters")
    if one_line and "\n" in text:
        raise InputError(f"{what} must be on one line (no line breaks)")
    if any((ord(ch) < 32 and ch not in "\t\n") or 0x7F <= ord(ch) <= 0x9F for ch in text):
        raise InputError(f"{what} contains control characters")
    if any(ch in _DIRECTION_MARKS for ch in text):
        raise InputError(f"{what} contains marks that change the text's direction")
    return text


def _required_text(value: str | None, what: str, limit: int, *, one_line: bool) -> str:
    text = clean_text(value, what, limit, one_line=one_line)
    if text is None:
        raise InputError(f"{what} is required")
    return text


def _refuse_vectors(value: Any, path: str = "payload") -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            _refuse_vectors(item, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        if len(value) > MAX_FLOAT_RUN and all(isinstance(v, float) for v in value):
            raise InputError(
                f"{path} is a list of {len(value)} floats: the audit trail takes ids, "
                "counts and scores, never embeddings"
            )
        for i, item in enumerate(value):
            _refuse_vectors(item, f"{path}[{i}]")
    elif isinstance(value, bytes | bytearray | memoryview):
        raise InputError(f"{path} holds bytes: the audit trail never stores image data")


def _action(action: Action | str) -> Action:
    try:
        return Action(action)
    except ValueError as exc:
        raise InputError(f"unknown audit action {action!r}") from exc


def _select(
    actor: str | None,
    action: Action | None,
    case: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int | None,
    offset: int,
) -> tuple[str, list[Any]]:
    """The parameterised SELECT behind entries() and export()."""
    if (limit is not None and limit < 0) or offset < 0:
        raise InputError("limit and offset must not be negative")
    where: list[str] = []
    args: list[Any] = []
    if actor is not None:
        where.append("actor = ?")
        args.append(actor)
    if action is not None:
        where.append("action = ?")
        args.append(_action(action).value)
    if case is not None:
        where.append("case_number = ?")
        args.append(case)
    if since is not None:
        where.append("time >= ?")
        args.append(format_time(since))
    if until is not None:
        where.append("time < ?")
        args.append(format_time(until))
    sql = f"SELECT {_COLUMNS_WITH_MAC} FROM audit_log"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY seq LIMIT ? OFFSET ?"
    return sql, [*args, -1 if limit is None else limit, offset]


_COLUMNS_WITH_MAC = (
    f"{AUDIT_COLUMNS}, (SELECT mac FROM audit_mac m WHERE m.seq = audit_log.seq) AS mac"
)
_KEYING = "SELECT trail, keyed_from, key_id FROM audit_keying WHERE id = 1"
MARKER_ACTOR = "system:facesearch"


def _csv_cell(value: str | None) -> str:
    """Free text that a spreadsheet would run as a formula gets a leading apostrophe."""
    if value and value[0] in "=+-@\t\r":
        return "'" + value
    return value or ""


class AuditTrail:
    def __init__(self, db: Database, keyring: Keyring) -> None:
        self._db = db
        self._keyring = keyring

    # --- keying ---------------------------------------------------------------------------

    def start_keying(self) -> None:
        """At open: refuse a keyed trail without its key or with another key; key a trail
        written before keys.

        The key's id is compared here, not at the first append, so that no operation (an
        erasure, an ingest) starts with a key it could not log with. A trail from before
        keys existed gets an ``audit_keyed`` entry now, the first keyed one, so that a trail
        without keyed entries never looks normal after an open; its old entries stay as they
        are (hash-chained, pinned by the anchor's start record).
        """
        with self._db.write() as conn:
            keying = _keying_row(conn)
            head = _head_row(conn)
            keyed_from = int(keying["keyed_from"])
            self._keyring.check(keying["key_id"], keyed_from, head.seq)
            if head.seq >= keyed_from or head.seq == 0:
                return  # keyed already, or a new trail: its first entry is keyed
            if self._keyring.anchor.exists():
                log.warning(
                    "the audit trail in %s has no keyed entry but its anchor file %s exists: "
                    "run 'facesearch audit verify'",
                    self._db.path,
                    self._keyring.anchor.path,
                )
                return
            if keyed_from != head.seq + 1:
                conn.execute("UPDATE audit_keying SET keyed_from = ? WHERE id = 1", (head.seq + 1,))
            key = self._keyring.key(create=True)
            assert key is not None
            log.warning(
                "keying the audit trail of %s from entry %d on; entries 1..%d were written "
                "before audit keys existed",
                self._db.path,
                head.seq + 1,
                head.seq,
            )
            self.append(
                actor=MARKER_ACTOR,
                action=Action.AUDIT_KEYED,
                payload={
                    "keyed_from": head.seq + 1,
                    "legacy_head": {"seq": head.seq, "hash": head.hash},
                    "key_id": key_id(key),
                },
            )

    def check_writable(self) -> None:
        """ConfigError unless an entry could be appended now: the key is this trail's (or
        none is needed yet) and the anchor file can be written. Called before a change that
        must not happen without its entry, which can only be written after it."""
        with self._db.read() as conn:
            keying = _keying_row(conn)
            head = _head_row(conn)
        self._keyring.check(keying["key_id"], int(keying["keyed_from"]), head.seq)
        self._keyring.anchor.check_writable()

    def _mac(
        self,
        conn: sqlite3.Connection,
        keying: sqlite3.Row,
        head: AuditHead,
        envelope: AuditEnvelope,
    ) -> str:
        """The new entry's MAC; the key checked (made if none yet); the anchor started."""
        seq = envelope.seq
        keyed_from = int(keying["keyed_from"])
        key = self._keyring.key(create=head.seq < keyed_from)
        if key is None:
            raise self._keyring.missing_key_error(keyed_from, head.seq)
        kid = key_id(key)
        if keying["key_id"] is None:
            conn.execute("UPDATE audit_keying SET key_id = ? WHERE id = 1", (kid,))
        elif keying["key_id"] != kid:
            raise self._keyring.wrong_key_error(kid, keying["key_id"])
        prev_mac = GENESIS_HASH
        if seq > keyed_from:
            row = conn.execute("SELECT mac FROM audit_mac WHERE seq = ?", (seq - 1,)).fetchone()
            if row is None:
                log.warning("audit entry %d has no MAC; run 'facesearch audit verify'", seq - 1)
            else:
                prev_mac = row["mac"]
        self._keyring.anchor.ensure(
            {
                "trail": keying["trail"],
                "seq": head.seq,
                "hash": head.hash,
                "mac": None if head.seq < keyed_from else prev_mac,
                "keyed_from": keyed_from,
                "home": str(self._db.path.parent),
                "time": format_time(self._db.now()),
            }
        )
        return entry_mac(key, keying["trail"], envelope, prev_mac)

    # --- writing --------------------------------------------------------------------------

    def append(
        self,
        *,
        actor: str,
        action: Action,
        case: str | None = None,
        purpose: str | None = None,
        payload: Mapping[str, Any] | None = None,
    ) -> AuditEntry:
        """Add one entry, chained to the last, atomically (joins the caller's transaction)."""
        actor_text = _required_text(actor, "actor", MAX_ACTOR_CHARS, one_line=True)
        action = _action(action)
        case = clean_text(case, "case number", MAX_CASE_CHARS, one_line=True)
        purpose = clean_text(purpose, "purpose", MAX_PURPOSE_CHARS, one_line=False)
        body: Mapping[str, Any] = payload if payload is not None else {}
        if not isinstance(body, Mapping):
            raise InputError("an audit payload is a JSON object")
        _refuse_vectors(body)
        try:
            text = canonical_json(body)
        except (TypeError, ValueError) as exc:
            raise InputError(f"audit payload is not plain JSON: {exc}") from exc
        if len(text.encode("utf-8")) > MAX_PAYLOAD_BYTES:
            raise InputError("audit payload is larger than 1 MiB")
        parsed = json.loads(text)  # hash exactly what verify() will read back
        with self._db.write() as conn:
            head = _head_row(conn)
            keying = _keying_row(conn)
            seq = head.seq + 1
            when = format_time(self._db.now())
            envelope = AuditEnvelope(
                seq, when, actor_text, action.value, case, purpose, parsed, head.hash
            )
            digest = entry_hash(envelope)
            mac = None
            if seq >= int(keying["keyed_from"]):
                mac = self._mac(conn, keying, head, envelope)
            conn.execute(
                f"INSERT INTO audit_log ({AUDIT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (seq, when, actor_text, action.value, case, purpose, text, head.hash, digest),
            )
            conn.execute("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1", (seq, digest))
            if mac is not None:
                conn.execute("INSERT INTO audit_mac (seq, mac) VALUES (?, ?)", (seq, mac))
                writer = self._keyring.writer
                writer.record = {
                    "trail": keying["trail"],
                    "seq": seq,
                    "hash": digest,
                    "mac": mac,
                    "time": when,
                }
                self._db.on_commit(writer)
        return AuditEntry(
            seq,
            parse_time(when),
            actor_text,
            action.value,
            case,
            purpose,
            parsed,
            head.hash,
            digest,
            mac,
        )

    def record_search(
        self, record: SearchRecord, *, actor: str, case: str | None, purpose: str | None
    ) -> AuditEntry:
        return self.append(
            actor=actor, action=Action.SEARCH, case=case, purpose=purpose, payload=record.payload()
        )

    def record_erasure(
        self,
        *,
        actor: str,
        reason: str,
        removed: Mapping[str, Sequence[FaceId]],
        case: str | None = None,
        purpose: str | None = None,
    ) -> AuditEntry:
        """Log an erasure: why, and the ids removed per kind (faces, images, subjects ...)."""
        why = _required_text(reason, "reason", MAX_PURPOSE_CHARS, one_line=False)
        payload = {
            "reason": why,
            "counts": {kind: len(ids) for kind, ids in removed.items()},
            "removed": {kind: list(ids) for kind, ids in removed.items()},
        }
        return self.append(
            actor=actor, action=Action.ERASE, case=case, purpose=purpose, payload=payload
        )

    # --- reading --------------------------------------------------------------------------

    def get(self, seq: int) -> AuditEntry:
        with self._db.read() as conn:
            sql = f"SELECT {_COLUMNS_WITH_MAC} FROM audit_log WHERE seq = ?"
            row = conn.execute(sql, (seq,)).fetchone()
        if row is None:
            raise NotFoundError(f"no audit entry {seq}")
        return _entry(row)

    def head(self) -> AuditHead:
        """Seq and hash of the last entry (0 and GENESIS_HASH for an empty trail)."""
        with self._db.read() as conn:
            return _head_row(conn)

    def entries(
        self,
        *,
        actor: str | None = None,
        action: Action | None = None,
        case: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = 100,
        offset: int = 0,
    ) -> list[AuditEntry]:
        """Entries in seq order; since is inclusive, until exclusive; limit None = all."""
        sql, args = _select(actor, action, case, since, until, limit, offset)
        with self._db.read() as conn:
            return [_entry(row) for row in conn.execute(sql, args)]

    def export(
        self,
        fmt: str,
        out: TextIO,
        *,
        actor: str,
        case: str | None = None,
        purpose: str | None = None,
        filter_actor: str | None = None,
        filter_action: Action | None = None,
        filter_case: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> int:
        """Write matching entries as "csv" or "jsonl"; log the export; return the count.

        JSON lines are exact (re-verifiable with ``entry_hash``). In CSV, an actor, case number
        or purpose starting with = + - @ gets a leading apostrophe so that spreadsheets do not
        run it as a formula; the payload column is the canonical JSON.
        """
        if fmt not in ("csv", "jsonl"):
            raise InputError(f"export format must be csv or jsonl, not {fmt!r}")
        count = 0
        sql, args = _select(filter_actor, filter_action, filter_case, since, until, None, 0)
        with self._db.read() as conn:
            rows = (_entry(row) for row in conn.execute(sql, args))
            if fmt == "csv":
                writer = csv.writer(out, lineterminator="\n")
                writer.writerow(EXPORT_FIELDS)
                for e in rows:
                    cells = e.as_dict()
                    cells["payload"] = canonical_json(e.payload)
                    for name in ("actor", "case", "purpose"):
                        cells[name] = _csv_cell(cells[name])
                    writer.writerow([cells[name] for name in EXPORT_FIELDS])
                    count += 1
            else:
                for e in rows:
                    out.write(canonical_json(e.as_dict()) + "\n")
                    count += 1
        filters = {
            "actor": filter_actor,
            "action": None if filter_action is None else _action(filter_action).value,
            "case": filter_case,
            "since": None if since is None else format_time(since),
            "until": None if until is None else format_time(until),
        }
        self.append(
            actor=actor,
            action=Action.EXPORT,
            case=case,
            purpose=purpose,
            payload={"format": fmt, "count": count, "filters": filters},
        )
        return count

    # --- verification ---------------------------------------------------------------------

    def verify(self, expected_head: AuditHead | None = None) -> AuditReport:
        """Re-check every hash, MAC and link, the head row, the anchor file, and the head
        written down by hand if one is given.

        Holds the anchor file's shared lock while it reads (after the database's lock, the
        order appenders take them in), so that no append commits in between.
        """
        with self._db.read() as conn, self._keyring.anchor.shared():
            keying = conn.execute(_KEYING).fetchone()
            if keying is None:
                gone = ChainBreak(
                    BreakKind.KEY,
                    None,
                    None,
                    "the audit_keying record is gone from the file: the MACs cannot be checked",
                )
                return verify_chain(conn, expected_head).with_findings([gone])
            key, problem = None, None
            try:
                key = self._keyring.key(create=False)
            except FaceSearchError as exc:
                problem = str(exc)
            seal = Seal(
                trail=keying["trail"],
                keyed_from=int(keying["keyed_from"]),
                key_id=keying["key_id"],
                key=key,
                key_path=str(self._keyring.key_path),
                anchor=self._keyring.anchor.read(keying["trail"]),
                key_problem=problem,
            )
            return verify_chain(conn, expected_head, seal)


def _head_row(conn: sqlite3.Connection) -> AuditHead:
    row = conn.execute("SELECT seq, hash FROM audit_head WHERE id = 1").fetchone()
    if row is None:
        raise CatalogError(
            "the audit trail's head record is missing: accountability.sqlite was edited "
            "outside facesearch or is damaged; restore it from a backup"
        )
    return AuditHead(int(row["seq"]), row["hash"])


def _keying_row(conn: sqlite3.Connection) -> sqlite3.Row:
    row = conn.execute(_KEYING).fetchone()
    if row is None:
        raise CatalogError(
            "the audit trail's keying record is missing: accountability.sqlite was edited "
            "outside facesearch or is damaged, and nothing more can be written to it; restore "
            "it from a backup (the anchor file outside the home names the last good head)"
        )
    result: sqlite3.Row = row
    return result
