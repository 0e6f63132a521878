"""What an audit entry holds: the ``Action`` it records, the ``AuditEntry`` read back, and the
checks of its payload (``payload_json``). A search's payload is its record's
(``app.records.SearchRecord.payload``).

Payloads carry ids, counts, digests and scores, never embeddings or image bytes
(``AuditTrail.append`` refuses a payload with a long list of floats or with bytes).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from facesearch.accountability.chain import canonical_json
from facesearch.accountability.db import format_time, parse_time
from facesearch.errors import CatalogError, InputError

__all__ = [
    "Action",
    "AuditEntry",
    "FaceId",
    "entry_of",
    "payload_json",
]

FaceId = int | str

MAX_PAYLOAD_BYTES = 1024 * 1024
MAX_FLOAT_RUN = 64  # a list of more floats than this looks like an embedding


class Action(StrEnum):
    """What an entry records. The payload each one carries is described here, once."""

    SEARCH = "search"  # app.records.SearchRecord.payload(): probe, parameters, candidates ...
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
    PEOPLE_BUILD = "people_build"  # collection, method, threshold, counts (faces, persons ...)
    PERSON_NAME = "person_name"  # person, name, previous name, face ids (now pinned)
    PERSON_MERGE = "person_merge"  # person kept, other (removed), face ids moved
    PERSON_SPLIT = "person_split"  # person, new person, face ids moved to it
    PERSON_NOT = "person_not"  # person, face_id ("not this person"), new person of the face
    # The case registry (cases.py); each entry's case is the case's number.
    CASE_OPEN = "case_open"  # title, legal_basis, members
    CASE_CLOSE = "case_close"  # (the case)
    CASE_MEMBER_ADD = "case_member_add"  # name of the member added
    CASE_REFUSED = "case_refused"  # attempt (search, verify, decide), reason, error
    # Organisations (orgs.py); an entry's org is the organisation it belongs to.
    ORG_ADD = "org_add"  # name, quota_faces, policies
    ORG_SET = "org_set"  # name, what changed: quota_faces, policies (old and new)
    COLLECTION_GRANT = "collection_grant"  # collection, to (organisation), by
    COLLECTION_WITHDRAW = "collection_withdraw"  # collection, from (organisation)
    COLLECTION_CLAIM = "collection_claim"  # collection: first ingest made it the org's
    # Oversight
    ALERT = "alert"  # rule, subject (user), detail, the entries that fired it
    TRAINING_PASSED = "training_passed"  # version, score, valid_until
    TRAINING_FAILED = "training_failed"  # version, score
    TRAINING_WAIVED = "training_waived"  # FACESEARCH_TRAINING_REQUIRED is off (a pilot)
    SEARCH_REQUEST = "search_request"  # request id, probe sha256, parameters
    SEARCH_APPROVE = "search_approve"  # request seq, note
    SEARCH_DENY = "search_deny"  # request seq, note
    SEARCH_REVOKE = "search_revoke"  # request seq, note: an approval withdrawn before its run
    # request seq, until: a run of an approved request starts and holds it (app.approvals)
    SEARCH_RUN_CLAIM = "search_run_claim"
    # The catalog's database (gallery.catalog._identity): a copy made a catalog of its own, or
    # a move adopted; catalog_id (and previous_catalog_id), made_in, database, vectors, faces
    CATALOG_FORK = "catalog_fork"
    CATALOG_ADOPT = "catalog_adopt"


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
    org: str | None = None  # None: written before organisations existed (``default``'s)

    def as_dict(self) -> dict[str, Any]:
        """The entry as exported: exactly the fields its hash covers, the hash and the MAC."""
        extra = {} if self.org is None else {"org": self.org}
        return {
            **extra,
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


def entry_of(row: sqlite3.Row) -> AuditEntry:
    """The entry of an ``audit_log`` row read with its MAC; CatalogError if unreadable."""
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
            org=row["org"],
        )
    except (TypeError, ValueError) as exc:
        raise CatalogError(f"audit entry {row['seq']} is unreadable; run verify") from exc


def _refuse_vectors(value: Any) -> None:
    """InputError naming where ``value`` holds an embedding (a long run of floats) or bytes."""
    found = _vector_in(value)
    if found is not None:
        where, what = found
        raise InputError(f"payload{where} {what}")


def _vector_in(value: Any) -> tuple[str, str] | None:
    """(where, what) of the first embedding or bytes in ``value``; the path is built only for
    what is found (a search's payload has a hundred nodes, checked on every entry)."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            found = _vector_in(item)
            if found is not None:
                return f".{key}{found[0]}", found[1]
    elif isinstance(value, list | tuple):
        if len(value) > MAX_FLOAT_RUN and all(isinstance(v, float) for v in value):
            return "", (
                f"is a list of {len(value)} floats: the audit trail takes ids, counts and "
                "scores, never embeddings"
            )
        for i, item in enumerate(value):
            found = _vector_in(item)
            if found is not None:
                return f"[{i}]{found[0]}", found[1]
    elif isinstance(value, bytes | bytearray | memoryview):
        return "", "holds bytes: the audit trail never stores image data"
    return None


def payload_json(payload: Mapping[str, Any] | None) -> tuple[str, Any]:
    """(canonical JSON text, its parsed form) of an entry's payload; InputError for anything
    but a plain JSON object of at most 1 MiB without embeddings or bytes."""
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
    return text, json.loads(text)
