"""The migration to organisations (schema version 6, ``schema._to_6``), from a version-5 home
written row by row as the version-5 code wrote it: accounts, a case registry, a search with a
decision, and the hash-chained entries of all of it -- on SQLite and on PostgreSQL.

The version-5 entries have no org: their hashes leave it out, and they are ``default``'s."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
from accountability_helpers import (
    CHEAP,
    PW,
    ROOT,
    FakeClock,
    at_version,
    kinds,
    open_store,
    tamper,
)

from facesearch.accountability import (
    FILENAME,
    GENESIS_HASH,
    SCHEMA_VERSION,
    Action,
    AuditEnvelope,
    BreakKind,
    CaseRefusal,
    CaseStatus,
    Role,
    entry_hash,
)
from facesearch.accountability.chain import canonical_json
from facesearch.accountability.dialect import face_param
from facesearch.accountability.schema import MIGRATIONS, PG_MIGRATIONS
from facesearch.accountability.tokens import secret_digest
from facesearch.errors import NotFoundError

ROLES = {"admin": "admin", "alice": "investigator", "bob": "investigator", "audrey": "auditor"}
ROLES_AND_CARL = {**ROLES, "carl": "investigator"}  # carl was disabled
# (actor, action, case, payload) of the version-5 trail, seq 1 on; the shapes its code wrote
V5_TRAIL: list[tuple[str, str, str | None, dict[str, Any]]] = [
    *[("os:root", "user_add", None, {"name": n, "role": r}) for n, r in ROLES_AND_CARL.items()],
    ("admin", "user_disable", None, {"name": "carl", "tokens_revoked": 0}),
    ("os:root", "case_open", "K-1", {"title": "t", "legal_basis": None, "members": ["alice"]}),
    ("admin", "case_member_add", "K-1", {"name": "bob"}),
    ("os:root", "case_open", "K-0", {"title": "old", "legal_basis": "s. 1", "members": []}),
    ("os:root", "case_close", "K-0", {}),
    ("alice", "search", "K-1", {"probe_sha256": "ab" * 32, "candidates": [{"face_id": 7}]}),
    (
        "alice",
        "decision",
        "K-1",
        {
            "search_seq": 11,
            "face_id": 7,
            "verdict": "possible_match",
            "note": "",
            "status_before": "undecided",
            "status_after": "possible_match",
        },
    ),
    ("bob", "token_issue", None, {"name": "bob", "prefix": "fs_v5tok"}),
]
SEARCH_SEQ, DECISION_SEQ = 11, 12
TOKEN = "fs_v5token-issued-before-organisations"  # bob's API token
V5_TIME = "2025-02-01T08:00:{:02d}.000000+00:00"


def write_v5_home(conn: sqlite3.Connection, migrations: tuple[Any, ...]) -> list[str]:
    """Fill ``conn`` (empty) as the version-5 code left it, its trail written before audit
    keys (keying starts with the next entry, at open); the entries' hashes."""
    at_version(conn, 5, migrations)
    for i, (name, role) in enumerate(ROLES_AND_CARL.items(), start=1):
        conn.execute(
            "INSERT INTO users (name, role, password_hash, disabled, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (name, role, CHEAP.hash(PW), int(name == "carl"), V5_TIME.format(i)),
        )
    conn.execute(
        "INSERT INTO cases (number, title, legal_basis, status, opened_by, opened_at) "
        "VALUES ('K-1', 't', NULL, 'open', 'os:root', ?)",
        (V5_TIME.format(7),),
    )
    conn.execute(
        "INSERT INTO cases (number, title, legal_basis, status, opened_by, opened_at, "
        "closed_by, closed_at) VALUES ('K-0', 'old', 's. 1', 'closed', 'os:root', ?, "
        "'os:root', ?)",
        (V5_TIME.format(9), V5_TIME.format(10)),
    )
    for name, added_by, seq in (("alice", "os:root", 7), ("bob", "admin", 8)):
        conn.execute(
            "INSERT INTO case_members (case_id, user_id, added_by, added_at) "
            "SELECT c.id, u.id, ?, ? FROM cases c, users u WHERE c.number = 'K-1' AND u.name = ?",
            (added_by, V5_TIME.format(seq), name),
        )
    prev, hashes = GENESIS_HASH, []
    for seq, (actor, action, case, payload) in enumerate(V5_TRAIL, start=1):
        envelope = AuditEnvelope(seq, V5_TIME.format(seq), actor, action, case, None, payload, prev)
        prev = entry_hash(envelope)
        conn.execute(
            "INSERT INTO audit_log (seq, time, actor, action, case_number, purpose, payload, "
            "prev_hash, hash) VALUES (?, ?, ?, ?, ?, NULL, ?, ?, ?)",
            (
                seq,
                envelope.time,
                actor,
                action,
                case,
                canonical_json(payload),
                envelope.prev_hash,
                prev,
            ),
        )
        hashes.append(prev)
    conn.execute(
        "INSERT INTO decisions (audit_seq, search_seq, face_id) VALUES (?, ?, ?)",
        (DECISION_SEQ, SEARCH_SEQ, face_param(conn, 7)),
    )
    conn.execute(
        "INSERT INTO api_tokens (user_id, digest, prefix, created_at, expires_at) "
        "SELECT id, ?, 'fs_v5tok', ?, '2099-01-01T00:00:00.000000+00:00' FROM users "
        "WHERE name = 'bob'",
        (secret_digest(TOKEN), V5_TIME.format(13)),
    )
    conn.execute("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1", (len(hashes), prev))
    conn.execute("UPDATE audit_keying SET keyed_from = ? WHERE id = 1", (len(hashes) + 1,))
    return hashes


@pytest.fixture
def v5(
    paths: dict[str, Path], database_url: str
) -> Iterator[tuple[dict[str, Path], str, list[str]]]:
    """``paths`` whose home (SQLite) or database (``database_url``) is a version-5 home."""
    paths["home"].mkdir(parents=True)
    if database_url:
        from facesearch.accountability.db import LOCK_KEY, PG_SCHEMA
        from facesearch.sqlstore.pg import PgConnection

        conn = cast(sqlite3.Connection, PgConnection(database_url, PG_SCHEMA, LOCK_KEY))
        hashes = write_v5_home(conn, PG_MIGRATIONS)  # each statement commits
    else:
        conn = sqlite3.connect(paths["home"] / FILENAME)
        hashes = write_v5_home(conn, MIGRATIONS)
        conn.commit()
    conn.close()
    yield paths, database_url, hashes


def test_a_version_5_home_becomes_the_default_organisation(v5, clock: FakeClock):
    paths, url, hashes = v5
    with open_store(paths, clock, url) as store:
        assert [o.name for o in store.orgs.all()] == ["default"]
        users = store.accounts.users()
        assert {u.name: (u.role.value, u.org) for u in users} == {
            name: (role, "default") for name, role in ROLES_AND_CARL.items()
        }
        assert [u.name for u in users if u.disabled] == ["carl"]
        assert store.accounts.check_password("alice", PW).org == "default"
        assert store.accounts.user_for_token(TOKEN).name == "bob"  # users rebuilt, ids kept
        k1, k0 = store.cases.get("K-1"), store.cases.get("K-0", "default")
        assert (k1.status, k1.members) == (CaseStatus.OPEN, ("alice", "bob"))
        assert (k0.status, k0.closed_by) == (CaseStatus.CLOSED, "os:root")
        assert [c.number for c in store.cases.cases("default")] == ["K-0", "K-1"]
        alice = store.accounts.get_user("alice")
        assert store.cases.refusal("K-1", alice) is None
        assert store.cases.refusal("K-0", alice) is CaseRefusal.CLOSED
        assert store.cases.refusal("K-9", alice) is CaseRefusal.UNKNOWN  # the registry is used
        assert store.decisions.state(SEARCH_SEQ, 7).status.value == "possible_match"
        old = store.audit.entries(limit=None)[: len(hashes)]
        assert [e.hash for e in old] == hashes  # nothing rewritten
        assert {e.org for e in old} == {None}
        report = store.verify()
        assert report.ok, report.summary()
        assert [(w.kind, w.first, w.last) for w in report.warnings] == [
            (BreakKind.UNKEYED, 1, len(hashes))
        ]


def test_the_trail_of_a_version_5_home_chains_on_with_orgs(v5, clock: FakeClock):
    paths, url, hashes = v5
    with open_store(paths, clock, url) as store:
        marker = store.audit.get(len(hashes) + 1)  # keying starts: the audit_keyed marker
        assert marker.action == Action.AUDIT_KEYED.value and marker.prev_hash == hashes[-1]
        bob = store.accounts.get_user("bob")
        state = store.decisions.decide(bob, SEARCH_SEQ, 7, "possible_match")
        assert state.status.value == "confirmed"
        decision = store.audit.entries(action=Action.DECISION, limit=None)[-1]
        assert decision.org == "default" and decision.prev_hash == marker.hash
        store.accounts.add_user("dora", Role.INVESTIGATOR, PW, by=store.accounts.get_user("admin"))
        assert store.verify().ok, store.verify().summary()
        # the old entries are default's, and no one else's
        assert marker.org == "(platform)"  # written by no account
        assert len(store.audit.entries(org="default", limit=None)) == len(hashes) + 2
        store.orgs.add(
            "acme", by=store.accounts.add_user("op", Role.OPERATOR, PW, by=ROOT, org=None)
        )
        assert [e.action for e in store.audit.entries(org="acme", limit=None)] == ["org_add"]
        assert store.audit.get(1, org="default").hash == hashes[0]
        with pytest.raises(NotFoundError):
            store.audit.get(1, org="acme")


def test_reopening_a_migrated_home_changes_nothing(v5, clock: FakeClock):
    paths, url, _ = v5
    with open_store(paths, clock, url) as store:
        head = store.audit.head()
        orgs, users = store.orgs.all(), store.accounts.users()
    with open_store(paths, clock, url) as store:
        assert store.audit.head() == head
        assert store.orgs.all() == orgs and store.accounts.users() == users
        assert store.verify().ok
        with store.db.read() as conn:
            assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 9


def test_an_entry_of_a_version_5_home_given_an_org_is_caught(v5, clock: FakeClock):
    """The org of an old entry is not hashed while it is NULL; setting one breaks its hash."""
    paths, url, _ = v5
    with open_store(paths, clock, url) as store:
        store.orgs.add("acme", by=ROOT)
        tamper(store, f"UPDATE audit_log SET org = 'acme' WHERE seq = {SEARCH_SEQ}")
        assert (BreakKind.EDITED, SEARCH_SEQ, SEARCH_SEQ) in kinds(store.verify())
