"""The audit trail: entries appended and chained, their input checked, appends that never fork the
chain, reading them back."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import threading
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from accountability_helpers import CHEAP, T0, FakeClock, connect, fill

import facesearch.accountability as acc
from facesearch.accountability import (
    AccountabilityStore,
    Action,
)
from facesearch.errors import InputError, NotFoundError


def test_append_validates_its_input(store: AccountabilityStore):
    with pytest.raises(InputError, match="embeddings"):
        store.audit.append(actor="a", action=Action.SEARCH, payload={"e": [0.1] * 128})
    with pytest.raises(InputError, match="bytes"):
        store.audit.append(actor="a", action=Action.SEARCH, payload={"img": b"\xff\xd8"})
    with pytest.raises(InputError, match=r"payload\.faces\[1\]\.e is a list of 128 floats"):
        store.audit.append(
            actor="a", action=Action.SEARCH, payload={"faces": [{}, {"e": [0.1] * 128}]}
        )
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
    conn = connect(store)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE audit_log SET actor = 'x' WHERE seq = 1")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM audit_log WHERE seq = 2")
    conn.close()


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


def test_a_search_and_an_erasure_are_logged_with_their_payloads(store: AccountabilityStore):
    """What the application layer does: ``store.audit.append`` with the record's payload."""
    candidates = [{"face_id": 17, "score": 0.612346}, {"face_id": "f-9", "score": 0.5}]
    payload = {"probe_sha256": "ab" * 32, "parameters": {"top": 5}, "candidates": candidates}
    e = store.audit.append(
        actor="inv", action=Action.SEARCH, case="K-1", purpose="robbery", payload=payload
    )
    assert e.action == "search" and e.case == "K-1" and e.payload == payload
    assert store.audit.get(e.seq) == e
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
