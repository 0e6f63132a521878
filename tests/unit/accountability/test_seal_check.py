"""The keyed chain and the anchor file (issue 7, item 7): MACs made with a key outside the home,
and the anchor file that catches an appended, rewritten or truncated chain without a written-
down head."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from accountability_helpers import (
    CHEAP,
    FakeClock,
    insert_entry,
    kinds,
    old_home,
    open_store,
    raw,
    tamper,
)

import facesearch.accountability as acc
from facesearch.accountability import (
    FILENAME,
    AccountabilityStore,
    AccountPolicy,
    Action,
    AuditEnvelope,
    AuditHead,
    BreakKind,
    entry_hash,
)
from facesearch.accountability.db import Database
from facesearch.accountability.keying import Keyring


def forge_append(store: AccountabilityStore, action: str, payload: dict[str, object]) -> int:
    """Append a correctly hash-chained entry and move the head row, as the file allows."""
    head = store.audit.head()
    seq, when = head.seq + 1, "2025-03-01T10:00:00.000000+00:00"
    envelope = AuditEnvelope(seq, when, "inv2", action, "K-1", "forged", payload, head.hash)
    tamper(
        store,
        insert_entry(envelope),
        f"UPDATE audit_head SET seq = {seq}, hash = '{entry_hash(envelope)}'",
    )
    return seq


# --- what verify catches without a written-down head ------------------------------------------


def test_a_forged_entry_appended_with_a_correct_hash_chain_is_caught(keyed: AccountabilityStore):
    early = keyed.audit.get(3)
    seq = forge_append(keyed, "decision", {"verdict": "confirmed", "face_id": 7})
    report = keyed.verify()
    assert not report.ok
    assert (BreakKind.MAC, seq, seq) in kinds(report)
    beyond = (BreakKind.UNANCHORED, seq, seq)  # beyond the anchor's head
    if keyed.db.url:  # a shared trail: other replicas append beyond this one's anchor
        assert beyond in [(w.kind, w.first, w.last) for w in report.warnings]
    else:
        assert beyond in kinds(report)
    assert f"mac [{seq}]" in report.summary() and "forged" in report.summary()
    # an earlier written-down head does not make it pass either
    assert not keyed.verify(expected_head=AuditHead(early.seq, early.hash)).ok


def test_a_rewritten_entry_is_caught_even_with_the_chain_recomputed(keyed: AccountabilityStore):
    entries = keyed.audit.entries(limit=None)
    prev = entries[2].prev_hash
    statements = []
    for e in entries[2:]:  # rewrite entry 3 and re-chain everything after it, head row too
        payload = {"i": 99} if e.seq == 3 else dict(e.payload)
        when = e.time.isoformat(timespec="microseconds")
        digest = entry_hash(
            AuditEnvelope(e.seq, when, e.actor, e.action, e.case, e.purpose, payload, prev, e.org)
        )
        text = json.dumps(payload, separators=(",", ":"))
        statements.append(
            f"UPDATE audit_log SET payload = '{text}', prev_hash = '{prev}', hash = '{digest}' "
            f"WHERE seq = {e.seq}"
        )
        prev = digest
    statements.append(f"UPDATE audit_head SET hash = '{prev}'")
    tamper(keyed, *statements)
    report = keyed.verify()
    assert [k for k in kinds(report) if k[0] is BreakKind.MAC] == [
        (BreakKind.MAC, seq, seq) for seq in range(3, 7)
    ]
    assert "entry 3's MAC does not match the audit key" in report.summary()


def test_a_new_home_verifies_before_its_first_entry_made_the_key(paths, clock: FakeClock):
    """The key is made with the first entry: an empty trail needs none (a keyed trail whose
    key is gone is refused at open, ``test_keying.py``)."""
    with open_store(paths, clock) as s:
        assert not paths["key_file"].exists()
        report = s.verify()
        assert report.ok, report.summary()
        s.audit.append(actor="a", action=Action.LOGIN)
        assert paths["key_file"].exists() and s.verify().ok


def test_a_truncated_chain_is_caught_through_the_anchor(keyed: AccountabilityStore):
    five = keyed.audit.get(4)
    tamper(
        keyed,
        "DELETE FROM audit_log WHERE seq > 4",
        "DELETE FROM audit_mac WHERE seq > 4",
        f"UPDATE audit_head SET seq = 4, hash = '{five.hash}'",
    )
    report = keyed.verify()
    assert kinds(report) == [(BreakKind.TRUNCATED, 5, 6)]
    assert "anchor" in report.breaks[0].detail


def test_a_cut_tail_stays_caught_after_as_many_entries_are_appended(keyed: AccountabilityStore):
    """The anchor file's last head was all verify compared: once facesearch had appended as
    many entries as were cut, the file's last head matched the new chain, and the cut (of
    erasures, say) passed as intact."""
    four = keyed.audit.get(4)
    tamper(
        keyed,
        "DELETE FROM audit_log WHERE seq > 4",
        "DELETE FROM audit_mac WHERE seq > 4",
        f"UPDATE audit_head SET seq = 4, hash = '{four.hash}'",
    )
    for i in range(2):
        keyed.audit.append(actor="a", action=Action.LOGIN, payload={"after": i})
    report = keyed.verify()
    assert kinds(report) == [(BreakKind.TRUNCATED, 5, 6)]
    assert "written again" in report.breaks[0].detail


def test_a_payload_naming_a_key_twice_is_an_edit(keyed: AccountabilityStore):
    """The hash covers the payload as Python reads it (the last of two equal keys), while
    the checks in SQL read the first: a disabled account re-enabled in the file, its
    ``user_disable`` entry given a first "name" of nobody, passed verify."""
    seq = keyed.audit.append(actor="a", action=Action.LOGIN, payload={"name": "inv1"}).seq
    tamper(
        keyed,
        'UPDATE audit_log SET payload = \'{"name":"nobody",\' || substr(payload, 2) '
        f"WHERE seq = {seq}",
    )
    assert kinds(keyed.verify()) == [(BreakKind.EDITED, seq, seq)]


def test_a_payload_rewritten_to_read_otherwise_in_sql_is_an_edit(keyed: AccountabilityStore):
    """A key written with an escape ("n\\u0061me") parses alike in Python, so hash and MAC
    held, but SQLite's json_extract does not decode it: the account check then missed the
    ``user_disable`` entry, and a re-enabled account passed verify."""
    seq = keyed.audit.append(actor="a", action=Action.LOGIN, payload={"name": "inv1"}).seq
    tamper(
        keyed,
        f'UPDATE audit_log SET payload = \'{{"n\\u0061me":"inv1"}}\' WHERE seq = {seq}',
    )
    assert "\\u0061" in raw(keyed, f"SELECT payload FROM audit_log WHERE seq = {seq}")[0][0]
    assert kinds(keyed.verify()) == [(BreakKind.EDITED, seq, seq)]


def test_a_payload_that_is_not_json_is_named_not_a_crash(keyed: AccountabilityStore):
    """``audit verify`` stopped with "malformed JSON" (rc 2), naming no entry, when a
    payload was edited into text that is not JSON: the SQL checks of the accounts read it."""
    from accountability_helpers import PW, ROOT

    from facesearch.accountability import Role

    keyed.accounts.add_user("ivo", Role.INVESTIGATOR, PW, by=ROOT)
    keyed.accounts.disable_user("ivo", by=ROOT)
    seq = keyed.audit.head().seq
    tamper(keyed, f"UPDATE audit_log SET payload = 'xyz' WHERE seq = {seq}")
    report = keyed.verify()
    assert not report.ok and (BreakKind.EDITED, seq, seq) in kinds(report)


def test_an_older_copy_of_the_file_put_back_is_caught(paths, clock: FakeClock, tmp_path: Path):
    with open_store(paths, clock) as s:
        for i in range(3):
            s.audit.append(actor="a", action=Action.LOGIN, payload={"i": i})
        s.db.checkpoint()
    backup = tmp_path / "backup.sqlite"
    shutil.copy(paths["home"] / FILENAME, backup)
    with open_store(paths, clock) as s:
        s.audit.append(actor="a", action=Action.LOGOUT)
        s.db.checkpoint()
    for suffix in ("-wal", "-shm"):
        (paths["home"] / (FILENAME + suffix)).unlink(missing_ok=True)
    shutil.copy(backup, paths["home"] / FILENAME)
    with open_store(paths, clock) as s:
        assert kinds(s.verify()) == [(BreakKind.TRUNCATED, 4, 4)]


def test_a_key_replaced_after_open_is_still_named_by_verify(paths, keyed: AccountabilityStore):
    """The MAC check in verify still names a key that does not match (a key file swapped
    under a store opened with the right one)."""
    keyed.close()
    other = paths["key_file"].with_name("swapped.key")
    fd = os.open(other, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, os.urandom(32))
    os.close(fd)
    url = keyed.db.url
    db = (
        Database.open_postgres(url, paths["home"] / FILENAME)
        if url
        else Database.open(paths["home"] / FILENAME)
    )
    # opened without open()'s check of the key, as if the file was swapped after it
    with AccountabilityStore(db, AccountPolicy(), CHEAP, Keyring(other, paths["anchor_file"])) as s:
        report = s.verify()
        assert kinds(report) == [(BreakKind.KEY, None, None)]
        assert "not the key this trail was written with" in report.summary()


# --- the anchor file --------------------------------------------------------------------------


def test_a_deleted_anchor_fails_verify_unless_acknowledged(paths, keyed):
    paths["anchor_file"].unlink()
    report = keyed.verify()
    if keyed.db.url:  # a shared trail: a replica's anchor may be missing or start late
        assert report.ok and "WARNING anchor-lost [-]" in report.summary()
        keyed.audit.append(actor="a", action=Action.LOGIN)  # starts a new anchor at entry 6
        report = keyed.verify()
        assert report.ok and "WARNING anchor-lost [1..6]" in report.summary()
        return
    assert kinds(report) == [(BreakKind.ANCHOR_LOST, None, None)]
    assert "is missing" in report.summary()
    acknowledged = keyed.verify(anchor_lost=True)
    assert acknowledged.ok and "WARNING anchor-lost" in acknowledged.summary()
    keyed.audit.append(actor="a", action=Action.LOGIN)  # starts a new anchor at entry 6
    assert kinds(keyed.verify()) == [(BreakKind.ANCHOR_LOST, 1, 6)]
    assert keyed.verify(anchor_lost=True).ok


def test_the_anchor_holds_a_start_record_and_one_head_per_transaction(paths, keyed):
    lines = [json.loads(x) for x in paths["anchor_file"].read_text().splitlines()]
    assert lines[0]["start"] is True and lines[0]["seq"] == 0 and lines[0]["keyed_from"] == 1
    assert [x["seq"] for x in lines[1:]] == [1, 2, 3, 4, 5, 6]
    assert lines[-1]["hash"] == keyed.audit.head().hash
    assert lines[-1]["mac"] == keyed.audit.get(6).mac


def test_a_rolled_back_transaction_anchors_nothing(paths, keyed):
    before = paths["anchor_file"].read_text()
    with pytest.raises(RuntimeError), keyed.db.write():
        keyed.audit.append(actor="a", action=Action.LOGIN)
        raise RuntimeError("boom")
    assert paths["anchor_file"].read_text() == before
    assert keyed.verify().ok


_APPENDER = """
import sys
from pathlib import Path
from argon2 import PasswordHasher
from facesearch.accountability import AccountabilityStore, Action
home, key, anchor, name = sys.argv[1:5]
with AccountabilityStore.open(Path(home), hasher=PasswordHasher(1, 8, 1), key_file=Path(key),
                              anchor_file=Path(anchor)) as s:
    for i in range(40):
        s.audit.append(actor=name, action=Action.SEARCH, payload={"i": i})
"""


def test_two_processes_appending_keep_chain_and_anchor_consistent(paths):
    src = Path(acc.__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(src)}
    args = [str(paths[k]) for k in ("home", "key_file", "anchor_file")]
    procs = [
        subprocess.Popen([sys.executable, "-c", _APPENDER, *args, f"p{i}"], env=env)
        for i in range(3)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]
    with open_store(paths) as s:
        report = s.verify()
        assert report.ok, report.summary()
        assert report.entries == 120
    lines = [json.loads(x) for x in paths["anchor_file"].read_text().splitlines()]
    assert sum(1 for x in lines if x.get("start")) == 1
    assert sorted(x["seq"] for x in lines[1:]) == list(range(1, 121))


# --- a trail written before keys existed ------------------------------------------------------


def legacy_home(home: Path, n: int) -> list[str]:
    """A schema-2 file (before keys) holding n hash-chained entries; returns their hashes."""
    conn = old_home(home, 2)
    prev, hashes = "0" * 64, []
    for seq in range(1, n + 1):
        when = f"2024-01-01T00:00:0{seq}.000000+00:00"
        digest = entry_hash(AuditEnvelope(seq, when, "old", "login", None, None, {}, prev))
        conn.execute(
            "INSERT INTO audit_log VALUES (?, ?, 'old', 'login', NULL, NULL, '{}', ?, ?)",
            (seq, when, prev, digest),
        )
        prev = digest
        hashes.append(digest)
    conn.execute("UPDATE audit_head SET seq = ?, hash = ?", (n, prev))
    conn.commit()
    conn.close()
    return hashes


def test_a_trail_from_before_keys_is_kept_and_keyed_from_the_next_entry(paths):
    hashes = legacy_home(paths["home"], 4)
    with open_store(paths) as s:
        old = s.audit.entries(limit=None)
        assert [e.hash for e in old[:4]] == hashes  # nothing re-keyed or rewritten
        assert [e.mac for e in old[:4]] == [None] * 4
        marker = old[4]
        assert marker.seq == 5 and marker.action == "audit_keyed" and marker.mac
        assert marker.payload["legacy_head"] == {"seq": 4, "hash": hashes[-1]}
        report = s.verify()
        assert report.ok, report.summary()
        assert [(w.kind, w.first, w.last) for w in report.warnings] == [(BreakKind.UNKEYED, 1, 4)]
        s.audit.append(actor="a", action=Action.LOGIN)
    start = json.loads(paths["anchor_file"].read_text().splitlines()[0])
    assert (start["seq"], start["hash"], start["keyed_from"]) == (4, hashes[-1], 5)
    with open_store(paths) as s:  # opening again adds nothing
        assert s.audit.head().seq == 6
        tamper(s, "UPDATE audit_log SET actor = 'someone' WHERE seq = 2")
        assert kinds(s.verify()) == [(BreakKind.EDITED, 2, 2)]


def test_stripping_the_keys_to_pass_for_an_old_trail_is_caught(paths, keyed):
    tamper(
        keyed,
        "DELETE FROM audit_mac",
        "UPDATE audit_keying SET keyed_from = 7, key_id = NULL",
    )
    report = keyed.verify()
    assert not report.ok
    assert BreakKind.KEY in {b.kind for b in report.breaks}


def test_a_deleted_keying_record_is_named_not_a_crash(keyed):
    tamper(keyed, "DELETE FROM audit_keying")
    assert kinds(keyed.verify()) == [(BreakKind.KEY, None, None)]
