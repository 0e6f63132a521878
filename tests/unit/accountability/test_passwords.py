"""Second attack pass: a passphrase of 73 to 1,024 characters gave 500 (zxcvbn 4.5 raises
ValueError past 72 characters)."""

from __future__ import annotations

import pytest

from facesearch.accountability import AccountabilityStore, local_actor
from facesearch.errors import InputError


@pytest.mark.parametrize("length", [72, 73, 100, 1024])
def test_long_passphrases_are_judged_not_crashed_on(
    store: AccountabilityStore, length: int
) -> None:
    words = "copper lantern orbit mosaic fjord quill "
    password = (words * 30)[:length]
    me = local_actor("tester")
    store.accounts.add_user(f"user{length}", "auditor", password, by=me)
    assert store.accounts.check_password(f"user{length}", password).name == f"user{length}"


def test_a_long_but_trivial_passphrase_is_still_refused(store: AccountabilityStore) -> None:
    with pytest.raises(InputError):
        store.accounts.add_user("weak", "auditor", "a" * 200, by=local_actor("tester"))
