from __future__ import annotations

import numpy as np

from facesearch.evaluation import metrics


def test_perfectly_separable() -> None:
    scores = np.array([0.1, 0.2, 0.8, 0.9])
    same = np.array([False, False, True, True])
    t = metrics.best_threshold(scores, same)
    assert 0.2 < t < 0.8
    assert metrics.tar_at_far(scores, same, 0.0) == 1.0
    assert metrics.eer(scores, same) == 0.0


def test_best_threshold_never_splits_a_tie() -> None:
    """A cut between equal scores put the threshold on the tied value, and ``>`` rejected
    the whole tie: 0.60 where 0.80 is reachable."""
    scores = np.array([0.1, 0.5, 0.5, 0.5, 0.9])
    same = np.array([False, False, True, True, True])
    t = metrics.best_threshold(scores, same)
    assert 0.1 < t < 0.5
    assert ((scores > t) == same).mean() == 0.8


def test_best_threshold_may_accept_everything() -> None:
    scores = np.array([0.1, 0.2, 0.3, 0.4, 0.5])
    same = np.array([True, True, False, True, True])
    t = metrics.best_threshold(scores, same)
    assert t < 0.1 and (scores > t).all()


def test_ten_fold_uses_other_folds() -> None:
    rng = np.random.default_rng(0)
    same = np.tile([True, False], 300)
    scores = np.where(same, rng.normal(0.7, 0.1, 600), rng.normal(0.1, 0.1, 600))
    folds = np.repeat(np.arange(10), 60)
    res = metrics.ten_fold(scores, same, folds)
    assert len(res) == 10
    acc = np.mean([r.accuracy for r in res])
    assert 0.99 < acc <= 1.0


def test_tar_at_far_counts_impostors() -> None:
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.5])
    same = np.array([True, False, True, True, False])
    assert metrics.tar_at_far(scores, same, 0.0) == 1 / 3
    assert metrics.tar_at_far(scores, same, 0.5) == 1.0
