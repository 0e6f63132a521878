"""Fixtures of the accountability tests (``clock`` is in tests/unit/conftest.py).

Every test here that opens its store through ``store``, ``keyed`` or ``database_url`` runs
twice: on SQLite (the embedded default) and on PostgreSQL (a fresh database of the session's
throwaway cluster), so the same assertions hold for both -- the store-level contract suite.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from accountability_helpers import CHEAP, PW, ROOT, FakeClock, open_store

from facesearch.accountability import AccountabilityStore, Action, Role, User


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Empty (SQLite in the home) or the URL of a fresh PostgreSQL database."""
    return "" if request.param == "sqlite" else str(request.getfixturevalue("pg_url"))


@pytest.fixture
def store(tmp_path: Path, clock: FakeClock, database_url: str) -> Iterator[AccountabilityStore]:
    with AccountabilityStore.open(
        tmp_path, clock=clock, hasher=CHEAP, database_url=database_url
    ) as s:
        yield s


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
def orgs(store: AccountabilityStore, people: dict[str, User]) -> dict[str, User]:
    """``people`` (all of ``default``), the platform operator ``opal`` (of no organisation),
    and two organisations made by her: ``acme`` (admin ``ann``, investigator ``ivy``) and
    ``beta`` (admin ``ben``)."""
    opal = store.accounts.add_user("opal", Role.OPERATOR, PW, by=ROOT, org=None)
    store.orgs.add("acme", by=opal)
    store.orgs.add("beta", by=opal)
    made = {
        name: store.accounts.add_user(name, role, PW, by=opal, org=org)
        for name, role, org in [
            ("ann", Role.ADMIN, "acme"),
            ("ivy", Role.INVESTIGATOR, "acme"),
            ("ben", Role.ADMIN, "beta"),
        ]
    }
    return {**people, "opal": opal, **made}


@pytest.fixture
def paths(tmp_path: Path) -> dict[str, Path]:
    """A home, and its audit key and anchor files outside it."""
    return {
        "home": tmp_path / "home",
        "key_file": tmp_path / "config" / "audit.key",
        "anchor_file": tmp_path / "state" / "anchor.jsonl",
    }


@pytest.fixture
def keyed(
    paths: dict[str, Path], clock: FakeClock, database_url: str
) -> Iterator[AccountabilityStore]:
    """A store of ``paths`` with six keyed entries."""
    with open_store(paths, clock, database_url) as s:
        for i in range(6):
            clock.advance(seconds=1)
            s.audit.append(actor=f"user{i % 2}", action=Action.INGEST, payload={"i": i})
        yield s
