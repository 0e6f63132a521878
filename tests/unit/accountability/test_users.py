"""User names: what an account may be called."""

from __future__ import annotations

import pytest
from accountability_helpers import PW, ROOT

from facesearch.accountability import (
    AccountabilityStore,
    Role,
)
from facesearch.errors import (
    InputError,
)


@pytest.mark.parametrize(
    "name", ["", "a" * 65, "bad name", "ünï", "-dash", ".dot", "a:b", "a/b", "x\n", "os:root"]
)
def test_bad_names_are_refused(store: AccountabilityStore, name: str):
    with pytest.raises(InputError, match="user name"):
        store.accounts.add_user(name, Role.ADMIN, PW, by=ROOT)


@pytest.mark.parametrize("name", ["a", "a" * 64, "jane.doe@example.org", "J_1-2"])
def test_good_names_are_accepted(store: AccountabilityStore, name: str):
    assert store.accounts.add_user(name, Role.ADMIN, PW, by=ROOT).name == name
