"""The check of the hash chain: every edit, deletion, insertion, move or cut made in the file is
named by seq."""

from __future__ import annotations

import pytest
from accountability_helpers import FakeClock, fill, insert_entry, kinds, tamper

from facesearch.accountability import (
    GENESIS_HASH,
    AccountabilityStore,
    AuditEnvelope,
    AuditHead,
    BreakKind,
    entry_hash,
)

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
    when = "2025-03-01T10:00:00.000000+00:00"
    forged = AuditEnvelope(4, when, "x", "login", None, None, {}, head.hash, "(platform)")
    tamper(store, insert_entry(forged))
    assert kinds(store.verify()) == [(BreakKind.INSERTED, 4, 4)]


@pytest.mark.parametrize("org", ["'default'", "NULL"])
def test_verify_names_an_entry_moved_to_another_org(store, clock, org):
    """An entry's org is hashed once it has one: moving it to another organisation, or making
    it look like an entry from before organisations (NULL), breaks its hash."""
    fill(store, clock, 4)
    assert store.audit.get(2).org == "(platform)"
    tamper(store, f"UPDATE audit_log SET org = {org} WHERE seq = 2")
    assert (BreakKind.EDITED, 2, 2) in kinds(store.verify())


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
            e.org,
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
            e.org,
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
        insert_entry(
            AuditEnvelope(
                4, "2025-03-01T09:30:03.500000+00:00", "x", "login", None, None, {}, "ab"
            ),
            digest="cd",
        ),
    )
    report = store.verify()
    assert (BreakKind.EDITED, 4, 4) in kinds(report)
    assert (BreakKind.REORDERED, 5, 5) in kinds(report)  # old entry 4, moved up by one
    assert (BreakKind.INSERTED, 7, 7) in kinds(report)  # one more entry than the head row knows
