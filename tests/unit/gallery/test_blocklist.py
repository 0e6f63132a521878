"""The erasure blocklist at ingest: each of K entries is matched at min(blocklist_max_fmr,
blocklist_max_skip / K), so that the whole blocklist skips a bounded share of other people's
new faces (``gallery.blocklist``). On the fake pipeline and the shipped SFace table."""

from __future__ import annotations

import json
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.fakes import FakePipeline, write_photo

from facesearch.core.calibration import CalibrationTable, table_from_dict
from facesearch.engine import Engine
from facesearch.errors import BlocklistChangedError
from facesearch.gallery.blocklist import blocklist_match, entry_fmr
from facesearch.gallery.catalog import BlocklistSeen, NewFace, NewImage
from facesearch.settings import Settings


@pytest.fixture(scope="module")
def table() -> CalibrationTable:
    text = resources.files("facesearch").joinpath("data", "calibration-sface.json").read_text()
    return table_from_dict(json.loads(text))


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    settings = Settings(home=tmp_path / "home")
    with Engine(settings, pipeline=FakePipeline(settings)) as engine:
        yield engine


@pytest.mark.parametrize(
    ("entries", "fmr"),
    [(0, 1e-4), (1, 1e-4), (10, 1e-4), (20, 5e-5), (100, 1e-5), (1000, 1e-6)],
)
def test_each_of_k_entries_is_matched_at_max_skip_over_k(entries: int, fmr: float) -> None:
    assert entry_fmr(entries, 1e-4, 1e-3) == pytest.approx(fmr)
    assert entries * entry_fmr(entries, 1e-4, 1e-3) <= 1e-3 * (1 + 1e-12)


def test_the_match_says_its_price_and_when_the_calibration_cannot_keep_the_bound(
    table: CalibrationTable,
) -> None:
    """A stricter threshold lets more new photos of the erased person in (``missed``, the
    table's false non-match rate there); past the table's floor the bound is not kept, and
    the match says so instead of failing every ingest."""
    few, many = blocklist_match(1, 1e-4, 1e-3, table), blocklist_match(1000, 1e-4, 1e-3, table)
    assert (few.fmr, few.threshold, few.bounded) == (1e-4, table.threshold_for_fmr(1e-4), True)
    assert few.skipped == pytest.approx(1e-4) and many.skipped == pytest.approx(1e-3)
    assert many.threshold > few.threshold and many.missed > few.missed
    assert 0 < few.missed < 0.05 and many.missed > 0.5  # the shipped table: 1.8 %, 90 %
    beyond = blocklist_match(100_000, 1e-4, 1e-3, table)
    assert not beyond.bounded and beyond.fmr == table.min_fmr
    assert beyond.skipped == pytest.approx(100_000 * table.min_fmr) and beyond.skipped > 1e-3
    assert beyond.as_dict()["bounded"] is False and beyond.as_dict()["entries"] == 100_000


def test_an_ingest_matches_each_entry_more_strictly_as_the_blocklist_grows(
    engine: Engine, tmp_path: Path
) -> None:
    """Every entry was matched at blocklist_max_fmr whatever their number: K entries skipped
    about K x 1e-4 of every other person's new faces (1,000 opt-outs: a tenth), silently. A
    face at similarity 0.52 to an entry (between the thresholds at 1e-4, 0.485, and at
    1e-5, 0.555) is skipped while that entry is alone, and goes in once 100 entries hold the
    whole blocklist to blocklist_max_skip (1e-3): each is then matched at 1e-5."""
    photo = write_photo(tmp_path / "photos", 3, 1)
    (face,) = engine.analyse(photo).faces
    assert face.embedding is not None
    e = face.embedding / np.linalg.norm(face.embedding)
    rng = np.random.default_rng(7)
    u = rng.standard_normal(e.shape)
    u -= (u @ e) * e
    u /= np.linalg.norm(u)
    similarity = 0.52
    at = engine.calibration.threshold_for_fmr
    assert at(1e-4) < similarity < at(1e-5)
    model = engine.pipeline.model_id
    engine.catalog.blocklist_add(model, similarity * e + np.sqrt(1 - similarity**2) * u)
    alone = engine.ingest([photo], collection="first")
    assert (alone.faces_added, alone.faces_blocked) == (0, 1)
    assert [f.code for f in alone.failed] == ["blocklisted"]
    for other in rng.standard_normal((99, e.size)):  # others: far from this face
        engine.catalog.blocklist_add(model, other / np.linalg.norm(other))
    crowded = engine.ingest([photo], collection="second")
    assert (crowded.faces_added, crowded.faces_blocked, crowded.failed) == (1, 0, ())


def test_stats_say_how_ingests_match_the_blocklist(engine: Engine) -> None:
    """``facesearch stats`` (``app.gallery.overview``): the entries that apply to each kind
    of ingest, each entry's false match rate, the share of other people's new faces skipped
    and of new photos of an erased person let in."""
    from facesearch.accountability import AccountabilityStore, local_actor
    from facesearch.app.gallery import blocklist_ingests, overview

    model, rng = engine.pipeline.model_id, np.random.default_rng(8)
    for i in range(30):
        engine.catalog.blocklist_add(model, rng.standard_normal(128), org="north" if i else None)
    wide, north = blocklist_ingests(engine, None)
    assert (wide["org"], wide["entries"], wide["fmr"], wide["skipped"]) == (None, 1, 1e-4, 1e-4)
    assert (north["org"], north["entries"], north["bounded"]) == ("north", 30, True)
    assert north["fmr"] == pytest.approx(1e-3 / 30, rel=0.01) and north["skipped"] == 1e-3
    assert north["threshold"] > wide["threshold"] and north["missed"] > wide["missed"]
    assert blocklist_ingests(engine, "South") == [{**wide, "org": "South"}]
    with AccountabilityStore.open(engine.settings.home) as store:
        shown = overview(engine, store, local_actor("tester"))
    assert shown["blocklist"] == 30 and shown["blocklist_ingests"] == [wide, north]


def test_a_face_screened_before_an_erasure_s_entry_is_screened_again_when_written(
    engine: Engine, tmp_path: Path
) -> None:
    """An ingest read the blocklist once, at its start. An erasure like a photo that ran
    while the ingest was under way scanned the catalog (the batch not yet written), added
    its entry, and the batch then went in with the person's face: erased and blocklisted,
    and still in the gallery. Now the batch's write transaction checks the entries it was
    screened against (``Catalog.add_images``) and the ingest screens it again."""
    photos = [write_photo(tmp_path / "photos", 4, 1), write_photo(tmp_path / "photos", 5, 1)]
    (person,) = engine.analyse(photos[0]).faces
    assert person.embedding is not None
    model = engine.pipeline.model_id

    added: list[int] = []

    def erasure_meanwhile(summary: Any) -> None:  # once the first photo is screened
        if not added:
            added.append(engine.catalog.blocklist_add(model, person.embedding, note="meanwhile"))

    done = engine.ingest(photos, collection="during", progress=erasure_meanwhile)
    assert (done.faces_added, done.faces_blocked) == (1, 1), done.as_dict()
    assert [f.code for f in done.failed] == ["blocklisted"]
    held = engine.catalog.stats()
    assert held["faces"] == 1 and held["images"] == 1


def test_a_batch_screened_against_another_blocklist_is_refused_with_nothing_written(
    engine: Engine, tmp_path: Path
) -> None:
    photo = write_photo(tmp_path / "photos", 6, 1)
    analysed = engine.analyse(photo)
    (face,) = analysed.faces
    assert face.embedding is not None
    model = engine.pipeline.model_id
    new = NewImage(
        sha256="a" * 64,
        source=str(photo),
        size_bytes=1,
        width=analysed.width,
        height=analysed.height,
        faces=(
            NewFace(
                face_index=0,
                bbox=face.bbox,
                landmarks=face.detection.landmarks,
                det_score=face.detection.score,
                quality=face.quality.as_dict(),
                model_id=model,
                embedding=face.embedding,
            ),
        ),
    )
    engine.catalog.blocklist_add(model, face.embedding, org="north")
    with pytest.raises(BlocklistChangedError):
        engine.catalog.add_images("c", [new], screened=BlocklistSeen(model, "North", 0))
    assert engine.catalog.stats()["faces"] == 0
    # another organisation's entry does not apply to its ingests: written
    (added,) = engine.catalog.add_images("c", [new], screened=BlocklistSeen(model, "south", 0))
    assert len(added.face_ids) == 1
