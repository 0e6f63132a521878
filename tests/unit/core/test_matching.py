"""compare(): the 1:1 decision at a threshold chosen by FMR or given, on a hand-made table;
fused with a second model's score by a ``Fusion`` made in the test."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
from tests.unit.core.calibration_tables import TABLE

from facesearch.core.fusion import Fusion
from facesearch.core.matching import compare
from facesearch.errors import InputError
from facesearch.types import BBox, Detection, Face, Quality

QUALITY = Quality(size=100.0, sharpness=300.0, yaw=0.0, pitch=0.0, roll=0.0, score=0.9)


def face(vector: list[float] | None) -> Face:
    embedding = None if vector is None else np.asarray(vector, np.float32)
    detection = Detection(BBox(0, 0, 10, 10), ((0.0, 0.0),) * 5, 0.9)
    return Face(index=0, detection=detection, quality=QUALITY, embedding=embedding)


def pair(similarity: float) -> tuple[Face, Face]:
    """Two unit vectors whose dot product is ``similarity``."""
    return face([1.0, 0.0]), face([similarity, math.sqrt(max(0.0, 1 - similarity**2))])


def test_the_threshold_is_the_lowest_similarity_at_the_asked_fmr() -> None:
    a, b = pair(0.5)
    loose = compare(a, b, TABLE, max_fmr=0.01)
    assert loose.threshold == pytest.approx(0.4) and loose.same
    strict = compare(a, b, TABLE, max_fmr=0.001)
    assert strict.threshold == pytest.approx(0.6) and not strict.same
    assert strict.threshold_fmr == pytest.approx(0.001)


def test_a_given_threshold_wins_over_the_fmr_and_equal_counts_as_same() -> None:
    a, b = pair(0.5)
    assert not compare(a, b, TABLE, max_fmr=0.01, threshold=0.55).same
    at = compare(a, b, TABLE, max_fmr=0.0001, threshold=0.5)
    assert at.threshold == 0.5 and at.same


def test_the_fmr_of_the_similarity_is_interpolated_on_a_log_scale() -> None:
    a, b = pair(0.5)
    result = compare(a, b, TABLE, max_fmr=0.01)
    assert result.similarity == pytest.approx(0.5, abs=1e-6)
    assert result.fmr == pytest.approx(math.sqrt(0.01 * 0.001), rel=1e-3)
    assert result.calibration_source == TABLE.basis and "hand-made test table" in TABLE.basis
    assert "different people score this high" in result.fmr_words
    assert "score at or above the threshold" in result.threshold_words


def test_edge_similarities() -> None:
    same = compare(face([1.0, 0.0]), face([1.0, 0.0]), TABLE, max_fmr=0.01)
    assert same.same and same.similarity == pytest.approx(1.0)
    assert same.fmr == pytest.approx(TABLE.min_fmr / 2)  # floored: the table cannot resolve 0
    assert same.fmr_words.startswith("fewer than 1 in 10,000")
    opposite = compare(face([1.0, 0.0]), face([-1.0, 0.0]), TABLE, max_fmr=0.01)
    assert not opposite.same and opposite.fmr == 1.0
    assert opposite.fmr_words == "most different people score this high"


def test_what_cannot_be_compared_is_refused() -> None:
    a, _ = pair(0.5)
    with pytest.raises(InputError, match="embedded"):
        compare(a, face(None), TABLE, max_fmr=0.01)
    with pytest.raises(InputError, match="different models"):
        compare(a, face([1.0, 0.0, 0.0]), TABLE, max_fmr=0.01)
    with pytest.raises(InputError, match="below what this calibration can resolve"):
        compare(a, a, TABLE, max_fmr=1e-6)  # the rate asked for is the input refused


# --- fused: two models' scores, one decision ----------------------------------------------

FUSION = Fusion(
    model_ids=("test:0", "second:0"),
    impostor_mean=(0.0, 0.5),
    impostor_std=(0.1, 0.05),
    weights=(0.5, 0.5),
    source="made in the test",
)


def two_models(first: float, second: float | None) -> tuple[Face, Face]:
    """Two faces whose first embeddings score ``first`` and second ones ``second``."""
    a, b = pair(first)
    if second is None:
        return a, b
    a2, b2 = pair(second)
    return replace(a, second_embedding=a2.embedding), replace(b, second_embedding=b2.embedding)


def test_one_model_lists_it_and_its_score() -> None:
    result = compare(*pair(0.5), TABLE, max_fmr=0.01)
    assert result.models == ("test:0",) and result.scores == (result.similarity,)
    shown = result.as_dict()
    assert shown["models"] == ["test:0"] and shown["scores"] == {"test:0": 0.5}


def test_fused_the_similarity_is_the_fused_score_priced_by_the_given_table() -> None:
    a, b = two_models(0.35, 0.8)
    result = compare(a, b, TABLE, max_fmr=0.01, fusion=FUSION)
    # z = (0.35 - 0) / 0.1 = 3.5 and (0.8 - 0.5) / 0.05 = 6, averaged 4.75, back onto the
    # first model's scale: 0 + 0.1 * 4.75; the threshold at FMR 0.01 is 0.4
    assert result.similarity == pytest.approx(FUSION.fuse(0.35, 0.8)) == pytest.approx(0.475)
    assert result.same and result.fmr == pytest.approx(TABLE.fmr_at(0.475))
    assert result.models == ("test:0", "second:0")
    assert result.scores == pytest.approx((0.35, 0.8))
    assert result.as_dict()["scores"] == {"test:0": 0.35, "second:0": 0.8}
    alone = compare(a, b, TABLE, max_fmr=0.01)  # the first model alone says different
    assert not alone.same and alone.similarity == pytest.approx(0.35)


def test_fused_both_faces_need_the_second_embedding() -> None:
    a, b = two_models(0.35, 0.8)
    with pytest.raises(InputError, match="second model"):
        compare(a, replace(b, second_embedding=None), TABLE, max_fmr=0.01, fusion=FUSION)
