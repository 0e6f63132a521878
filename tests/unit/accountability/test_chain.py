"""The hash chain: an entry's documented hash and MAC, and the head written down by hand."""

from __future__ import annotations

import hashlib
import itertools
import json
from datetime import timedelta

import pytest
from accountability_helpers import T0, FakeClock, fill

from facesearch.accountability import (
    GENESIS_HASH,
    AccountabilityStore,
    AuditEnvelope,
    AuditHead,
    entry_hash,
)
from facesearch.errors import InputError

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
        "org": "(platform)",  # user1 is no account: the entry belongs to no organisation
    }
    text = json.dumps(envelope, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert e.hash == hashlib.sha256(text.encode()).hexdigest()
    assert e.time == T0 + timedelta(seconds=2)
    assert store.audit.head() == AuditHead(3, entries[2].hash)


def test_an_entry_without_org_hashes_as_before_organisations():
    """Entries written before organisations have no org and keep their hash: "org" is left
    out of the hashed fields, not hashed as null."""
    fields = {
        "seq": 1,
        "time": "2025-01-01T00:00:00.000000+00:00",
        "actor": "a",
        "action": "login",
        "case": None,
        "purpose": None,
        "payload": {},
        "prev_hash": GENESIS_HASH,
    }
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    legacy = AuditEnvelope(*fields.values())
    assert legacy.org is None
    assert entry_hash(legacy) == hashlib.sha256(text.encode()).hexdigest()
    assert entry_hash(AuditEnvelope(*fields.values(), "default")) != entry_hash(legacy)


def test_audit_head_text_round_trip():
    head = AuditHead(42, "ab" * 32)
    assert AuditHead.parse(str(head)) == head
    with pytest.raises(InputError):
        AuditHead.parse("42")


def test_entry_hash_and_mac_take_one_envelope():
    from dataclasses import FrozenInstanceError

    from facesearch.accountability import entry_mac

    env = AuditEnvelope(
        1, "2025-01-01T00:00:00.000000+00:00", "a", "login", None, None, {}, "0" * 64
    )
    assert entry_hash(env) == entry_hash(env)
    assert entry_mac(b"k" * 32, "t", env, "0" * 64) != entry_mac(b"j" * 32, "t", env, "0" * 64)
    with pytest.raises(FrozenInstanceError):
        env.seq = 2  # type: ignore[misc]
