"""The audit key and the anchor file outside the home: made owner-only, refused when readable by
others, short or not the trail's."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from accountability_helpers import CHEAP, open_store

import facesearch.accountability as acc
from facesearch.accountability import (
    AccountabilityStore,
)
from facesearch.errors import ConfigError


def test_a_wrong_key_is_refused_at_open_naming_the_key_file(paths, keyed: AccountabilityStore):
    """Review of item 7: the key id is compared when the store opens, so that no operation
    (an erasure, an ingest) starts with a key it could not log with."""
    other = paths["key_file"].with_name("other.key")
    fd = os.open(other, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, os.urandom(32))
    os.close(fd)
    head = keyed.audit.head()
    with pytest.raises(ConfigError) as raised:
        AccountabilityStore.open(
            paths["home"],
            hasher=CHEAP,
            key_file=other,
            anchor_file=paths["anchor_file"],
            database_url=keyed.db.url,
        )
    message = str(raised.value)
    assert str(other) in message and "not the key this trail was written with" in message
    assert "FACESEARCH_AUDIT_KEY_FILE" in message and "Nothing was written" not in message
    assert keyed.audit.head() == head  # nothing written


def test_a_missing_key_of_a_keyed_trail_is_refused_never_replaced(paths, keyed):
    keyed.close()
    paths["key_file"].unlink()
    with pytest.raises(ConfigError, match="restore it from your backup"):
        open_store(paths, database_url=keyed.db.url)
    assert not paths["key_file"].exists()


# --- the key file -----------------------------------------------------------------------------


def test_the_key_is_made_on_first_use_owner_only(paths, keyed):
    key = paths["key_file"]
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    assert len(key.read_bytes()) == 32
    anchor = paths["anchor_file"]
    assert stat.S_IMODE(anchor.stat().st_mode) == 0o600
    assert not str(key).startswith(str(paths["home"]))


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620])
def test_a_key_others_may_read_or_write_is_refused(paths, mode: int):
    paths["key_file"].parent.mkdir(parents=True)
    paths["key_file"].write_bytes(os.urandom(32))
    os.chmod(paths["key_file"], mode)
    with pytest.raises(ConfigError, match="chmod 600"):
        open_store(paths)


def test_a_short_key_is_refused(paths):
    paths["key_file"].parent.mkdir(parents=True)
    fd = os.open(paths["key_file"], os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"0123456789abcdef")
    os.close(fd)
    with pytest.raises(ConfigError, match="at least 32"):
        open_store(paths)


def test_fsync_dir_is_shared_by_keying_and_index_storage(tmp_path: Path):
    import facesearch.accountability.keying as keying
    import facesearch.gallery.vectors.storage as storage
    from facesearch.private import fsync_dir

    fsync_dir(tmp_path)
    fsync_dir(tmp_path / "missing")  # nothing to sync: no error
    assert not hasattr(keying, "_fsync_folder")  # one copy, in private.py
    assert not hasattr(storage, "_fsync_dir")


def test_the_key_folder_is_made_private_but_an_existing_one_is_left_alone(tmp_path: Path):
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    os.chmod(shared, 0o755)
    acc.keying.create_key(shared / "audit.key")
    assert stat.S_IMODE(shared.stat().st_mode) == 0o755  # e.g. a user's home: not ours to change
    acc.keying.create_key(tmp_path / "new" / "deeper" / "audit.key")
    assert stat.S_IMODE((tmp_path / "new" / "deeper").stat().st_mode) == 0o700
