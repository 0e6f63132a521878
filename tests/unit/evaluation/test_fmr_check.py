"""The held-out FMR check on synthetic people: counting, splitting, pass and fail."""

from __future__ import annotations

import numpy as np
import pytest

from facesearch.evaluation.fmr_check import (
    MAX_RATIO,
    Labelled,
    _count,
    check,
    describe,
    held_out,
)


def people(n: int, per: int, seed: int, spread: float = 0.9, dim: int = 24) -> Labelled:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n, dim))
    x = np.repeat(centres, per, axis=0) + spread * rng.normal(size=(n * per, dim))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return Labelled(
        x.astype(np.float32), tuple(f"s{seed}p{i}" for i in range(n) for _ in range(per))
    )


def test_count_matches_brute_force_within_and_between_sets() -> None:
    a, b = people(12, 3, 1), people(10, 2, 2)
    limits = np.array([0.0, 0.2, 0.4])
    at, total = _count(a, None, limits, chunk=5)
    sims = a.embeddings @ a.embeddings.T
    lab = np.array(a.people)
    iu = np.triu_indices(len(lab), 1)
    imp = sims[iu][lab[iu[0]] != lab[iu[1]]]
    assert total == len(imp) and at.tolist() == [(imp >= t).sum() for t in limits]
    at, total = _count(a, b, limits)
    cross = (a.embeddings @ b.embeddings.T).ravel()
    assert total == len(cross) and at.tolist() == [(cross >= t).sum() for t in limits]


def test_held_out_is_a_fixed_share_of_people() -> None:
    names = [f"Person_{i}" for i in range(4000)]
    share = np.mean([held_out(n) for n in names])
    assert share == pytest.approx(0.3, abs=0.03)
    assert [held_out(n) for n in names[:50]] == [held_out(n) for n in names[:50]]


def test_same_population_passes_and_a_looser_one_fails() -> None:
    """Held-out people drawn like the fit pass; 'degraded' copies whose impostors score much
    higher (a population the margin does not cover) fail, and the table says so."""
    fit, held = people(300, 3, 1), people(200, 3, 2)
    result = check(fit, held, {}, model_id="m:1", source="synthetic", targets=(1e-2, 3e-3))
    assert result.passed and all(r.resolved for r in result.rows)
    assert all(r.shown <= r.target for r in result.rows)
    rng = np.random.default_rng(5)
    tight = held.embeddings + 1.5 * rng.normal(size=(1, held.embeddings.shape[1]))
    tight /= np.linalg.norm(tight, axis=1, keepdims=True)  # everyone shifted one way
    worse = Labelled(tight.astype(np.float32), held.people)
    result = check(fit, held, {"shifted": worse}, model_id="m:1", source="s", targets=(1e-2,))
    assert not result.passed and result.rows[0].ratio > MAX_RATIO
    text = describe(result)
    assert "FAIL" in text and "shifted probe" in text and "conservative" in text
