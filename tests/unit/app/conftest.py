"""Fixtures of the application-layer unit tests: ``trail``, an organisation's audit trail
written by hand at chosen times (oversight_trail.py)."""

from __future__ import annotations

import pytest
from accountability_helpers import FakeClock
from tests.unit.app.oversight_trail import Trail, make_trail

from facesearch.accountability import AccountabilityStore


@pytest.fixture
def trail(store: AccountabilityStore, clock: FakeClock) -> Trail:
    """Organisations north and south on the store of tests/unit/conftest.py."""
    return make_trail(store, clock)
