"""Fixtures of the accountability tests (``clock`` and ``store`` are in tests/unit/conftest.py)."""

from __future__ import annotations

import pytest
from accountability_helpers import PW, ROOT

from facesearch.accountability import AccountabilityStore, Role, User


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
