"""Kept probe images: stored in the file, deleted when their retention ends, never shortened."""

from __future__ import annotations

import hashlib
import os
from datetime import timedelta

import pytest
from accountability_helpers import CHEAP, T0, pages_of

from facesearch.accountability import (
    AccountabilityStore,
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


def test_a_keep_cannot_slip_between_an_erasures_decision_and_its_delete(
    store, clock, tmp_path, database_url
):
    """An erasure asks, in its write transaction, whether another organisation keeps each
    probe (``unless``), and deletes the others' bytes in that same transaction. Another
    connection (another process, or replica) that keeps the same bytes for its search while
    the erasure sits between the two (held there by the ``before_delete`` seam) waits for the
    erasure to commit (SQLite's write lock; PostgreSQL's advisory lock), then stores the bytes
    anew: its search never names a probe that is gone."""
    import threading

    image = os.urandom(2_000)
    digest = store.probes.keep(image, retention_days=30)
    store.audit.append(
        actor="ivy", action=Action.SEARCH, payload={"probe_sha256": digest}, org="acme"
    )
    decided, go = threading.Event(), threading.Event()

    def hold(digests: list[str]) -> None:
        assert digests == [digest]  # no one else keeps it yet: its bytes go
        decided.set()
        assert go.wait(30)

    store.probes.before_delete = hold
    done: dict[str, object] = {}

    def erase() -> None:
        done["erase"] = store.probes.erase(
            [digest],
            unless=lambda d: bool(store.probes.named_by(d) - {"acme"}),
            then=lambda: store.audit.append(actor="ann", action=Action.ERASE, org="acme"),
        )

    with AccountabilityStore.open(
        tmp_path, clock=clock, hasher=CHEAP, database_url=database_url
    ) as other:

        def keep() -> None:  # what a search of beta's commits: its probe and its entry
            with other.db.write():
                other.probes.keep(image, retention_days=30)
                done["search"] = other.audit.append(
                    actor="ben", action=Action.SEARCH, payload={"probe_sha256": digest}, org="beta"
                )

        eraser = threading.Thread(target=erase)
        eraser.start()
        assert decided.wait(30)
        keeper = threading.Thread(target=keep)
        keeper.start()
        keeper.join(timeout=2)
        waited = keeper.is_alive()  # it cannot commit inside the erasure's transaction
        go.set()
        eraser.join(timeout=60)
        keeper.join(timeout=60)
        assert set(done) == {"erase", "search"}
        assert other.probes.get(digest) == image  # beta's search names bytes that are there
    assert waited
    assert store.probes.named_by(digest) == {"acme", "beta"}
