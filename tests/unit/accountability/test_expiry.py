"""Account expiry (``expiry.py``): an account unused for longer than its organisation's
``account_expiry_days`` stops signing in with its password, until an admin sets a new one."""

from __future__ import annotations

import pytest
from tests.unit.accountability_helpers import PW, ROOT, FakeClock

from facesearch.accountability import AccountabilityStore, Action
from facesearch.errors import AuthenticationError


def test_an_unused_account_expires_and_a_new_password_revives_it(
    store: AccountabilityStore, clock: FakeClock
) -> None:
    store.orgs.add("acme", policy={"account_expiry_days": 30}, by=ROOT)
    store.accounts.add_user("ivy", "investigator", PW, by=ROOT, org="acme")
    store.accounts.add_user("dan", "investigator", PW, by=ROOT)  # default: no expiry
    clock.advance(days=20)
    assert store.accounts.check_password("ivy", PW).name == "ivy"  # used: counts from here
    clock.advance(days=25)
    assert store.accounts.check_password("ivy", PW).name == "ivy"
    clock.advance(days=31)
    with pytest.raises(AuthenticationError, match="not used for more than 30 days"):
        store.accounts.check_password("ivy", PW)
    with pytest.raises(AuthenticationError, match="wrong password"):  # a bad one: no more said
        store.accounts.check_password("ivy", PW + "x")
    assert store.accounts.check_password("dan", PW).name == "dan"
    failed = store.audit.entries(actor="ivy", action=Action.LOGIN_FAILED, limit=None)
    assert [e.payload["reason"] for e in failed] == ["expired", "bad_password"]

    store.accounts.set_password("ivy", PW + "-new", by=ROOT)
    assert store.accounts.check_password("ivy", PW + "-new").name == "ivy"
