"""Probe images kept for a while after a search, so a match can be re-checked, then deleted.

The audit entry of a search names its probe by SHA-256; ``ProbeStore`` keeps the bytes under
that digest until the retention period ends: once per sha256, as long as the longest
retention any keep asked for; when it ends for one organisation, its entries say
(``probe_kept_until`` of a search, a verification or a search request, read by ``app.reads``
and ``app.erase``).
``purge_expired`` deletes the bytes, never the
audit entry; ``erase`` deletes chosen probes early (``forget --like`` of the person they
show), in the transaction of the entry that records it, where it also asks which of them
another organisation still keeps (their bytes stay): a keep commits with the entry naming it
(a search's probe, a verification's two photos, a search request's probe), so it is either
seen there or stores the bytes anew after. On SQLite the connection runs with
``secure_delete=ON``, so freed pages are overwritten with zeros, and both end with a
``wal_checkpoint(TRUNCATE)`` so the old page images do not linger in the write-ahead log. On
PostgreSQL both end, after the commit, with ``VACUUM probes`` (``Database.vacuum``), which
removes the deleted versions from the table and its TOAST table (what it frees and what it
leaves: ``db.py``). What the file system or an SSD does with blocks it freed, the server's
own write-ahead log and backups, are outside this store's reach.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta
from typing import TypeVar

from facesearch.accountability.audit import AuditTrail
from facesearch.accountability.audit_entries import Action
from facesearch.accountability.db import Database, format_time, parse_time
from facesearch.accountability.dialect import greatest, json_text
from facesearch.accountability.permissions import DEFAULT_ORG
from facesearch.errors import InputError, NotFoundError

__all__ = ["PURGE_ACTOR", "ProbeStore"]

log = logging.getLogger(__name__)

PURGE_ACTOR = "system:retention"
T = TypeVar("T")
MAX_RETENTION_DAYS = 3650


class ProbeStore:
    def __init__(self, db: Database, audit: AuditTrail) -> None:
        self._db = db
        self._audit = audit
        # a test seam (``erase``): called inside an erasure's transaction with the digests
        # whose bytes it has decided to delete, just before it deletes them
        self.before_delete: Callable[[list[str]], None] | None = None

    def keep(self, data: bytes, *, retention_days: int) -> str:
        """Store a probe image for ``retention_days``; return its SHA-256 (hex).

        Keeping the same bytes again extends the period, never shortens it.
        """
        if not isinstance(data, bytes) or not data:
            raise InputError("a probe image is non-empty bytes")
        if not 1 <= retention_days <= MAX_RETENTION_DAYS:
            raise InputError(f"retention_days must be between 1 and {MAX_RETENTION_DAYS}")
        digest = hashlib.sha256(data).hexdigest()
        now = self._db.now()
        expires = format_time(now + timedelta(days=retention_days))
        with self._db.write() as conn:
            conn.execute(
                "INSERT INTO probes (sha256, data, stored_at, expires_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (sha256) DO UPDATE "
                f"SET expires_at = {greatest(conn, 'probes.expires_at', 'excluded.expires_at')}",
                (digest, data, format_time(now), expires),
            )
        return digest

    def get(self, sha256: str) -> bytes:
        """The bytes of a kept probe; NotFoundError once its retention period is over."""
        with self._db.read() as conn:
            row = conn.execute(
                "SELECT data, expires_at FROM probes WHERE sha256 = ?", (sha256.lower(),)
            ).fetchone()
        if row is None or parse_time(row["expires_at"]) <= self._db.now():
            raise NotFoundError(f"no probe image {sha256} is kept")
        return bytes(row["data"])

    def expires(self, sha256: str) -> datetime:
        with self._db.read() as conn:
            row = conn.execute(
                "SELECT expires_at FROM probes WHERE sha256 = ?", (sha256.lower(),)
            ).fetchone()
        if row is None:
            raise NotFoundError(f"no probe image {sha256} is kept")
        return parse_time(row["expires_at"])

    def kept(self, org: str | None = None) -> list[str]:
        """The sha256 of every probe image kept now (its retention period not over); with
        ``org``, of those that organisation's entries name (a search's probe, or one of the
        two photos of a verification), whether other organisations' entries name them too or
        not (``named_by``)."""
        moment = format_time(self._db.now())
        with self._db.read() as conn:
            if org is None:
                rows = conn.execute(
                    "SELECT sha256 FROM probes WHERE expires_at > ? ORDER BY sha256", (moment,)
                )
                return [str(r[0]) for r in rows]
            # the expression of the audit_log_probe index, so that it serves the lookups
            key = json_text(conn, "payload", "probe_sha256")
            rows = conn.execute(
                f"""SELECT p.sha256 FROM probes p WHERE p.expires_at > ?
                AND EXISTS (SELECT 1 FROM audit_log WHERE {key} = p.sha256
                    AND lower(COALESCE(org, ?)) = lower(?))""",
                (moment, DEFAULT_ORG, org),
            )
            found = {str(r[0]) for r in rows}
            verified = [d for d in _verified(conn, org=org) if d not in found]
            for part in _chunks(verified):
                marks = ", ".join("?" * len(part))
                found.update(
                    str(r[0])
                    for r in conn.execute(
                        f"SELECT sha256 FROM probes WHERE expires_at > ? AND sha256 IN ({marks})",
                        (moment, *part),
                    )
                )
            return sorted(found)

    def named_by(self, sha256: str) -> set[str]:
        """The organisations (lower case; the default one for entries of none) whose audit
        entries name probe ``sha256``: as a search's probe or a verification's photo."""
        with self._db.read() as conn:
            return self._named_by(conn, sha256.lower())

    @staticmethod
    def _named_by(conn: sqlite3.Connection, sha256: str) -> set[str]:
        key = json_text(conn, "payload", "probe_sha256")  # served by audit_log_probe
        rows = conn.execute(
            f"SELECT DISTINCT lower(COALESCE(org, ?)) FROM audit_log WHERE {key} = ?",
            (DEFAULT_ORG, sha256),
        )
        return {str(r[0]) for r in rows} | _verified(conn, sha256=sha256).get(sha256, set())

    def verifications(self, org: str, sha256: str | None = None) -> dict[str, list[int]]:
        """``{photo sha256: [seq, ...]}``: ``org``'s verification entries naming each photo
        (photo ``sha256`` alone, where given), oldest first: what keeps a verification's photos
        for ``org`` (``app.erase``), as its searches keep their probes."""
        wanted = sha256.lower() if sha256 is not None else None
        out: dict[str, list[int]] = {}
        with self._db.read() as conn:
            for _, seq, photos in _verifications(conn, org=org, sha256=wanted):
                for digest in photos:
                    out.setdefault(digest, []).append(seq)
        return out

    def erase(
        self,
        digests: Sequence[str],
        *,
        then: Callable[[], T],
        unless: Callable[[str], bool] | None = None,
    ) -> T:
        """Delete the bytes of these probes before their time (an erasure), and run ``then``
        (which writes the audit entry recording it) in the same transaction; return its result.

        ``unless(sha256)``: whether a probe's bytes must stay (another organisation keeps it),
        asked inside that write transaction, so that a search or verification keeping the same
        bytes commits either before the question (and is seen) or after the delete (and
        stores them anew), never between the two. ``before_delete``, when set, is called with
        the digests about to go, after that decision and before the delete: a test seam, to
        force a concurrent keep into that window.
        """
        with self._db.write() as conn:
            wanted = sorted({d.lower() for d in digests})
            if unless is not None:
                wanted = [d for d in wanted if not unless(d)]
            if self.before_delete is not None:
                self.before_delete(wanted)
            conn.executemany("DELETE FROM probes WHERE sha256 = ?", [(d,) for d in wanted])
            out = then()
        if wanted:
            self._db.vacuum("probes")
        if wanted and not self._db.checkpoint():
            log.warning(
                "probe images erased, but a reader kept the write-ahead log from being "
                "truncated; it will be overwritten by later writes"
            )
        return out

    def purge_expired(self, now: datetime | None = None, *, actor: str = PURGE_ACTOR) -> int:
        """Delete the bytes of every probe past its retention; log it; return how many."""
        moment = format_time(now if now is not None else self._db.now())
        with self._db.write() as conn:
            digests = [
                str(r[0])
                for r in conn.execute(
                    "SELECT sha256 FROM probes WHERE expires_at <= ? ORDER BY sha256", (moment,)
                )
            ]
            if digests:
                conn.execute("DELETE FROM probes WHERE expires_at <= ?", (moment,))
                self._audit.append(
                    actor=actor,
                    action=Action.PROBE_PURGE,
                    payload={"count": len(digests), "sha256": digests},
                )
        if digests:
            self._db.vacuum("probes")
        if digests and not self._db.checkpoint():
            log.warning(
                "probe images deleted, but a reader kept the write-ahead log from being "
                "truncated; it will be overwritten by later writes"
            )
        return len(digests)


def _verified(
    conn: sqlite3.Connection, *, org: str | None = None, sha256: str | None = None
) -> dict[str, set[str]]:
    """``{photo sha256: organisations}`` of the photos verification entries name, of
    ``org``'s entries and naming ``sha256`` where given (``_verifications``)."""
    out: dict[str, set[str]] = {}
    for who, _, photos in _verifications(conn, org=org, sha256=sha256):
        for digest in photos:
            out.setdefault(digest, set()).add(who)
    return out


def _verifications(
    conn: sqlite3.Connection, *, org: str | None = None, sha256: str | None = None
) -> Iterator[tuple[str, int, list[str]]]:
    """``(organisation, seq, photos)`` of every verification entry that names photos (their
    ``probe_sha256`` is the list of the two; lower case), of ``org``'s entries and of the
    photo ``sha256`` alone where given. A verification's photos are kept as a search's probe
    is; the JSON list is read here, the same on SQLite and PostgreSQL (a payload is text on
    both)."""
    sql = "SELECT lower(COALESCE(org, ?)), seq, payload FROM audit_log WHERE action = ?"
    params: list[object] = [DEFAULT_ORG, Action.VERIFY.value]
    if org is not None:
        sql += " AND lower(COALESCE(org, ?)) = lower(?)"
        params += [DEFAULT_ORG, org]
    if sha256 is not None:
        sql += " AND payload LIKE ?"
        params.append(f"%{sha256}%")
    for who, seq, payload in conn.execute(sql + " ORDER BY seq", params).fetchall():
        try:
            photos = json.loads(payload).get("probe_sha256")
        except (ValueError, AttributeError):
            continue
        if isinstance(photos, list):
            named = sorted({d.lower() for d in photos if isinstance(d, str)})
            named = [d for d in named if sha256 is None or d == sha256]
            if named:
                yield str(who), int(seq), named


def _chunks(values: list[str], size: int = 500) -> list[list[str]]:
    return [values[i : i + size] for i in range(0, len(values), size)]
