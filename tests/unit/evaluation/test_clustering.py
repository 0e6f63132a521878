"""Pairwise and BCubed scores on hand-made labelings (answers worked out by hand)."""

from __future__ import annotations

import pytest

from facesearch.errors import InputError
from facesearch.evaluation.clustering import bcubed, pairwise

TRUTH = [0, 0, 0, 1, 1]  # two people: items 0-2 and items 3-4 (4 true pairs)


def test_perfect_clustering_scores_one_whatever_the_label_values() -> None:
    pred = [7, 7, 7, -2, -2]
    for scores in (pairwise(pred, TRUTH), bcubed(pred, TRUTH)):
        assert (scores.precision, scores.recall, scores.f) == (1.0, 1.0, 1.0)


def test_all_in_one_cluster() -> None:
    pred = [0] * 5
    pw = pairwise(pred, TRUTH)  # 10 predicted pairs, 4 of them true
    assert pw.precision == pytest.approx(0.4)
    assert pw.recall == 1.0
    assert pw.f == pytest.approx(2 * 0.4 / 1.4)
    b = bcubed(pred, TRUTH)  # precision 3/5 for three items, 2/5 for two
    assert b.precision == pytest.approx((3 * 3 / 5 + 2 * 2 / 5) / 5)
    assert b.recall == 1.0
    assert b.f == pytest.approx(2 * 0.52 / 1.52)


def test_all_singletons() -> None:
    pred = [0, 1, 2, 3, 4]
    pw = pairwise(pred, TRUTH)
    assert (pw.precision, pw.recall, pw.f) == (1.0, 0.0, 0.0)
    b = bcubed(pred, TRUTH)  # recall 1/3 for three items, 1/2 for two
    assert b.precision == 1.0
    assert b.recall == pytest.approx(0.4)
    assert b.f == pytest.approx(2 * 0.4 / 1.4)


def test_mixed_case() -> None:
    pred = [0, 0, 1, 1, 2]  # {0,1} right, {2,3} straddles both people, {4} alone
    pw = pairwise(pred, TRUTH)  # predicted pairs (0,1) and (2,3); only (0,1) true
    assert pw.precision == pytest.approx(0.5)
    assert pw.recall == pytest.approx(0.25)
    assert pw.f == pytest.approx(1 / 3)
    b = bcubed(pred, TRUTH)
    assert b.precision == pytest.approx((1 + 1 + 0.5 + 0.5 + 1) / 5)
    assert b.recall == pytest.approx((2 / 3 + 2 / 3 + 1 / 3 + 1 / 2 + 1 / 2) / 5)
    assert b.f == pytest.approx(0.64)


def test_lengths_must_agree() -> None:
    with pytest.raises(InputError):
        pairwise([0, 1], [0, 1, 2])
    with pytest.raises(InputError):
        bcubed([], [])
