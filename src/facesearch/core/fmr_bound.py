"""A false match rate that does not understate: an upper confidence bound on the share of
impostor pairs at or above a score, times a margin for photos unlike the calibration set. Pure.

Why not a plain binomial bound on the pairs: the ~87 million impostor pairs of LFW come from
5,749 people, and pairs that share a person move together (a person who looks like many
others -- a "lamb" -- adds many high-scoring pairs at once). So the pairs are not independent
draws. We measure how much they move together with a delete-one-person jackknife: the variance
of the FMR estimate when each person in turn is left out, against the variance the same share
would have if every pair were independent. Their ratio is the design effect; the bound is a
one-sided Wilson score bound on the observed share with n / design effect independent pairs.
Where fewer than ``MIN_COUNT`` impostor pairs score that high the jackknife is unstable, so
the design effect of the last score with enough pairs is carried up to the higher scores.
Measured on all of LFW with SFace, the effective number of independent impostor pairs is
about the number of people (4,300 for 5,749 people) at FMR 1e-1, about the number of images
(12,000) at 1e-2, 35,000 at 1e-3 and 50,000 at 1e-4 -- out of 87 million pairs. When the
pairs' people are not known, one independent pair per image is assumed: sqrt(2 n) of n pairs.

Why the margin: on photos from other sources the real FMR at a score was measured at up to
about twice the LFW table's estimate between 1e-2 and 1e-4 (issue 12). ``POPULATION_MARGIN``
multiplies the bound by that factor; the held-out and degraded-copy check
(``evaluation.fmr_check``) shows the measured FMR stays under it.
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import numpy.typing as npt

CONFIDENCE = 0.95  # one-sided level of the upper bound
POPULATION_MARGIN = 2.0  # issue 12: up to ~2x the LFW estimate measured on other photos
MIN_COUNT = 20  # impostor pairs at or above a score needed to measure its design effect

Floats = npt.NDArray[np.float64]


def wilson_upper(share: npt.ArrayLike, n: npt.ArrayLike, confidence: float) -> Floats:
    """One-sided Wilson score upper bound on a binomial proportion ``share`` seen in ``n``
    trials (``n`` may be fractional: an effective number of independent trials)."""
    p = np.clip(np.asarray(share, dtype=np.float64), 0.0, 1.0)
    n_ = np.maximum(np.asarray(n, dtype=np.float64), 1e-12)
    z = NormalDist().inv_cdf(confidence)
    z2n = z * z / n_
    centre = p + z2n / 2
    half = z * np.sqrt(p * (1 - p) / n_ + z2n / (4 * n_))
    upper: Floats = np.minimum(1.0, (centre + half) / (1 + z2n))
    return upper


def conservative(
    at_or_above: npt.ArrayLike,
    n: int,
    design_effect: npt.ArrayLike,
    *,
    confidence: float = CONFIDENCE,
    margin: float = POPULATION_MARGIN,
) -> Floats:
    """The FMR to show at each score of an ascending grid: ``margin`` x the ``confidence``
    upper bound on ``at_or_above / n`` with ``n / design_effect`` independent pairs, capped at
    1 and never rising with the score. ``confidence`` 0 skips the bound."""
    share = np.asarray(at_or_above, dtype=np.float64) / n
    if confidence > 0:
        share = wilson_upper(share, n / np.maximum(np.asarray(design_effect), 1.0), confidence)
    shown = np.minimum(1.0, margin * share)
    out: Floats = np.maximum.accumulate(shown[::-1])[::-1]
    return out


class PersonCounts:
    """Impostor pairs counted per person and score bin: column 0 holds scores under the grid,
    column g + 1 those in the grid's bin g (``searchsorted(grid, score, "right")``)."""

    def __init__(self, bins: int) -> None:
        self._cols = bins + 1
        self.counts = np.zeros((0, self._cols), dtype=np.int64)

    @property
    def people(self) -> int:
        return int((self.counts.sum(axis=1) > 0).sum())

    def add(self, people: npt.NDArray[np.int64], bins: npt.NDArray[np.intp]) -> None:
        if not people.size:
            return
        rows = max(len(self.counts), int(people.max()) + 1)
        if rows > len(self.counts):
            grown = np.zeros((rows, self._cols), dtype=np.int64)
            grown[: len(self.counts)] = self.counts
            self.counts = grown
        flat = np.bincount(people * self._cols + bins, minlength=rows * self._cols)
        self.counts += flat.reshape(rows, self._cols)

    def design_effect(self, at_or_above: npt.NDArray[np.int64], n: int) -> Floats:
        """Per grid score: jackknife variance of the FMR over people / binomial variance
        (at least 1). With fewer than three people known: n / sqrt(2 n), one independent pair
        per image (n pairs come from about sqrt(2 n) images)."""
        grid = len(at_or_above)
        counts = self.counts[self.counts.sum(axis=1) > 0]
        people = len(counts)
        if people < 3:
            return np.full(grid, max(1.0, n / np.sqrt(2.0 * n)))
        mine = counts[:, 1:][:, ::-1].cumsum(axis=1)[:, ::-1]  # each person's pairs >= score
        left = (n - counts.sum(axis=1)).astype(np.float64)[:, None]
        leave_one_out = (at_or_above[None, :] - mine) / left
        spread = ((leave_one_out - leave_one_out.mean(axis=0)) ** 2).sum(axis=0)
        variance = (people - 1) / people * spread
        share = at_or_above / n
        binomial = share * (1 - share) / n
        ok = (at_or_above >= MIN_COUNT) & (binomial > 0)
        ratio = np.where(ok, variance / np.where(ok, binomial, 1.0), np.nan)
        ratio[0] = 1.0 if np.isnan(ratio[0]) else ratio[0]
        for i in range(1, grid):  # carry the last measured ratio up to higher scores
            if np.isnan(ratio[i]):
                ratio[i] = ratio[i - 1]
        out: Floats = np.maximum(ratio, 1.0)
        return out
