"""Fixtures of the accountability unit tests (see accountability_helpers)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from accountability_helpers import CHEAP, FakeClock

from facesearch.accountability import AccountabilityStore


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(tmp_path: Path, clock: FakeClock) -> Iterator[AccountabilityStore]:
    with AccountabilityStore.open(tmp_path, clock=clock, hasher=CHEAP) as s:
        yield s
