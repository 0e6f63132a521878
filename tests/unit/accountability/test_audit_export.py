"""Exporting the trail: exact JSON lines, CSV that spreadsheets do not run, each export logged."""

from __future__ import annotations

import csv
import io
import json

import pytest
from accountability_helpers import FakeClock, fill

from facesearch.accountability import (
    AccountabilityStore,
    Action,
    AuditEnvelope,
    entry_hash,
)
from facesearch.errors import InputError


def test_export_jsonl_is_exact_and_logged(store: AccountabilityStore, clock: FakeClock):
    fill(store, clock, 4)
    out = io.StringIO()
    assert store.audit.export("jsonl", out, actor="auditor1", filter_case="C-1") == 2
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["seq"] for r in rows] == [2, 4]
    for r in rows:  # each exported line re-hashes to its hash
        fields = {k: r[k] for k in ("seq", "time", "actor", "action", "case", "purpose")}
        assert (
            entry_hash(
                AuditEnvelope(
                    **fields, payload=r["payload"], prev_hash=r["prev_hash"], org=r.get("org")
                )
            )
            == r["hash"]
        )
    assert {r["org"] for r in rows} == {"(platform)"}  # the hashed org is exported too
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


def test_export_csv_carries_the_hashed_org(store: AccountabilityStore, clock: FakeClock):
    """CSV holds every field the hash covers, the org too (empty: an entry without one)."""
    fill(store, clock, 2)
    out = io.StringIO()
    store.audit.export("csv", out, actor="auditor1")
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [r["org"] for r in rows] == ["(platform)", "(platform)"]
    for r in rows:
        fields = {k: r[k] or None for k in ("time", "actor", "action", "case", "purpose", "org")}
        envelope = AuditEnvelope(
            int(r["seq"]), **fields, payload=json.loads(r["payload"]), prev_hash=r["prev_hash"]
        )
        assert entry_hash(envelope) == r["hash"]
