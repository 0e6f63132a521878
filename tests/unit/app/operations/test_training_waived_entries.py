"""FACESEARCH_TRAINING_REQUIRED off (a pilot): every search and verification entry of a user
says that training was waived (``"training_waived": true``), a failed one too; with training
required, and for the local CLI actor (who never needs it), no entry carries the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.fakes import FakePipeline

from facesearch.accountability import AccountabilityStore, Action, local_actor
from facesearch.app import SearchRequest, VerifyRequest, search, verify
from facesearch.app.verify_pairs import PairsRequest, verify_pairs
from facesearch.engine import Engine
from facesearch.errors import FaceSearchError

USE = {"case": "K-1", "purpose": "p"}


def _uses(
    home: Any, fake_pipeline: FakePipeline, probe_photo: Any, tmp_path: Path, who: str | None
) -> list[dict[str, Any]]:
    """The payloads of a search, a failed search, a verification and a pairs run by ``who``
    (None: the local CLI actor) in ``home``."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    engine = Engine(home.settings, pipeline=fake_pipeline)
    try:
        with AccountabilityStore.open(home.home) as store:
            actor = local_actor("ops") if who is None else store.accounts.get_user(who)
            before = store.audit.head().seq
            a, b = probe_photo(0, 5), probe_photo(1, 5)
            search(engine, store, actor, SearchRequest(a, **USE))
            junk = tmp_path / "junk.jpg"
            junk.write_bytes(b"not an image")
            with pytest.raises(FaceSearchError):
                search(engine, store, actor, SearchRequest(junk, **USE))
            verify(engine, store, actor, VerifyRequest(a, b, **USE))
            pairs = tmp_path / "pairs.txt"
            pairs.write_text(f"{a}\t{b}\n")
            verify_pairs(engine, store, actor, PairsRequest(pairs, **USE))
            entries = store.audit.entries(limit=None)
    finally:
        engine.catalog.close()
    uses = [e for e in entries if e.seq > before and e.action in ("search", "verify")]
    assert [e.action for e in uses] == ["search", "search", "verify", "verify"]
    assert uses[1].payload["outcome"] != "ok"
    return [dict(e.payload) for e in uses]


def test_every_search_and_verification_entry_says_training_was_waived(
    fake_homes: Any, fake_pipeline: FakePipeline, probe_photo: Any, tmp_path: Path
) -> None:
    pilot = fake_homes("training-waived", trained=False, training_required=False)
    payloads = _uses(pilot, fake_pipeline, probe_photo, tmp_path / "pilot", "inv1")
    assert [p.get("training_waived") for p in payloads] == [True] * 4
    with AccountabilityStore.open(pilot.home) as store:
        assert len(store.audit.entries(action=Action.TRAINING_WAIVED, limit=None)) == 1
    local = _uses(pilot, fake_pipeline, probe_photo, tmp_path / "local", None)
    assert not any("training_waived" in p for p in local)


def test_no_entry_says_training_was_waived_when_it_is_required(
    fake_homes: Any, fake_pipeline: FakePipeline, probe_photo: Any, tmp_path: Path
) -> None:
    trained = fake_homes("training-kept")
    payloads = _uses(trained, fake_pipeline, probe_photo, tmp_path, "inv1")
    assert not any("training_waived" in p for p in payloads)
