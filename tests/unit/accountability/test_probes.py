"""Kept probe images: stored in the file, deleted when their retention ends, never shortened."""

from __future__ import annotations

import hashlib
import os
from datetime import timedelta

import pytest
from accountability_helpers import T0, pages_of

from facesearch.accountability import (
    Action,
)
from facesearch.errors import InputError, NotFoundError

# --- probes -----------------------------------------------------------------------------------


def test_probes_are_kept_then_purged_from_the_file(store, clock):
    """The bytes are gone from the SQLite file and its WAL (secure_delete, checkpoint), or on
    PostgreSQL from the pages of the table and its TOAST table (VACUUM after the purge)."""
    image = os.urandom(20_000)  # spans overflow pages
    digest = store.probes.keep(image, retention_days=30)
    assert digest == hashlib.sha256(image).hexdigest()
    other = store.probes.keep(os.urandom(500), retention_days=90)
    search = store.audit.append(actor="inv", action=Action.SEARCH, payload={"probe": digest})
    assert store.probes.get(digest) == image
    assert store.probes.purge_expired() == 0
    clock.advance(days=31)
    with pytest.raises(NotFoundError):
        store.probes.get(digest)  # expired, even before the purge
    assert store.probes.purge_expired() == 1
    assert store.probes.get(other)  # still within its period
    assert store.audit.get(search.seq).payload == {"probe": digest}  # the entry stays
    purge = store.audit.entries(action=Action.PROBE_PURGE)
    assert purge[0].payload == {"count": 1, "sha256": [digest]}
    raw = pages_of(store, "probes")
    assert raw
    for start in range(0, len(image) - 64, 4000):
        assert image[start : start + 64] not in raw, "probe bytes left behind"
    assert store.verify().ok


def test_keeping_a_probe_again_extends_never_shortens(store, clock):
    digest = store.probes.keep(b"abc", retention_days=10)
    store.probes.keep(b"abc", retention_days=2)
    assert store.probes.expires(digest) == T0 + timedelta(days=10)
    store.probes.keep(b"abc", retention_days=20)
    assert store.probes.expires(digest) == T0 + timedelta(days=20)
    with pytest.raises(InputError):
        store.probes.keep(b"abc", retention_days=0)
    with pytest.raises(InputError):
        store.probes.keep(b"", retention_days=1)
    assert store.probes.purge_expired(now=T0 + timedelta(days=21)) == 1
