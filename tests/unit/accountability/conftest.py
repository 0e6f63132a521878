"""Fixtures of the accountability tests (``clock`` and ``store`` are in tests/unit/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from accountability_helpers import PW, ROOT, FakeClock, open_store

from facesearch.accountability import AccountabilityStore, Action, Role, User


@pytest.fixture
def people(store: AccountabilityStore) -> dict[str, User]:
    """Four accounts, one per role and a second investigator."""
    return {
        name: store.accounts.add_user(name, role, PW, by=ROOT)
        for name, role in [
            ("admin", Role.ADMIN),
            ("alice", Role.INVESTIGATOR),
            ("bob", Role.INVESTIGATOR),
            ("audrey", Role.AUDITOR),
        ]
    }


@pytest.fixture
def paths(tmp_path: Path) -> dict[str, Path]:
    """A home, and its audit key and anchor files outside it."""
    return {
        "home": tmp_path / "home",
        "key_file": tmp_path / "config" / "audit.key",
        "anchor_file": tmp_path / "state" / "anchor.jsonl",
    }


@pytest.fixture
def keyed(paths: dict[str, Path], clock: FakeClock) -> Iterator[AccountabilityStore]:
    """A store of ``paths`` with six keyed entries."""
    with open_store(paths, clock) as s:
        for i in range(6):
            clock.advance(seconds=1)
            s.audit.append(actor=f"user{i % 2}", action=Action.INGEST, payload={"i": i})
        yield s
