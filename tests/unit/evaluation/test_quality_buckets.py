"""FNMR and FMR by probe-quality bucket, against brute force on a small synthetic set."""

from __future__ import annotations

import numpy as np
import pytest

from facesearch.evaluation.quality_buckets import Probes, describe, measure


def test_buckets_count_misses_and_false_matches_by_probe_quality() -> None:
    rng = np.random.default_rng(0)
    gallery = rng.normal(size=(40, 16)).astype(np.float32)
    gallery /= np.linalg.norm(gallery, axis=1, keepdims=True)
    person = np.arange(40) // 4  # 10 people, 4 photos each
    # probes: a noisy copy of each gallery photo; the first 20 small (30 px), the rest big
    noise = np.where(np.arange(40)[:, None] < 20, 1.0, 0.2) * rng.normal(size=(40, 16))
    probes = gallery + noise.astype(np.float32) * 0.3
    probes /= np.linalg.norm(probes, axis=1, keepdims=True)
    quality = np.column_stack([np.where(np.arange(40) < 20, 30.0, 100.0), np.full(40, 90.0),
                               np.zeros(40)])  # fmt: skip
    p = Probes(probes.astype(np.float32), quality, person, np.arange(40))
    every = dict.fromkeys(("size", "sharpness", "yaw"), p)
    table = measure(every, gallery, person, 0.5, max_fmr=1e-3, source="synthetic", model_id="m:1")
    sims = probes @ gallery.T
    small = next(b for b in table.buckets if b.factor == "size" and b.low == 24)
    rows = np.arange(20)
    genuine = (person[rows, None] == person[None, :]) & (rows[:, None] != np.arange(40)[None, :])
    assert small.probes == 20 and small.genuine_pairs == genuine.sum() == 60
    per_probe = ((sims[rows] < 0.5) & genuine).sum(axis=1) / genuine.sum(axis=1)
    assert small.fnmr == pytest.approx(per_probe.mean())
    assert small.fmr == (sims[rows][person[rows, None] != person[None, :]] >= 0.5).mean()
    good = table.reference("size")
    assert good.probes == 20 and good.fnmr < small.fnmr
    assert "size" in describe(table) and "xgood" in describe(table)
