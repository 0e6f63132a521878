"""The account policy: its limits and where its defaults come from."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from accountability_helpers import CHEAP, ROOT

from facesearch.accountability import (
    AccountabilityStore,
    AccountPolicy,
    Role,
)
from facesearch.errors import (
    InputError,
)
from facesearch.settings import Settings


def test_policy_sets_minimum_length(tmp_path: Path):
    policy = AccountPolicy(min_password_length=16)
    with (
        AccountabilityStore.open(tmp_path, hasher=CHEAP, policy=policy) as s,
        pytest.raises(InputError, match="at least 16"),
    ):
        s.accounts.add_user("a", Role.ADMIN, "fifteen chars!!", by=ROOT)
    with pytest.raises(InputError):
        AccountPolicy(min_password_length=4)


def test_policy_defaults_are_the_settings_defaults():
    """One minimum length (and one of everything else): the settings' (issue 7, item 12)."""
    policy, settings = AccountPolicy(), Settings()
    assert policy.min_password_length == settings.accounts.min_password_length == 12
    assert policy.min_password_score == settings.accounts.min_password_score
    assert policy.max_failures == settings.accounts.login_max_failures
    assert policy.token_lifetime == timedelta(days=settings.accounts.token_lifetime_days)
