"""The audit trail: the hash chain, tamper detection, filters, export, probes, the schema."""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import os
import sqlite3
import stat
import subprocess
import sys
import threading
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from accountability_helpers import CHEAP, T0, FakeClock, kinds, tamper

import facesearch.accountability as acc
from facesearch.accountability import (
    FILENAME,
    GENESIS_HASH,
    SCHEMA_VERSION,
    AccountabilityStore,
    Action,
    AuditEnvelope,
    AuditHead,
    BreakKind,
    Candidate,
    SearchRecord,
    entry_hash,
)
from facesearch.errors import CatalogError, InputError, NotFoundError


def fill(store: AccountabilityStore, clock: FakeClock, n: int) -> None:
    for i in range(n):
        clock.advance(seconds=1)
        store.audit.append(
            actor=f"user{i % 3}",
            action=Action.INGEST,
            case=f"C-{i % 2}",
            purpose="test",
            payload={"i": i},
        )


# --- the chain --------------------------------------------------------------------------------


def test_entries_chain_with_the_documented_hash(store: AccountabilityStore, clock: FakeClock):
    fill(store, clock, 3)
    entries = store.audit.entries()
    assert [e.seq for e in entries] == [1, 2, 3]
    assert entries[0].prev_hash == GENESIS_HASH == "0" * 64
    for before, after in itertools.pairwise(entries):
        assert after.prev_hash == before.hash
    e = entries[1]
    # Recomputed here from the format in the module docstring, not with the library's helper.
    envelope = {
        "seq": 2,
        "time": "2025-03-01T09:30:02.000000+00:00",
        "actor": "user1",
        "action": "ingest",
        "case": "C-1",
        "purpose": "test",
        "payload": {"i": 1},
        "prev_hash": entries[0].hash,
    }
    text = json.dumps(envelope, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert e.hash == hashlib.sha256(text.encode()).hexdigest()
    assert e.time == T0 + timedelta(seconds=2)
    assert store.audit.head() == AuditHead(3, entries[2].hash)


def test_append_validates_its_input(store: AccountabilityStore):
    with pytest.raises(InputError, match="embeddings"):
        store.audit.append(actor="a", action=Action.SEARCH, payload={"e": [0.1] * 128})
    with pytest.raises(InputError, match="bytes"):
        store.audit.append(actor="a", action=Action.SEARCH, payload={"img": b"\xff\xd8"})
    with pytest.raises(InputError, match="JSON"):
        store.audit.append(actor="a", action=Action.SEARCH, payload={"x": float("nan")})
    with pytest.raises(InputError, match="line breaks"):
        store.audit.append(actor="a", action=Action.SEARCH, case="A\nB")
    with pytest.raises(InputError, match="actor"):
        store.audit.append(actor=" ", action=Action.SEARCH)
    with pytest.raises(InputError, match="unknown audit action"):
        store.audit.append(actor="a", action="no-such-action")  # type: ignore[arg-type]
    assert store.audit.head().seq == 0  # nothing half-written
    store.audit.append(actor="a", action=Action.SEARCH, payload={"scores": [0.5] * 10})
    assert store.audit.head().seq == 1


def test_the_trail_is_append_only_through_sql(store: AccountabilityStore, clock: FakeClock):
    fill(store, clock, 2)
    conn = sqlite3.connect(store.path)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE audit_log SET actor = 'x' WHERE seq = 1")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM audit_log WHERE seq = 2")
    conn.close()


# --- verify -----------------------------------------------------------------------------------


def test_intact_trail_verifies(store: AccountabilityStore, clock: FakeClock):
    report = store.verify()
    assert report.ok and report.entries == 0 and report.head == AuditHead(0, GENESIS_HASH)
    fill(store, clock, 20)
    report = store.verify(expected_head=store.audit.head())
    assert report.ok, report.summary()
    assert report.entries == 20
    assert "intact" in report.summary()


def test_verify_names_an_edited_payload(store: AccountabilityStore, clock: FakeClock):
    fill(store, clock, 10)
    tamper(store, """UPDATE audit_log SET payload = '{"i":999}' WHERE seq = 4""")
    report = store.verify()
    assert kinds(report) == [(BreakKind.EDITED, 4, 4)]
    assert "BROKEN" in report.summary()


@pytest.mark.parametrize(
    "column, value",
    [
        ("actor", "'mallory'"),
        ("time", "'2020-01-01T00:00:00.000000+00:00'"),
        ("case_number", "NULL"),
    ],
)
def test_verify_names_any_edited_field(store, clock, column, value):
    fill(store, clock, 5)
    tamper(store, f"UPDATE audit_log SET {column} = {value} WHERE seq = 2")
    assert kinds(store.verify()) == [(BreakKind.EDITED, 2, 2)]


def test_verify_names_a_deleted_entry(store: AccountabilityStore, clock: FakeClock):
    fill(store, clock, 10)
    tamper(store, "DELETE FROM audit_log WHERE seq = 5")
    assert kinds(store.verify()) == [(BreakKind.DELETED, 5, 5)]
    tamper(store, "DELETE FROM audit_log WHERE seq IN (1, 2)")
    assert kinds(store.verify()) == [(BreakKind.DELETED, 1, 2), (BreakKind.DELETED, 5, 5)]


def test_verify_names_two_swapped_entries(store: AccountabilityStore, clock: FakeClock):
    fill(store, clock, 10)
    tamper(
        store,
        "UPDATE audit_log SET seq = -1 WHERE seq = 3",
        "UPDATE audit_log SET seq = 3 WHERE seq = 7",
        "UPDATE audit_log SET seq = 7 WHERE seq = -1",
    )
    report = store.verify()
    assert kinds(report) == [(BreakKind.REORDERED, 3, 3), (BreakKind.REORDERED, 7, 7)]
    assert "written as entry 7" in str(report.breaks[0])
    assert "written as entry 3" in str(report.breaks[1])


def test_verify_names_an_entry_moved_before_the_first(store, clock):
    fill(store, clock, 4)
    tamper(store, "UPDATE audit_log SET seq = 0 WHERE seq = 2")
    assert kinds(store.verify()) == [(BreakKind.INSERTED, 0, 0), (BreakKind.DELETED, 2, 2)]


def test_verify_names_swapped_neighbours_and_swapped_contents(store, clock):
    fill(store, clock, 6)
    cols = "time, actor, action, case_number, purpose, payload, prev_hash, hash"
    tamper(
        store,  # swap everything but seq between rows 2 and 3
        f"CREATE TEMP TABLE t AS SELECT seq, {cols} FROM audit_log WHERE seq IN (2, 3)",
        f"UPDATE audit_log SET ({cols}) = (SELECT {cols} FROM t WHERE t.seq = 5 - audit_log.seq) "
        "WHERE seq IN (2, 3)",
    )
    assert kinds(store.verify()) == [(BreakKind.REORDERED, 2, 2), (BreakKind.REORDERED, 3, 3)]


def test_verify_names_a_cut_off_tail_and_the_anchor_names_a_hidden_one(store, clock):
    fill(store, clock, 10)
    anchor = store.audit.head()
    tamper(store, "DELETE FROM audit_log WHERE seq = 10")
    assert kinds(store.verify()) == [(BreakKind.TRUNCATED, 10, 10)]
    # Fixing the head row too hides the cut from the file alone; the anchor file shows it
    # (issue 7: it used to pass), and so does a written-down head.
    nine = store.audit.get(9).hash
    tamper(store, f"UPDATE audit_head SET seq = 9, hash = '{nine}'")
    report = store.verify()
    assert kinds(report) == [(BreakKind.TRUNCATED, 10, 10)]
    assert "anchored entry 10" in report.breaks[0].detail
    assert kinds(store.verify(expected_head=anchor)) == [(BreakKind.ANCHOR, 10, 10)]


def test_verify_names_entries_appended_behind_its_back(store, clock):
    fill(store, clock, 3)
    head = store.audit.head()
    forged = entry_hash(
        AuditEnvelope(
            4, "2025-03-01T10:00:00.000000+00:00", "x", "login", None, None, {}, head.hash
        )
    )
    tamper(
        store,
        "INSERT INTO audit_log VALUES (4, '2025-03-01T10:00:00.000000+00:00', 'x', 'login', "
        f"NULL, NULL, '{{}}', '{head.hash}', '{forged}')",
    )
    assert kinds(store.verify()) == [(BreakKind.INSERTED, 4, 4)]


def test_verify_names_a_forged_entry_with_a_recomputed_hash(store, clock):
    fill(store, clock, 5)
    e = store.audit.get(3)
    new_hash = entry_hash(
        AuditEnvelope(
            3,
            "2025-03-01T09:30:03.000000+00:00",
            "user2",
            "ingest",
            "C-0",
            "test",
            {"i": 42},
            e.prev_hash,
        )
    )
    tamper(
        store, f"""UPDATE audit_log SET payload = '{{"i":42}}', hash = '{new_hash}' WHERE seq = 3"""
    )
    report = store.verify()
    # The recomputed hash hides the edit from the hash chain; its MAC cannot be recomputed.
    assert kinds(report) == [(BreakKind.MAC, 3, 3), (BreakKind.RELINKED, 4, 4)]
    assert "entry 4 does not chain from entry 3" in report.breaks[1].detail


def test_verify_names_a_forged_last_entry_and_an_edited_head(store, clock):
    fill(store, clock, 3)
    e = store.audit.get(3)
    new_hash = entry_hash(
        AuditEnvelope(
            3,
            "2025-03-01T09:30:03.000000+00:00",
            "user2",
            "ingest",
            "C-0",
            "test",
            {"i": 7},
            e.prev_hash,
        )
    )
    tamper(
        store, f"""UPDATE audit_log SET payload = '{{"i":7}}', hash = '{new_hash}' WHERE seq = 3"""
    )
    assert kinds(store.verify()) == [(BreakKind.HEAD, 3, 3)]
    tamper(store, "DELETE FROM audit_head")
    assert kinds(store.verify()) == [(BreakKind.HEAD, None, None), (BreakKind.MAC, 3, 3)]


def test_verify_names_an_entry_inserted_in_the_middle(store, clock):
    fill(store, clock, 6)
    tamper(
        store,
        "UPDATE audit_log SET seq = seq + 100 WHERE seq >= 4",
        "UPDATE audit_log SET seq = seq - 99 WHERE seq >= 100",
        "INSERT INTO audit_log VALUES (4, '2025-03-01T09:30:03.500000+00:00', 'x', 'login', "
        "NULL, NULL, '{}', 'ab', 'cd')",
    )
    report = store.verify()
    assert (BreakKind.EDITED, 4, 4) in kinds(report)
    assert (BreakKind.REORDERED, 5, 5) in kinds(report)  # old entry 4, moved up by one
    assert (BreakKind.INSERTED, 7, 7) in kinds(report)  # one more entry than the head row knows


def test_appends_from_two_threads_do_not_fork_the_chain(tmp_path: Path):
    stores = [AccountabilityStore.open(tmp_path, hasher=CHEAP) for _ in range(2)]
    errors: list[BaseException] = []

    def work(s: AccountabilityStore, name: str) -> None:
        try:
            for i in range(60):
                s.audit.append(actor=name, action=Action.SEARCH, payload={"i": i})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s, f"t{i}")) for i, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    report = stores[0].verify()
    assert report.ok, report.summary()
    assert report.entries == 120 and report.head.seq == 120
    for s in stores:
        s.close()


_APPENDER = """
import sys
from pathlib import Path
from argon2 import PasswordHasher
from facesearch.accountability import AccountabilityStore, Action
s = AccountabilityStore.open(Path(sys.argv[1]), hasher=PasswordHasher(1, 8, 1))
for i in range(40):
    s.audit.append(actor=sys.argv[2], action=Action.SEARCH, payload={"i": i})
"""


def test_appends_from_two_processes_do_not_fork_the_chain(tmp_path: Path):
    src = Path(acc.__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(src)}
    procs = [
        subprocess.Popen([sys.executable, "-c", _APPENDER, str(tmp_path), f"p{i}"], env=env)
        for i in range(2)
    ]
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    with AccountabilityStore.open(tmp_path, hasher=CHEAP) as s:
        report = s.verify()
        assert report.ok, report.summary()
        assert report.entries == 80
        assert {e.actor for e in s.audit.entries(limit=None)} == {"p0", "p1"}


# --- reading ----------------------------------------------------------------------------------


def test_entries_filters(store: AccountabilityStore, clock: FakeClock):
    fill(store, clock, 12)
    assert [e.seq for e in store.audit.entries(actor="user1")] == [2, 5, 8, 11]
    assert [e.seq for e in store.audit.entries(case="C-0", actor="user0")] == [1, 7]
    assert store.audit.entries(action=Action.SEARCH) == []
    assert len(store.audit.entries(action=Action.INGEST)) == 12
    since, until = T0 + timedelta(seconds=3), T0 + timedelta(seconds=6)
    assert [e.seq for e in store.audit.entries(since=since, until=until)] == [3, 4, 5]
    assert [e.seq for e in store.audit.entries(limit=3, offset=4)] == [5, 6, 7]
    assert len(store.audit.entries(limit=None)) == 12
    with pytest.raises(InputError):
        store.audit.entries(limit=-1)
    with pytest.raises(InputError, match="unknown audit action"):
        store.audit.entries(action="delete_everything")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="time zone"):
        store.audit.entries(since=datetime(2025, 1, 1))
    assert store.audit.get(4).payload == {"i": 3}
    with pytest.raises(NotFoundError):
        store.audit.get(99)


def test_export_jsonl_is_exact_and_logged(store: AccountabilityStore, clock: FakeClock):
    fill(store, clock, 4)
    out = io.StringIO()
    assert store.audit.export("jsonl", out, actor="auditor1", filter_case="C-1") == 2
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["seq"] for r in rows] == [2, 4]
    for r in rows:  # each exported line re-hashes to its hash
        fields = {k: r[k] for k in ("seq", "time", "actor", "action", "case", "purpose")}
        assert (
            entry_hash(AuditEnvelope(**fields, payload=r["payload"], prev_hash=r["prev_hash"]))
            == r["hash"]
        )
    logged = store.audit.entries(action=Action.EXPORT)
    assert len(logged) == 1 and logged[0].actor == "auditor1"
    assert logged[0].payload == {
        "format": "jsonl",
        "count": 2,
        "filters": {"actor": None, "action": None, "case": "C-1", "since": None, "until": None},
    }
    with pytest.raises(InputError):
        store.audit.export("xml", out, actor="auditor1")


def test_export_csv_defuses_formulas(store: AccountabilityStore):
    store.audit.append(actor="a", action=Action.SEARCH, case="=HYPERLINK(1)", purpose="+1 x")
    out = io.StringIO()
    store.audit.export("csv", out, actor="auditor1")
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert rows[0]["case"] == "'=HYPERLINK(1)" and rows[0]["purpose"] == "'+1 x"
    assert rows[0]["seq"] == "1" and json.loads(rows[0]["payload"]) == {}


def test_a_search_is_logged_as_its_record_payload(store: AccountabilityStore):
    """What the application layer does: ``store.audit.append`` with ``record.payload()``."""
    record = SearchRecord(
        started=T0,
        ended=T0 + timedelta(milliseconds=250),
        collections={"mugshots": 1000, "events": 20},
        probe_sha256="AB" * 32,
        parameters={"threshold": 0.4, "top_k": 5},
        candidates=[Candidate(17, 0.61234567), Candidate("f-9", 0.5)],
    )
    e = store.audit.append(
        actor="inv", action=Action.SEARCH, case="K-1", purpose="robbery", payload=record.payload()
    )
    assert e.action == "search" and e.case == "K-1"
    assert store.audit.get(e.seq) == e
    assert e.payload["started"] == "2025-03-01T09:30:00.000000+00:00"
    assert e.payload["ended"] == "2025-03-01T09:30:00.250000+00:00"
    assert e.payload["collections"] == [
        {"name": "mugshots", "size": 1000},
        {"name": "events", "size": 20},
    ]
    assert e.payload["probe_sha256"] == "ab" * 32
    assert e.payload["candidates"] == [
        {"face_id": 17, "score": 0.612346},
        {"face_id": "f-9", "score": 0.5},
    ]
    with pytest.raises(InputError, match="cannot end before it started"):
        SearchRecord(T0, T0 - timedelta(seconds=1), {}, "ab" * 32, {}).payload()
    erased = store.audit.append(
        actor="admin",
        action=Action.ERASE,
        purpose="court order 12/3",
        payload={"counts": {"faces": 3}, "removed": {"faces": [1, 2, 3]}},
    )
    assert store.audit.get(erased.seq).payload == {
        "counts": {"faces": 3},
        "removed": {"faces": [1, 2, 3]},
    }
    assert store.verify().ok


def test_audit_head_text_round_trip():
    head = AuditHead(42, "ab" * 32)
    assert AuditHead.parse(str(head)) == head
    with pytest.raises(InputError):
        AuditHead.parse("42")


# --- the file ---------------------------------------------------------------------------------


def test_schema_file_and_pragmas(store: AccountabilityStore, tmp_path: Path):
    path = tmp_path / FILENAME
    assert store.path == path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    with store._db.read() as own:  # the store's own connection
        assert own.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert own.execute("PRAGMA secure_delete").fetchone()[0] == 1


def test_reopen_keeps_data_and_refuses_newer_or_foreign_files(tmp_path: Path):
    with AccountabilityStore.open(tmp_path, hasher=CHEAP) as s:
        s.audit.append(actor="a", action=Action.LOGIN)
    with AccountabilityStore.open(tmp_path, hasher=CHEAP) as s:
        assert s.audit.head().seq == 1
    conn = sqlite3.connect(tmp_path / FILENAME)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(CatalogError, match="newer"):
        AccountabilityStore.open(tmp_path, hasher=CHEAP)
    other = tmp_path / "other"
    other.mkdir()
    (other / FILENAME).write_bytes(b"this is not a database, just text" * 100)
    with pytest.raises(CatalogError):
        AccountabilityStore.open(other, hasher=CHEAP)


def test_migrations_run_forward_from_an_empty_file(tmp_path: Path):
    sqlite3.connect(tmp_path / FILENAME).close()  # version 0, no tables
    with AccountabilityStore.open(tmp_path, hasher=CHEAP) as s:
        assert s.audit.head() == AuditHead(0, GENESIS_HASH)
        assert not s.accounts.has_users()


# --- probes -----------------------------------------------------------------------------------


def test_probes_are_kept_then_purged_from_the_file(store, clock, tmp_path: Path):
    image = os.urandom(20_000)  # spans overflow pages
    digest = store.probes.keep(image, retention_days=30)
    assert digest == hashlib.sha256(image).hexdigest()
    other = store.probes.keep(os.urandom(500), retention_days=90)
    search = store.audit.append(actor="inv", action=Action.SEARCH, payload={"probe": digest})
    assert store.probes.get(digest) == image
    assert store.probes.purge_expired() == 0
    clock.advance(days=31)
    with pytest.raises(NotFoundError):
        store.probes.get(digest)  # expired, even before the purge
    assert store.probes.purge_expired() == 1
    assert store.probes.get(other)  # still within its period
    assert store.audit.get(search.seq).payload == {"probe": digest}  # the entry stays
    purge = store.audit.entries(action=Action.PROBE_PURGE)
    assert purge[0].payload == {"count": 1, "sha256": [digest]}
    files = [tmp_path / FILENAME, tmp_path / (FILENAME + "-wal")]
    for f in files:
        if f.exists():
            raw = f.read_bytes()
            for start in range(0, len(image) - 64, 4000):
                assert image[start : start + 64] not in raw, f"probe bytes left in {f.name}"
    assert store.verify().ok


def test_keeping_a_probe_again_extends_never_shortens(store, clock):
    digest = store.probes.keep(b"abc", retention_days=10)
    store.probes.keep(b"abc", retention_days=2)
    assert store.probes.expires(digest) == T0 + timedelta(days=10)
    store.probes.keep(b"abc", retention_days=20)
    assert store.probes.expires(digest) == T0 + timedelta(days=20)
    with pytest.raises(InputError):
        store.probes.keep(b"abc", retention_days=0)
    with pytest.raises(InputError):
        store.probes.keep(b"", retention_days=1)
    assert store.probes.purge_expired(now=T0 + timedelta(days=21)) == 1


def test_the_package_exports_what_it_lists():
    assert len(acc.__all__) == len(set(acc.__all__))
    for name in acc.__all__:
        assert hasattr(acc, name), name
    public = {n for n in dir(acc) if not n.startswith("_")}
    modules = {n for n in public if type(getattr(acc, n)).__name__ == "module"}
    assert public - modules - set(acc.__all__) == set(), "exported but not in __all__"
