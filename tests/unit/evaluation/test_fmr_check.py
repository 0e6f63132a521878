"""The held-out FMR check on synthetic people: counting, splitting, pass and fail."""

from __future__ import annotations

import numpy as np
import pytest

from facesearch.core.fusion import Fusion
from facesearch.errors import ConfigError
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


def with_second(x: Labelled, seed: int) -> Labelled:
    """``x`` with a second model's embeddings: its own, a little noisier."""
    rng = np.random.default_rng(seed)
    y = x.embeddings + 0.5 * rng.normal(size=x.embeddings.shape)
    y /= np.linalg.norm(y, axis=1, keepdims=True)
    return Labelled(x.embeddings, x.people, y.astype(np.float32))


FUSION = Fusion(("m:1", "n:1"), (0.0, 0.1), (0.2, 0.1), (0.7, 0.3), "synthetic")


def test_fused_count_scores_pairs_by_the_fusion_of_both_models() -> None:
    a, b = with_second(people(12, 3, 1), 3), with_second(people(10, 2, 2), 4)
    limits = np.array([0.0, 0.2, 0.4])
    assert a.second is not None and b.second is not None
    fused = FUSION.fuse(a.embeddings @ b.embeddings.T, a.second @ b.second.T).ravel()
    at, total = _count(a, b, limits, FUSION, chunk=5)
    assert total == len(fused) and at.tolist() == [(fused >= t).sum() for t in limits]
    assert at.tolist() != _count(a, b, limits)[0].tolist()  # not the cosine counts


def test_fused_check_fits_the_fused_table_and_needs_both_models() -> None:
    fit, held = with_second(people(300, 3, 1), 3), with_second(people(200, 3, 2), 4)
    result = check(fit, held, {}, model_id="m:1", source="s", targets=(1e-2,), fusion=FUSION)
    assert result.table.model_id == FUSION.model_id and result.passed
    cosine = check(fit, held, {}, model_id="m:1", source="s", targets=(1e-2,))
    assert result.rows[0].threshold != cosine.rows[0].threshold  # fused scores, not cosine
    with pytest.raises(ConfigError, match="second model"):
        check(people(30, 3, 1), held, {}, model_id="m", source="s", fusion=FUSION)
