"""One accountability store shared by replicas: PostgreSQL only (issue 9, "Replicas").

Two store objects over one PostgreSQL database stand for two ``serve`` replicas on two
machines: each has its own home, its own anchor file (the anchor is per machine), and the
same audit key. Sessions, lockouts and the two-person rule hold across them; the audit chain
never forks; each replica's ``verify`` accepts its anchor being behind the head (the others
appended since) but refuses a trail cut below it or rewritten at it. Also here: what only
PostgreSQL needs (a dropped connection, VACUUM instead of secure_delete, no column statistics
of personal data).
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from accountability_helpers import CHEAP, PW, ROOT, FakeClock, kinds, pages_of, tamper

from facesearch.accountability import (
    SCHEMA_VERSION,
    AccountabilityStore,
    Action,
    BreakKind,
    Role,
    local_actor,
)
from facesearch.accountability.db import PG_SCHEMA
from facesearch.errors import AuthenticationError, PermissionDeniedError

psycopg = pytest.importorskip("psycopg", reason="SKIPPED LOUDLY: psycopg missing (the test extra)")

Opener = Callable[[str], AccountabilityStore]


@pytest.fixture
def replica(pg_url: str, tmp_path: Path, clock: FakeClock) -> Iterator[Opener]:
    """replica(name): a store on the shared database with its own home and anchor file."""
    opened: list[AccountabilityStore] = []

    def open_replica(name: str) -> AccountabilityStore:
        store = AccountabilityStore.open(
            tmp_path / name / "home",
            clock=clock,
            hasher=CHEAP,
            key_file=tmp_path / "audit.key",  # one key, copied to every machine
            anchor_file=tmp_path / name / "anchor.jsonl",
            database_url=pg_url,
        )
        opened.append(store)
        return store

    yield open_replica
    for store in opened:
        store.close()


def anchored(store: AccountabilityStore) -> list[int]:
    path = store.audit._keyring.anchor.path
    return [int(line.split('"seq":')[1].split(",")[0]) for line in path.read_text().splitlines()]


def test_two_replicas_appending_alternately_each_verify_with_their_own_anchor(replica, clock):
    a, b = replica("a"), replica("b")
    for i in range(6):
        clock.advance(seconds=1)
        (a if i % 2 == 0 else b).audit.append(actor="x", action=Action.INGEST, payload={"i": i})
    assert a.audit.head().seq == b.audit.head().seq == 6
    assert anchored(a) == [0, 1, 3, 5] and anchored(b) == [1, 2, 4, 6]  # start, then own heads
    for store in (a, b):
        report = store.verify()
        assert report.ok, report.summary()
        assert report.entries == 6
    # b's anchor is behind the head once a appends again: still accepted
    a.audit.append(actor="x", action=Action.INGEST)
    assert b.verify().ok and a.verify().ok


def test_a_replica_refuses_a_trail_cut_below_or_rewritten_at_its_anchor(replica, clock):
    a, b = replica("a"), replica("b")
    for i in range(4):
        (a if i < 3 else b).audit.append(actor="x", action=Action.INGEST, payload={"i": i})
    # b anchored entry 4; a anchored 1..3. Cut entry 4 off the shared trail:
    tamper(a, "DELETE FROM audit_mac WHERE seq = 4", "DELETE FROM audit_log WHERE seq = 4")
    tamper(a, "UPDATE audit_head SET seq = 3, hash = (SELECT hash FROM audit_log WHERE seq = 3)")
    assert a.verify().ok  # a's anchor (3) is not beyond the cut trail
    assert kinds(b.verify()) == [(BreakKind.TRUNCATED, 4, 4)]
    # Rewrite entry 3, a's last anchored head:
    tamper(a, """UPDATE audit_log SET payload = '{"i":99}' WHERE seq = 3""")
    found = {k for k, _, _ in kinds(a.verify())}
    assert BreakKind.EDITED in found


def test_sessions_decisions_and_lockouts_hold_across_replicas(replica, clock):
    a, b = replica("a"), replica("b")
    alice = a.accounts.add_user("alice", Role.INVESTIGATOR, PW, by=ROOT)
    bob = a.accounts.add_user("bob", Role.INVESTIGATOR, PW, by=ROOT)
    # a browser session made on one replica is accepted by the other, and ended there
    sid, csrf = a.accounts.create_session("alice")
    assert b.accounts.session_user(sid) == (alice, csrf)
    b.accounts.end_session(sid)
    with pytest.raises(AuthenticationError):
        a.accounts.session_user(sid)
    # the two-person rule: alice's verdict through a, bob's confirmation through b
    search = a.audit.append(
        actor="alice", action=Action.SEARCH, case="C-1", payload={"candidates": [{"face_id": 7}]}
    ).seq
    a.decisions.decide(alice, search, 7, "possible_match")
    with pytest.raises(PermissionDeniedError, match="two-person rule"):
        b.decisions.decide(alice, search, 7, "possible_match")  # alice again, other replica
    assert b.decisions.decide(bob, search, 7, "possible_match").status.value == "confirmed"
    assert a.decisions.state(search, 7).verified_by == ("alice", "bob")
    # failed logins counted through one replica lock the name on the other
    for _ in range(a.accounts.policy.max_failures):
        with pytest.raises(AuthenticationError):
            a.accounts.check_password("bob", "wrong", client="10.0.0.1")
    with pytest.raises(AuthenticationError, match="too many"):
        b.accounts.check_password("bob", PW, client="10.0.0.1")
    assert [lock.name for lock in b.accounts.lockouts()] == ["bob"]
    assert a.verify().ok and b.verify().ok


def test_a_dropped_connection_is_reopened_at_the_next_transaction(replica, pg_url: str):
    a = replica("a")
    a.audit.append(actor="x", action=Action.INGEST)
    with psycopg.connect(pg_url, autocommit=True) as admin:
        killed = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    assert killed == [(True,)]
    a.audit.append(actor="x", action=Action.INGEST)  # a new connection, same schema
    assert a.audit.head().seq == 2 and a.verify().ok


_APPENDER = """
import sys
from pathlib import Path
from argon2 import PasswordHasher
from facesearch.accountability import AccountabilityStore, Action
url, base, name = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
with AccountabilityStore.open(base / name, hasher=PasswordHasher(1, 8, 1),
        key_file=base / "audit.key", anchor_file=base / f"{name}.jsonl",
        database_url=url) as store:
    for i in range(200):
        store.audit.append(actor=name, action=Action.INGEST, payload={"i": i})
"""


def test_two_processes_appending_at_once_make_one_chain(pg_url: str, tmp_path: Path):
    with AccountabilityStore.open(  # the schema and the key exist before the race starts
        tmp_path / "setup", hasher=CHEAP, key_file=tmp_path / "audit.key", database_url=pg_url
    ):
        pass
    procs = [
        subprocess.Popen([sys.executable, "-c", _APPENDER, pg_url, str(tmp_path), name])
        for name in ("p1", "p2")
    ]
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    for name in ("p1", "p2"):
        with AccountabilityStore.open(
            tmp_path / name,
            hasher=CHEAP,
            key_file=tmp_path / "audit.key",
            anchor_file=tmp_path / f"{name}.jsonl",
            database_url=pg_url,
        ) as store:
            report = store.verify()
            assert report.ok, report.summary()
            assert report.entries == report.head.seq == 400
            actors = [e.actor for e in store.audit.entries(limit=None)]
            assert actors.count("p1") == actors.count("p2") == 200


def test_the_store_lives_in_its_own_schema(pg_url: str, replica):
    replica("a")
    with psycopg.connect(pg_url) as conn:
        tables = {
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                (PG_SCHEMA,),
            )
        }
    assert {"audit_log", "audit_mac", "users", "sessions", "probes", "decisions"} <= tables


def test_ended_and_expired_sessions_are_vacuumed_out_of_the_table(replica, clock):
    """PostgreSQL has no secure_delete: the store VACUUMs ``sessions`` after deleting some."""
    a = replica("a")
    a.accounts.add_user("alice", Role.INVESTIGATOR, PW, by=ROOT)
    ended, _ = a.accounts.create_session("alice")
    expired, _ = a.accounts.create_session("alice")
    live, _ = a.accounts.create_session("alice")
    digest = {s: hashlib.sha256(s.encode()).hexdigest().encode() for s in (ended, expired, live)}
    a.accounts.end_session(ended)
    clock.advance(minutes=a.accounts.policy.session_idle.total_seconds() / 60 - 1)
    a.accounts.session_user(live)  # refreshed; the other one idles out
    clock.advance(minutes=2)
    with pytest.raises(AuthenticationError):
        a.accounts.session_user(expired)
    pages = pages_of(a, "sessions")
    assert digest[live] in pages
    assert digest[ended] not in pages and digest[expired] not in pages


def test_a_home_with_decisions_copies_verbatim_into_postgresql(tmp_path: Path, pg_url: str):
    """``facesearch migrate`` copies the SQLite rows as they are (sqlstore.copy_store): a
    decision's face id, an integer or a string there, lands in the JSONB column as one."""
    import sqlite3

    from facesearch.accountability.db import LOCK_KEY
    from facesearch.sqlstore.copy import copy_store
    from facesearch.sqlstore.pg import PgConnection

    key = tmp_path / "audit.key"
    opened = {"hasher": CHEAP, "key_file": key}
    with AccountabilityStore.open(tmp_path / "home", anchor_file=tmp_path / "a", **opened) as s:
        alice = s.accounts.add_user("alice", Role.INVESTIGATOR, PW, by=ROOT)
        candidates = [{"face_id": 7}, {"face_id": "7"}]
        search = s.audit.append(
            actor="alice", action=Action.SEARCH, payload={"candidates": candidates}
        ).seq
        s.decisions.decide(alice, search, 7, "possible_match")
        s.decisions.decide(alice, search, "7", "rejected")
    with AccountabilityStore.open(tmp_path / "b", database_url=pg_url, **opened):
        pass  # the schema, migrated
    source = sqlite3.connect(tmp_path / "home" / "accountability.sqlite")
    target = PgConnection(pg_url, PG_SCHEMA, LOCK_KEY)
    target.execute("BEGIN IMMEDIATE")
    copy_store(source, target)
    target.execute("COMMIT")
    source.close()
    target.close()
    anchor = tmp_path / "a"  # the trail, its head and MACs came along verbatim
    with AccountabilityStore.open(
        tmp_path / "b", anchor_file=anchor, database_url=pg_url, **opened
    ) as s:
        assert [c.face_id for c in s.decisions.states(search)] == [7, "7"]
        assert s.decisions.state(search, "7").status.value == "rejected"
        assert s.verify().ok


# Every column and expression index of the store that holds personal data or a secret, as
# pg_stats names them; the test's own list, so that a column dropped from the migration shows.
PERSONAL = {
    ("users", "name"),
    ("users", "password_hash"),
    ("users_name_nocase", "lower"),  # the index on lower(name)
    ("login_failures", "name_key"),
    ("login_failures", "client"),
    ("login_locks", "name_key"),
    ("login_locks", "client"),
    ("sessions", "digest"),
    ("sessions", "csrf_token"),
    ("api_tokens", "digest"),
    ("audit_log", "actor"),
    ("audit_log", "case_number"),
    ("audit_log", "purpose"),
    ("audit_log", "payload"),
    ("audit_log_probe", "expr"),  # the index of searches by their probe's SHA-256
    ("probes", "sha256"),
    ("probes", "data"),
    ("cases", "number"),
    ("cases", "title"),
    ("cases", "legal_basis"),
    ("cases", "opened_by"),
    ("cases", "closed_by"),
    ("case_members", "added_by"),
    ("organisations", "created_by"),
    ("collection_grants", "granted_by"),
}
_SAMPLED = """SELECT tablename, attname FROM pg_stats WHERE schemaname = %s
    AND (most_common_vals IS NOT NULL OR histogram_bounds IS NOT NULL)"""
_SHOWN = """SELECT tablename || '.' || attname FROM pg_stats WHERE schemaname = %s
    AND position(%s IN concat(most_common_vals::text, histogram_bounds::text)) > 0"""


def stats(url: str, query: str, *params: object, analyze: bool = True) -> list[tuple[Any, ...]]:
    """ANALYZE the tables of the store's schema (unless not ``analyze``), then ``query`` (its
    first parameter: the schema)."""
    with psycopg.connect(url, autocommit=True) as conn:
        tables = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = %s", (PG_SCHEMA,))
        for (table,) in tables.fetchall() if analyze else ():
            conn.execute(f"ANALYZE {PG_SCHEMA}.{table}")
        return list(conn.execute(query, (PG_SCHEMA, *params)).fetchall())


def shown(url: str, seen: dict[str, str]) -> dict[str, list[str]]:
    """Where pg_stats shows each of ``seen``'s values (without a new ANALYZE), if anywhere."""
    where = {k: [r[0] for r in stats(url, _SHOWN, v, analyze=False)] for k, v in seen.items()}
    return {k: tables for k, tables in where.items() if tables}


def fill_with_personal_data(store: AccountabilityStore) -> dict[str, str]:
    """Two values (ANALYZE keeps values seen once only when another differs) of every column
    in ``PERSONAL``, written through the store; some of them, recognisable, by what they are."""
    seen = {
        "name": "zelda.quarry",
        "address": "203.0.113.77",
        "case": "CASE-4711",
        "purpose": "tracing Zelda's sister",
        "file": "zelda-on-the-beach.jpg",
        "probe": b"probe photo of zelda".hex(),
        "probe_sha256": hashlib.sha256(b"probe photo of zelda").hexdigest(),
    }
    people = {"zelda.quarry": "yorick.umber", "yorick.umber": "zelda.quarry"}
    for name in people:
        store.accounts.add_user(name, Role.ADMIN, PW, by=ROOT)
    for (name, other), address, case in zip(
        people.items(), ("203.0.113.77", "198.51.100.23"), ("CASE-4711", "CASE-0815"), strict=True
    ):
        me = local_actor(name)
        store.accounts.create_session(name)
        store.accounts.issue_token(name, by=ROOT)
        for _ in range(store.accounts.policy.max_failures):  # a lock from this address
            with pytest.raises(AuthenticationError):
                store.accounts.check_password(name, "wrong", client=address)
        with pytest.raises(AuthenticationError):  # a failure from another
            store.accounts.check_password(other, "wrong", client=address)
        probe = store.probes.keep(f"probe photo of {name.split('.')[0]}".encode(), retention_days=9)
        store.cases.open(case, f"{name} missing", legal_basis=f"warrant for {name}", by=me)
        store.cases.add_member(case, other, by=me)
        store.audit.append(
            actor=name,
            action=Action.SEARCH,
            case=case,
            purpose=f"tracing {name.split('.')[0].title()}'s sister",
            payload={"probe_sha256": probe, "file": f"{name.split('.')[0]}-on-the-beach.jpg"},
        )
        store.cases.close(case, by=me)
        store.orgs.add(f"org-{case.lower()}", by=me)
        store.orgs.grant(f"photos-{case.lower()}", f"org-{case.lower()}", by=me)
    return seen


def test_column_statistics_never_show_personal_data(pg_url: str, tmp_path: Path):
    """pg_stats shows sampled values to anyone who can read the column, and keeps them after
    the rows are gone: ANALYZE samples no column of the store that holds personal data."""
    with AccountabilityStore.open(tmp_path, hasher=CHEAP, database_url=pg_url) as store:
        seen = fill_with_personal_data(store)
        sampled = set(stats(pg_url, _SAMPLED))
        assert sampled & PERSONAL == set()
        assert {("audit_log", "action"), ("audit_log", "time")} <= sampled  # ANALYZE ran
        assert shown(pg_url, seen) == {}


def test_an_older_store_loses_its_column_statistics_of_personal_data(
    pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """A store ANALYZEd at version 7 showed every personal column in pg_stats, and an erased
    probe stayed there; migration 8 drops those statistics. (Version 7's rows are written by
    today's code, which writes the same ones.)"""
    from facesearch.accountability import db

    monkeypatch.setattr(db, "SCHEMA_VERSION", 7)  # the last version whose columns were sampled
    with AccountabilityStore.open(tmp_path, hasher=CHEAP, database_url=pg_url) as old:
        with old.db.write() as conn:  # today's code writes version 9's column: lent for a while
            conn.execute("ALTER TABLE users ADD COLUMN password_temporary INTEGER DEFAULT 0")
        seen = fill_with_personal_data(old)
        assert set(stats(pg_url, _SAMPLED)) >= PERSONAL
        assert shown(pg_url, seen).keys() == seen.keys()
        old.probes.erase([seen["probe_sha256"]], then=lambda: None)
        assert shown(pg_url, {"probe": seen["probe"]}) == {"probe": ["probes.data"]}  # erased
        with old.db.write() as conn:
            conn.execute("ALTER TABLE users DROP COLUMN password_temporary")
    monkeypatch.undo()
    with AccountabilityStore.open(tmp_path, hasher=CHEAP, database_url=pg_url) as store:
        assert set(stats(pg_url, _SAMPLED, analyze=False)) & PERSONAL == set()  # dropped
        sampled = set(stats(pg_url, _SAMPLED))
        assert sampled & PERSONAL == set() and ("audit_log", "time") in sampled
        assert shown(pg_url, seen) == {}
        with store.db.read() as conn:
            assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
