"""AccountabilityStore: opened from the settings with their policy, key and anchor files."""

from __future__ import annotations

from pathlib import Path

import pytest
from accountability_helpers import CHEAP

from facesearch.accountability import (
    AccountabilityStore,
)
from facesearch.errors import ConfigError

# --- review of item 7: policy wiring, one envelope, shared helpers --------------------------


def test_from_settings_builds_the_account_policy_of_the_settings(tmp_path: Path):
    """Every CLI command and the server get the configured account rules from from_settings."""
    from facesearch.settings import Settings

    settings = Settings.from_env(
        env={},
        home=tmp_path / "home",
        audit_key_file=tmp_path / "k" / "audit.key",
        audit_anchor_file=tmp_path / "a.jsonl",
        min_password_length=30,
        token_lifetime_days=0,
    )
    with AccountabilityStore.from_settings(settings, hasher=CHEAP) as s:
        assert s.accounts.policy.min_password_length == 30
        assert s.accounts.policy.token_lifetime is None
    with pytest.raises(ConfigError, match="token_lifetime_days"):
        AccountabilityStore.from_settings(settings.replace(token_lifetime_days=-1), hasher=CHEAP)
