"""Open-set 1:N figures for one model, two, and their fusion, on synthetic embeddings."""

from __future__ import annotations

import numpy as np
import pytest

from facesearch.core.fusion import Fusion
from facesearch.evaluation import open_set
from facesearch.evaluation.lfw import EmbeddingSet

IDS = ("sface:aaaaaaaaaaaa", "dlib_resnet:bbbbbbbbbbbb")


def _lfw_like(seed: int, noise: float) -> EmbeddingSet:
    """30 people with 3 images (gallery + 2 mated probes) and 40 with one (distractors and
    non-mated probes), LFW-style names; embeddings near each person's centre."""
    rng = np.random.default_rng(seed)
    names, rows = [], []
    for p in range(70):
        centre = rng.standard_normal(64)
        for s in range(3 if p < 30 else 1):
            names.append(f"P{p:03d}/P{p:03d}_{s + 1:04d}.jpg")
            rows.append(centre + noise * rng.standard_normal(64))
    x = np.asarray(rows)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    second = np.random.default_rng(seed + 1).standard_normal(x.shape)
    second /= np.linalg.norm(second, axis=1, keepdims=True)  # an uninformative second model
    found = np.ones(len(names), dtype=bool)
    return EmbeddingSet(names, x.astype(np.float32), found, second.astype(np.float32), IDS)


def test_fusion_with_all_weight_on_the_primary_is_the_primary_alone() -> None:
    emb = _lfw_like(0, noise=1.2)
    primary_only = Fusion(IDS, (0.0, 0.0), (0.1, 0.1), (1.0, 0.0), "test")
    alone = open_set.evaluate(emb)
    fused = open_set.evaluate_fused(emb, primary_only)
    assert 0.3 < alone["rank1_hit_rate"] < 1.0  # the test has something to get wrong
    assert fused["rank1_hit_rate"] == alone["rank1_hit_rate"]
    assert fused["rank10_hit_rate"] == alone["rank10_hit_rate"]
    for target, row in alone["fnir_at_fpir"].items():
        assert fused["fnir_at_fpir"][target]["fnir"] == pytest.approx(row["fnir"])


def test_side_by_side_lists_each_model_and_the_fusion() -> None:
    emb = _lfw_like(0, noise=1.2)
    half = Fusion(IDS, (0.0, 0.0), (0.1, 0.1), (0.5, 0.5), "test fusion")
    results = open_set.side_by_side(emb, IDS, half)
    assert list(results) == ["sface", "dlib_resnet", "fused"]
    assert 0.3 < results["sface"]["rank1_hit_rate"] < 1.0
    assert results["dlib_resnet"]["rank1_hit_rate"] < 0.3  # noise
    assert results["sface"]["rank1_hit_rate"] > results["fused"]["rank1_hit_rate"]
    assert results["fused"]["model_id"] == half.model_id
    table = open_set.describe(results)
    assert "fused" in table and "test fusion" in table
    assert list(open_set.side_by_side(emb, IDS, None)) == ["sface", "dlib_resnet"]
