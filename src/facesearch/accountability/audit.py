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

import logging
import sqlite3
from collections.abc import Mapping
from datetime import datetime
from typing import Any, TextIO

from facesearch.accountability.audit_entries import Action, AuditEntry, entry_of, payload_json
from facesearch.accountability.audit_export import check_format, write_entries
from facesearch.accountability.audit_query import (
    COLUMNS_WITH_MAC,
    PLATFORM_ORG,
    action_of,
    entry_in_org,
    org_clause,
    select,
)
from facesearch.accountability.audit_report import AuditReport, BreakKind, ChainBreak, Seal
from facesearch.accountability.chain import (
    AUDIT_COLUMNS,
    GENESIS_HASH,
    AuditEnvelope,
    AuditHead,
    entry_hash,
    entry_mac,
)
from facesearch.accountability.chain_check import verify_chain
from facesearch.accountability.db import Database, format_time, parse_time
from facesearch.accountability.dialect import json_text, name_is
from facesearch.accountability.keying import Keyring, key_id
from facesearch.accountability.text_checks import (
    MAX_ACTOR_CHARS,
    MAX_CASE_CHARS,
    MAX_PURPOSE_CHARS,
    clean_text,
    required_text,
)
from facesearch.errors import CatalogError, FaceSearchError, InputError, NotFoundError

log = logging.getLogger(__name__)

__all__ = ["PLATFORM_ORG", "AuditTrail", "entry_in_org", "org_clause"]


_KEYING = "SELECT trail, keyed_from, key_id FROM audit_keying WHERE id = 1"
MARKER_ACTOR = "system:facesearch"


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
                    self._db.where,
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
                self._db.where,
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
        org: str | None = None,
    ) -> AuditEntry:
        """Add one entry, chained to the last, atomically (joins the caller's transaction).

        ``org``: the organisation the entry belongs to; None: the organisation of the
        account named ``actor``, or ``PLATFORM_ORG`` when no account has that name."""
        actor_text = required_text(actor, "actor", MAX_ACTOR_CHARS, one_line=True)
        action = action_of(action)
        case = clean_text(case, "case number", MAX_CASE_CHARS, one_line=True)
        purpose = clean_text(purpose, "purpose", MAX_PURPOSE_CHARS, one_line=False)
        text, parsed = payload_json(payload)  # hash exactly what verify() will read back
        with self._db.write() as conn:
            head = _head_row(conn)
            keying = _keying_row(conn)
            seq = head.seq + 1
            when = format_time(self._db.now())
            org = _org_of(conn, actor_text) if org is None else org
            envelope = AuditEnvelope(
                seq, when, actor_text, action.value, case, purpose, parsed, head.hash, org
            )
            digest = entry_hash(envelope)
            mac = None
            if seq >= int(keying["keyed_from"]):
                mac = self._mac(conn, keying, head, envelope)
            conn.execute(
                f"INSERT INTO audit_log ({AUDIT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (seq, when, actor_text, action.value, case, purpose, text, head.hash, digest, org),
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
            org,
        )

    # --- reading --------------------------------------------------------------------------

    def get(self, seq: int, *, org: str | None = None) -> AuditEntry:
        """Entry ``seq``; NotFoundError if there is none, or (``org`` given) if it belongs to
        another organisation: the same answer, so that ids of others are not told apart."""
        with self._db.read() as conn:
            sql = f"SELECT {COLUMNS_WITH_MAC} FROM audit_log WHERE seq = ?"
            row = conn.execute(sql, (seq,)).fetchone()
        if row is None or (org is not None and not entry_in_org(row["org"], org)):
            raise NotFoundError(f"no audit entry {seq}")
        return entry_of(row)

    def head(self) -> AuditHead:
        """Seq and hash of the last entry (0 and GENESIS_HASH for an empty trail)."""
        with self._db.read() as conn:
            return _head_row(conn)

    def entries(
        self,
        *,
        org: str | None = None,
        actor: str | None = None,
        action: Action | None = None,
        case: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = 100,
        offset: int = 0,
        probe: str | None = None,
        newest_first: bool = False,
        before: int | None = None,
        after: int | None = None,
    ) -> list[AuditEntry]:
        """Entries in seq order (``newest_first``: the last first); since is inclusive, until
        exclusive; limit None = all; ``org``: only that organisation's (None: every
        organisation's); ``probe``: only the searches whose payload names that probe sha256;
        ``before``/``after``: only those with a lower/higher seq (a page's cursor)."""
        with self._db.read() as conn:
            sql, args = select(
                conn,
                org,
                actor,
                action,
                case,
                since,
                until,
                limit,
                offset,
                probe,
                newest_first=newest_first,
                before=before,
                after=after,
            )
            return [entry_of(row) for row in conn.execute(sql, args)]

    def count(
        self,
        *,
        org: str | None = None,
        actor: str | None = None,
        action: Action | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> int:
        """How many entries ``entries`` would return with these filters and no limit."""
        with self._db.read() as conn:
            sql, args = select(
                conn, org, actor, action, None, since, until, None, 0, what="count(*)"
            )
            return int(conn.execute(sql, args).fetchone()[0])

    def cases_of_probe(
        self, probe: str, *, org: str, since: datetime, until: datetime
    ) -> list[str]:
        """The case numbers (distinct, sorted) of ``org``'s searches of ``probe`` (a sha256)
        in [since, until): what the repeated-probe alert needs, without reading the entries."""
        with self._db.read() as conn:
            sql, args = select(
                conn,
                org,
                None,
                Action.SEARCH,
                None,
                since,
                until,
                None,
                0,
                probe,
                what="DISTINCT case_number",
            )
            rows = conn.execute(sql, args).fetchall()
        return sorted(str(r[0]) for r in rows if r[0] is not None)

    def naming(self, action: Action, key: str, value: int | str) -> list[AuditEntry]:
        """The entries of ``action`` whose payload's field ``key`` is ``value`` (compared as
        text), in seq order: e.g. the entries of one ingest run. It reads the payload of every
        entry of that action: for rare look-ups. Joins the caller's transaction, so that
        inside one ``db.write()`` nothing is appended between it and the caller's append."""
        if not key.isidentifier():
            raise InputError(f"not a payload field name: {key!r}")
        with self._db.read() as conn:
            field = json_text(conn, "payload", key)
            sql = (
                f"SELECT {COLUMNS_WITH_MAC} FROM audit_log "
                f"WHERE action = ? AND CAST({field} AS TEXT) = ? ORDER BY seq"
            )
            rows = conn.execute(sql, (action_of(action).value, str(value))).fetchall()
        return [entry_of(row) for row in rows]

    def alerted(self, *, org: str, actor: str, since: datetime) -> set[tuple[str, str]]:
        """The (rule, subject) pairs of ``org``'s ``alert`` entries written by ``actor`` (the
        alert rules' name) since ``since``: read from the payloads in SQL, no entry parsed."""
        with self._db.read() as conn:
            rule, subject = (
                json_text(conn, "payload", "rule"),
                json_text(conn, "payload", "subject"),
            )
            sql, args = select(
                conn,
                org,
                actor,
                Action.ALERT,
                None,
                since,
                None,
                None,
                0,
                what=f"DISTINCT {rule}, {subject}",
            )
            return {(str(r[0]), str(r[1])) for r in conn.execute(sql, args)}

    def export(
        self,
        fmt: str,
        out: TextIO,
        *,
        actor: str,
        case: str | None = None,
        purpose: str | None = None,
        org: str | None = None,
        filter_actor: str | None = None,
        filter_action: Action | None = None,
        filter_case: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> int:
        """Write matching entries as "csv" or "jsonl" (``audit_export.py``); log the
        export; return the count."""
        check_format(fmt)
        with self._db.read() as conn:
            sql, args = select(
                conn, org, filter_actor, filter_action, filter_case, since, until, None, 0
            )
            count = write_entries((entry_of(row) for row in conn.execute(sql, args)), fmt, out)
        filters = {
            "actor": filter_actor,
            "action": None if filter_action is None else action_of(filter_action).value,
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
            org=org,
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
                shared=self._db.dialect == "postgresql",
            )
            return verify_chain(conn, expected_head, seal)


def _org_of(conn: sqlite3.Connection, actor: str) -> str:
    """The organisation of the account named ``actor``; ``PLATFORM_ORG`` if none (the CLI,
    housekeeping, an operator, a failed login's name)."""
    row = conn.execute(
        "SELECT o.name FROM users u JOIN organisations o ON o.id = u.org_id "
        f"WHERE {name_is(conn, 'u.name')}",
        (actor,),
    ).fetchone()
    return PLATFORM_ORG if row is None else str(row[0])


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
