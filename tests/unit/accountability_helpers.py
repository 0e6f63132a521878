"""Shared set-up of the accountability unit tests: a fake clock and cheap hashing (the
`clock` and `store` fixtures are in conftest.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher

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
