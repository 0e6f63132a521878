"""make_hits: ranks, the FMR of each similarity, expected false candidates, the probe's file."""

from __future__ import annotations

import pytest
from tests.unit.core.calibration_tables import TABLE

from facesearch.gallery.catalog import FaceRecord
from facesearch.results import make_hits
from facesearch.types import BBox

PROBE_SHA = "a" * 64


def record(face_id: int, sha256: str = "b" * 64, subject: str | None = None) -> FaceRecord:
    return FaceRecord(id=face_id, image_id=face_id * 10, collection="c", source=f"/g/{face_id}.jpg",
                      face_index=0, bbox=BBox(1, 2, 30, 40), landmarks=((0.0, 0.0),) * 5,
                      det_score=0.9, quality={}, model_id="test:0", subject=subject,
                      image_sha256=sha256)  # fmt: skip


def test_hits_are_ranked_in_the_order_given_from_one() -> None:
    hits = make_hits([0.8, 0.6, 0.4], [record(5), record(3), record(9)], TABLE, 1000)
    assert [h.rank for h in hits] == [1, 2, 3]
    assert [h.face_id for h in hits] == [5, 3, 9]
    assert [h.image_id for h in hits] == [50, 30, 90]
    assert hits[0].image_path == "/g/5.jpg" and hits[0].bbox == BBox(1, 2, 30, 40)


def test_each_hit_carries_the_fmr_of_its_similarity_and_the_false_ones_to_expect() -> None:
    hits = make_hits([0.6, 0.4], [record(1), record(2)], TABLE, 1_000_000)
    assert hits[0].fmr == pytest.approx(0.001) and hits[1].fmr == pytest.approx(0.01)
    assert hits[0].expected_false == pytest.approx(1_000)  # FMR x gallery size
    assert hits[1].expected_false == pytest.approx(10_000)
    assert hits[0].fmr_words == "about 1 in 1,000 different people score this high"
    small = make_hits([0.6], [record(1)], TABLE, 10)
    assert small[0].expected_false == pytest.approx(0.01)


def test_a_hit_from_the_probes_own_file_is_flagged_by_sha256() -> None:
    records = [record(1, sha256=PROBE_SHA), record(2)]
    flagged = make_hits([0.99, 0.7], records, TABLE, 100, PROBE_SHA)
    assert [h.same_file for h in flagged] == [True, False]
    unknown = make_hits([0.99, 0.7], records, TABLE, 100)  # no probe hash: nothing flagged
    assert not any(h.same_file for h in unknown)


def test_similarities_and_records_must_pair_up() -> None:
    assert make_hits([], [], TABLE, 100) == ()
    with pytest.raises(ValueError):
        make_hits([0.5, 0.4], [record(1)], TABLE, 100)
