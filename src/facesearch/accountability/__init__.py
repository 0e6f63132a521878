"""Accountability: who may do what, what was done, and who verified a match.

The library layer under the CLI and the server (no web framework here). One SQLite file,
``accountability.sqlite`` in the facesearch home, or with ``database_url`` one schema of a
PostgreSQL database shared by every replica (``db.py``: connection and transactions;
``schema.py``: the migrations of both; ``dialect.py``: where their SQL differs), holds

- accounts (``accounts.py``, the object the callers use): roles and the permission table
  (``permissions.py``), the ``User`` record (``users.py``), argon2id passwords
  (``passwords.py``) with login throttling (``logins.py``), API tokens (``tokens.py``),
  browser sessions (``sessions.py``), their limits (``policy.py``);
- the audit trail (``audit.py``): append-only entries (``audit_entries.py``), filters and
  organisations' entries (``audit_query.py``), CSV/JSON-lines export (``audit_export.py``),
  the one check of their free text (``text_checks.py``); its hash chain and MACs
  (``chain.py``) and ``verify``, which finds entries edited, deleted, inserted, reordered,
  forged or cut off in the file (``chain_check.py``, ``seal_check.py``, reported as
  ``audit_report.py``); the MAC key and the anchor file, both outside the home
  (``keying.py``);
- the two-person rule (``decisions.py``): a candidate is confirmed only when two different
  people have verified it;
- kept probe images (``probes.py``), deleted when their retention period ends;
- the case registry (``cases.py``): the cases work is done under, and their members.

    store = AccountabilityStore.from_settings(settings)
    user = store.accounts.check_password(name, password)
    entry = store.audit.append(actor=user.name, action=Action.SEARCH, case=case,
                               purpose=purpose, payload=record.payload())
    state = store.decisions.decide(user, entry.seq, face_id, Verdict.POSSIBLE_MATCH)
    report = store.verify(expected_head=AuditHead.parse(written_down))

The names are imported on first use (``facesearch._lazy``): ``Actor`` and ``Permission`` do
not import the store, argon2 and the password checks.
"""

import typing as _typing

from facesearch._lazy import lazy_exports as _lazy_exports

if _typing.TYPE_CHECKING:
    from facesearch.accountability.accounts import Accounts
    from facesearch.accountability.audit import AuditTrail
    from facesearch.accountability.audit_entries import (
        Action,
        AuditEntry,
        FaceId,
    )
    from facesearch.accountability.audit_report import AuditReport, BreakKind, ChainBreak
    from facesearch.accountability.cases import Case, CaseRefusal, Cases, CaseStatus
    from facesearch.accountability.chain import (
        GENESIS_HASH,
        AuditEnvelope,
        AuditHead,
        canonical_json,
        entry_hash,
        entry_mac,
    )
    from facesearch.accountability.db import FILENAME
    from facesearch.accountability.decisions import (
        TRANSITIONS,
        CandidateState,
        CandidateStatus,
        DecisionRecord,
        Decisions,
        PendingCandidate,
        Verdict,
        next_status,
    )
    from facesearch.accountability.keying import default_anchor_file, default_key_file
    from facesearch.accountability.logins import LoginLock
    from facesearch.accountability.permissions import (
        PERMISSIONS,
        Actor,
        Permission,
        Role,
        can,
        local_actor,
        require,
    )
    from facesearch.accountability.policy import AccountPolicy
    from facesearch.accountability.probes import ProbeStore
    from facesearch.accountability.schema import SCHEMA_VERSION
    from facesearch.accountability.store import AccountabilityStore
    from facesearch.accountability.tokens import TokenInfo
    from facesearch.accountability.users import User
else:  # each name imported from its module on first use
    __getattr__, __dir__ = _lazy_exports(
        __name__,
        {
            "facesearch.accountability.accounts": ("Accounts",),
            "facesearch.accountability.audit": ("AuditTrail",),
            "facesearch.accountability.audit_entries": ("Action", "AuditEntry", "FaceId"),
            "facesearch.accountability.audit_report": ("AuditReport", "BreakKind", "ChainBreak"),
            "facesearch.accountability.cases": ("Case", "CaseRefusal", "Cases", "CaseStatus"),
            "facesearch.accountability.chain": (
                "GENESIS_HASH",
                "AuditEnvelope",
                "AuditHead",
                "canonical_json",
                "entry_hash",
                "entry_mac",
            ),
            "facesearch.accountability.db": ("FILENAME",),
            "facesearch.accountability.decisions": (
                "TRANSITIONS",
                "CandidateState",
                "CandidateStatus",
                "DecisionRecord",
                "Decisions",
                "PendingCandidate",
                "Verdict",
                "next_status",
            ),
            "facesearch.accountability.keying": ("default_anchor_file", "default_key_file"),
            "facesearch.accountability.logins": ("LoginLock",),
            "facesearch.accountability.permissions": (
                "PERMISSIONS",
                "Actor",
                "Permission",
                "Role",
                "can",
                "local_actor",
                "require",
            ),
            "facesearch.accountability.policy": ("AccountPolicy",),
            "facesearch.accountability.probes": ("ProbeStore",),
            "facesearch.accountability.schema": ("SCHEMA_VERSION",),
            "facesearch.accountability.store": ("AccountabilityStore",),
            "facesearch.accountability.tokens": ("TokenInfo",),
            "facesearch.accountability.users": ("User",),
        },
    )

__all__ = [
    "FILENAME",
    "GENESIS_HASH",
    "PERMISSIONS",
    "SCHEMA_VERSION",
    "TRANSITIONS",
    "AccountPolicy",
    "AccountabilityStore",
    "Accounts",
    "Action",
    "Actor",
    "AuditEntry",
    "AuditEnvelope",
    "AuditHead",
    "AuditReport",
    "AuditTrail",
    "BreakKind",
    "CandidateState",
    "CandidateStatus",
    "Case",
    "CaseRefusal",
    "CaseStatus",
    "Cases",
    "ChainBreak",
    "DecisionRecord",
    "Decisions",
    "FaceId",
    "LoginLock",
    "PendingCandidate",
    "Permission",
    "ProbeStore",
    "Role",
    "TokenInfo",
    "User",
    "Verdict",
    "can",
    "canonical_json",
    "default_anchor_file",
    "default_key_file",
    "entry_hash",
    "entry_mac",
    "local_actor",
    "next_status",
    "require",
]
