from __future__ import annotations

import numpy as np
import pytest

from facesearch.core.calibration import GRID, ScoreHistograms
from facesearch.core.fmr_bound import PersonCounts, conservative, wilson_upper


def test_wilson_upper_on_known_counts() -> None:
    # one-sided 95 %: z = 1.645; 10 of 1,000 -> about 0.0167; 0 of 1,000 -> z^2/(n+z^2)
    assert wilson_upper(0.01, 1000, 0.95)[()] == pytest.approx(0.01666, abs=1e-4)
    assert wilson_upper(0.0, 1000, 0.95)[()] == pytest.approx(1.645**2 / (1000 + 1.645**2), 1e-3)
    assert wilson_upper(1.0, 10, 0.95)[()] == 1.0
    # fewer independent trials -> a wider bound; more -> closer to the share
    assert wilson_upper(0.01, 100, 0.95) > wilson_upper(0.01, 1000, 0.95) > 0.01
    assert wilson_upper(0.01, 1e8, 0.95)[()] == pytest.approx(0.01, rel=3e-3)


def test_wilson_upper_covers_binomial_draws() -> None:
    """On synthetic independent counts the 95 % bound is under the true rate in at most ~5 %
    of draws (coverage, the point of the bound)."""
    rng = np.random.default_rng(3)
    for p, n in ((1e-3, 20_000), (1e-2, 2_000), (1e-4, 200_000)):
        k = rng.binomial(n, p, size=4000)
        misses = (wilson_upper(k / n, n, 0.95) < p).mean()
        assert misses < 0.075


def test_conservative_is_margin_times_bound_and_monotone() -> None:
    at_or_above = np.array([1000, 100, 10, 1, 0])
    shown = conservative(at_or_above, 1000, np.ones(5), confidence=0.95, margin=2.0)
    bound = wilson_upper(at_or_above / 1000, 1000, 0.95)
    assert shown == pytest.approx(np.minimum(1.0, 2.0 * bound))
    assert (np.diff(shown) <= 0).all() and shown[0] == 1.0
    plain = conservative(at_or_above, 1000, np.ones(5), confidence=0, margin=1.0)
    assert plain == pytest.approx(at_or_above / 1000)
    dependent = conservative(at_or_above, 1000, np.full(5, 10.0))
    assert (dependent[1:4] > shown[1:4]).all()  # fewer independent pairs, wider bound


def test_design_effect_sees_pairs_that_move_together() -> None:
    """Pairs sharing a person: when one 'lamb' accounts for every high score, leaving that
    person out changes the rate a lot, so the design effect is large; when high scores are
    spread evenly over people it stays near 1."""
    rng = np.random.default_rng(0)
    people = 60
    a, b = np.triu_indices(people, 1)
    a, b = np.repeat(a, 30), np.repeat(b, 30)  # 30 image pairs per pair of people
    n = len(a)
    scores = rng.uniform(-0.2, 0.2, n)
    even = scores.copy()
    hot = rng.choice(n, 300, replace=False)
    even[hot] = 0.5
    lamb = scores.copy()
    lamb[np.flatnonzero((a == 0) | (b == 0))[:300]] = 0.5
    effects = []
    for s in (even, lamb):
        hist = ScoreHistograms()
        hist.add(s, [0.9], impostor_people=(a, b))
        at_or_above = hist.impostor[::-1].cumsum()[::-1]
        effects.append(hist.per_person.design_effect(at_or_above, n)[np.searchsorted(GRID, 0.4)])
    assert effects[0] < 3 < 20 < effects[1]


def test_design_effect_without_people_is_one_pair_per_image() -> None:
    counts = PersonCounts(len(GRID))
    effect = counts.design_effect(np.full(len(GRID), 5), 20_000)
    assert effect == pytest.approx(np.full(len(GRID), 20_000 / 200.0))


def test_table_without_people_still_bounds() -> None:
    hist = ScoreHistograms()
    rng = np.random.default_rng(1)
    hist.add(rng.normal(0, 0.1, 50_000), rng.normal(0.6, 0.1, 500))
    t = hist.table(model_id="m:1", source="synthetic")
    assert t.people == 0 and t.conservative
    assert np.all(np.array(t.fmr) >= np.minimum(1, 2 * np.array(t.fmr_observed)) - 1e-12)
