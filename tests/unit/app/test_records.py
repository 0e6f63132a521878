"""The one search record (app/records.py): made when a search runs, logged as its audit
payload, read back from the trail, and shown as JSON by the CLI and the API. On the fake
pipeline (tests/fakes.py)."""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Iterator
from typing import Any

import pytest
from tests.fakes import FakePipeline, face_photo, person_name

from facesearch.accountability import AccountabilityStore, local_actor
from facesearch.app import SearchRecord, SearchRequest, search, search_record
from facesearch.engine import Engine

# the keys the README documents for `facesearch search --json`
DOCUMENTED = {"probe", "gallery_faces", "faces"}
DOCUMENTED_HIT = {
    "rank",
    "similarity",
    "fmr",
    "expected_false",
    "face_id",
    "image_path",
    "bbox",
    "subject",
    "collection",
    "same_file",
}


@pytest.fixture()
def parts(fake_homes: Any, fake_pipeline: FakePipeline) -> Iterator[tuple[Engine, Any]]:
    home = fake_homes("records", users=False)
    engine = Engine(home.settings, pipeline=fake_pipeline)
    with AccountabilityStore.open(home.home) as store:
        yield engine, store
    engine.catalog.close()


def _search(engine: Engine, store: Any, person: int = 2) -> SearchRecord:
    request = SearchRequest(face_photo(person, 0), name="probe.png", top=3)
    return search(engine, store, local_actor("tester"), request)


def test_a_search_returns_its_logged_record_with_the_documented_keys(parts: Any) -> None:
    engine, store = parts
    record = _search(engine, store)
    assert record.id is not None and store.audit.get(record.id).action == "search"
    out = record.as_json()
    assert out.keys() >= DOCUMENTED
    hits = out["faces"][0]["hits"]
    assert len(hits) == 3 and hits[0].keys() >= DOCUMENTED_HIT
    assert hits[0]["subject"] == person_name(2) and hits[0]["rank"] == 1
    assert hits[0]["image_path"].endswith(".png") and "/" in hits[0]["image_path"]
    assert out["gallery_faces"] == sum(c["size"] for c in out["collections"]) > 0


def test_the_record_read_back_from_the_trail_is_the_one_returned(parts: Any) -> None:
    engine, store = parts
    record = _search(engine, store)
    again = search_record(engine.catalog, engine.calibration, store.audit.get(record.id))
    assert again.as_json() == record.as_json()


def test_the_fmr_shown_later_is_the_one_shown_at_search_time(parts: Any) -> None:
    """A search shown again later keeps the false match rate it was shown with, even when a
    newer calibration table would put another figure on the same similarity."""
    engine, store = parts
    record = _search(engine, store)
    table = engine.calibration
    newer = dataclasses.replace(
        table,
        fmr=tuple(min(1.0, f * 10) for f in table.fmr),
        impostor_pairs=table.impostor_pairs // 100,
    )
    again = search_record(engine.catalog, newer, store.audit.get(record.id))
    shown = [h.fmr for h in record.hits]
    assert [h.fmr for h in again.hits] == shown
    assert [newer.fmr_at(h.similarity) for h in record.hits] != shown


def test_a_candidate_erased_since_shows_as_erased(parts: Any) -> None:
    engine, store = parts
    record = _search(engine, store)
    gone = record.hits[0].face_id
    engine.forget(face_ids=[gone])
    again = search_record(engine.catalog, engine.calibration, store.audit.get(record.id))
    first = again.as_json()["faces"][0]["hits"][0]
    assert first["face_id"] == gone and first["erased"] is True and first["image_path"] is None
    assert first["similarity"] == round(record.hits[0].similarity, 5)


def test_the_payload_holds_scores_and_ids_never_images_or_embeddings(parts: Any) -> None:
    engine, store = parts
    record = _search(engine, store)
    payload = store.audit.get(record.id).payload
    assert payload["probe_sha256"] and len(payload["probe_sha256"]) == 64
    assert set(payload["candidates"][0]) == {"face_id", "score", "fmr", "face", "rank"}
    text = repr(payload)
    assert "embedding" not in text and ".png" not in text.replace("probe.png", "")


def test_each_candidate_is_read_back_by_its_probe_face_not_its_position(parts: Any) -> None:
    """Two probe faces that find the same gallery face with different scores each keep their
    own score; an entry from before candidates named their probe face is read in order."""
    engine, store = parts
    request = SearchRequest(face_photo(1, 0, faces=2), name="two.png", top=2)
    record = search(engine, store, local_actor("tester"), request)
    assert [len(f.hits) for f in record.faces] == [2, 2]
    entry = store.audit.get(record.id)
    shuffled = dict(entry.payload, candidates=entry.payload["candidates"][::-1])
    again = SearchRecord.from_entry(
        entry.seq, entry.actor, None, None, shuffled, {}, engine.calibration
    )
    assert [(h.face_id, h.similarity) for h in again.hits] == [
        (h.face_id, h.similarity) for h in record.hits
    ]
    old = dict(
        entry.payload,
        candidates=[
            {"face_id": c["face_id"], "score": c["score"]} for c in entry.payload["candidates"]
        ],
    )
    before = SearchRecord.from_entry(
        entry.seq, entry.actor, None, None, old, {}, engine.calibration
    )
    assert [h.similarity for h in before.hits] == [h.similarity for h in record.hits]


def test_the_record_says_what_its_fmrs_rest_on_as_at_search_time(parts: Any) -> None:
    """Issue 12: the record names the calibration behind its FMRs (logged with the search,
    so a later table does not change it); an entry from before falls back to the table's."""
    engine, store = parts
    record = _search(engine, store)
    table = engine.calibration
    assert record.calibration == table.basis and record.calibration_short == table.basis_short
    assert record.as_json()["calibration"] == table.basis
    newer = dataclasses.replace(table, source="another photo set")
    entry = store.audit.get(record.id)
    again = search_record(engine.catalog, newer, entry)
    assert again.calibration == table.basis
    older = {k: v for k, v in entry.payload.items() if not k.startswith("calibration")}
    before = SearchRecord.from_entry(entry.seq, entry.actor, None, None, older, {}, newer)
    assert before.calibration == newer.basis and "another photo set" in before.calibration


def test_a_poorer_probe_face_carries_its_reliability_note_into_the_trail(
    parts: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 12: a probe face in a poorer quality bucket says how much less reliable its
    results are; the note is logged and read back with the record."""
    from facesearch.core.quality import BUCKETS, OPEN, QualityBucket, QualityTable

    engine, store = parts

    def bucket(factor: str, low: float, high: float, fnmr: float) -> QualityBucket:
        return QualityBucket(factor, low, high, 100, 1000, 10_000, fnmr, 1e-3)

    rows = []  # per factor: empty buckets up to the good probes' (2 % missed), then one
    for factor, _, _, good in BUCKETS:  # bucket holding every face: 10 % for size, else 2 %
        rows += [bucket(factor, -2, -1, 0.02) for _ in range(good + 1)]
        rows.append(bucket(factor, 0, OPEN, 0.1 if factor == "size" else 0.02))
    table = QualityTable(engine.pipeline.model_id, "test", 1e-3, 0.4, tuple(rows))
    module = importlib.import_module("facesearch.app.search")  # the package exports search()
    monkeypatch.setattr(module, "load_quality_table", lambda _: table)
    record = _search(engine, store)
    note = record.faces[0].reliability
    assert note is not None and "about 5x as many true matches are missed" in note
    assert record.as_json()["faces"][0]["reliability"] == note
    again = search_record(engine.catalog, engine.calibration, store.audit.get(record.id))
    assert again.faces[0].reliability == note and again.as_json() == record.as_json()
