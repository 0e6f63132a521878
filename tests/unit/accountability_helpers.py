"""Shared set-up of the accountability unit tests: a fake clock, cheap hashing, and reading
or editing the file behind the library's back (the `clock` and `store` fixtures are in
tests/unit/conftest.py, `people` in tests/unit/accountability/conftest.py)."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from argon2 import PasswordHasher

from facesearch.accountability import (
    AccountabilityStore,
    Action,
    AuditReport,
    BreakKind,
    local_actor,
)

CHEAP = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)  # fast tests, same code path
T0 = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
PW = "correct horse battery"


class FakeClock:
    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


ROOT = local_actor("root")  # the person at the CLI of the test home


def raw(store: AccountabilityStore, sql: str) -> list[tuple[object, ...]]:
    """Rows read straight from the file, as anyone with it could."""
    conn = sqlite3.connect(store.path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def tamper(store: AccountabilityStore, *statements: str) -> None:
    """Edit the file behind the library's back, as someone with the file could."""
    conn = sqlite3.connect(store.path)
    for trigger in ("audit_log_no_update", "audit_log_no_delete", "audit_mac_no_delete"):
        conn.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    for statement in statements:
        conn.execute(statement)
    conn.commit()
    conn.close()


def kinds(report: AuditReport) -> list[tuple[BreakKind, int | None, int | None]]:
    """What a check found, as (kind, first seq, last seq)."""
    return [(b.kind, b.first, b.last) for b in report.breaks]


def fill(store: AccountabilityStore, clock: FakeClock, n: int) -> None:
    """Append ``n`` entries, one a second, by three actors in two cases."""
    for i in range(n):
        clock.advance(seconds=1)
        store.audit.append(
            actor=f"user{i % 3}",
            action=Action.INGEST,
            case=f"C-{i % 2}",
            purpose="test",
            payload={"i": i},
        )


def open_store(paths: dict[str, Path], clock: FakeClock | None = None) -> AccountabilityStore:
    """A store opened with the key and anchor files of ``paths`` (the ``paths`` fixture)."""
    return AccountabilityStore.open(
        paths["home"],
        clock=clock,
        hasher=CHEAP,
        key_file=paths["key_file"],
        anchor_file=paths["anchor_file"],
    )
