"""Accountability: who may do what, what was done, and who verified a match.

The library layer under the CLI and the server (no web framework here). One SQLite file,
``accountability.sqlite`` in the facesearch home, holds

- accounts (``accounts.py``): roles and the permission table, argon2id passwords with login
  throttling, API tokens, browser sessions;
- the audit trail (``audit.py``): append-only entries, filters, CSV/JSON-lines export; its
  hash chain and MACs (``chain.py``) and ``verify``, which finds entries edited, deleted,
  inserted, reordered, forged or cut off in the file; the MAC key and the anchor file, both
  outside the home (``keying.py``);
- the two-person rule (``decisions.py``): a candidate is confirmed only when two different
  people have verified it;
- kept probe images (``probes.py``), deleted when their retention period ends.

    store = AccountabilityStore.open(settings.home)
    user = store.accounts.check_password(name, password)
    entry = store.audit.record_search(record, actor=user.name, case=case, purpose=purpose)
    state = store.decisions.decide(user, entry.seq, face_id, Verdict.POSSIBLE_MATCH)
    report = store.verify(expected_head=AuditHead.parse(written_down))
"""

from facesearch.accountability.accounts import (
    PERMISSIONS,
    AccountPolicy,
    Accounts,
    Actor,
    LoginLock,
    Permission,
    Role,
    TokenInfo,
    User,
    can,
    local_actor,
    require,
)
from facesearch.accountability.audit import (
    Action,
    AuditEntry,
    AuditTrail,
    Candidate,
    FaceId,
    SearchRecord,
)
from facesearch.accountability.chain import (
    GENESIS_HASH,
    AuditEnvelope,
    AuditHead,
    AuditReport,
    BreakKind,
    ChainBreak,
    canonical_json,
    entry_hash,
    entry_mac,
)
from facesearch.accountability.db import FILENAME, SCHEMA_VERSION
from facesearch.accountability.decisions import (
    TRANSITIONS,
    CandidateState,
    CandidateStatus,
    DecisionRecord,
    Decisions,
    Verdict,
    next_status,
)
from facesearch.accountability.keying import default_anchor_file, default_key_file
from facesearch.accountability.probes import ProbeStore
from facesearch.accountability.store import AccountabilityStore

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
    "Candidate",
    "CandidateState",
    "CandidateStatus",
    "ChainBreak",
    "DecisionRecord",
    "Decisions",
    "FaceId",
    "LoginLock",
    "Permission",
    "ProbeStore",
    "Role",
    "SearchRecord",
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
