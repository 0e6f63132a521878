"""Verification metrics on scored pairs. Pure."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Scores = npt.NDArray[np.float64]
Labels = npt.NDArray[np.bool_]


def best_threshold(scores: Scores, same: Labels) -> float:
    """The threshold maximising accuracy on (scores, same), deciding "same" above it. Cuts
    fall only between distinct scores (never inside a tie), below all or above all; the
    threshold lies midway between the distinct scores either side of the best cut."""
    values, at = np.unique(scores, return_inverse=True)
    impostors_at = np.bincount(at[~same], minlength=len(values))
    genuine_at = np.bincount(at[same], minlength=len(values))
    # Cut c: "same" for values[c:]; correct = impostors below the cut + genuine above it.
    impostors_below = np.r_[0, np.cumsum(impostors_at)]
    genuine_above = same.sum() - np.r_[0, np.cumsum(genuine_at)]
    c = int(np.argmax(impostors_below + genuine_above))
    edges = np.r_[values[0] - 2e-6, values, values[-1] + 2e-6]
    return float((edges[c] + edges[c + 1]) / 2)


@dataclass(frozen=True)
class FoldResult:
    threshold: float
    accuracy: float


def ten_fold(scores: Scores, same: Labels, folds: npt.NDArray[np.int64]) -> list[FoldResult]:
    """LFW View 2: for each fold, threshold chosen on the other nine, accuracy on it."""
    out = []
    for k in np.unique(folds):
        train, test = folds != k, folds == k
        t = best_threshold(scores[train], same[train])
        accuracy = float(((scores[test] > t) == same[test]).mean())
        out.append(FoldResult(threshold=t, accuracy=accuracy))
    return out


def roc(scores: Scores, same: Labels) -> tuple[Scores, Scores, Scores]:
    """(false accept rate, true accept rate, threshold) for every distinct threshold."""
    order = np.argsort(-scores, kind="stable")
    s, y = scores[order], same[order]
    tp = np.cumsum(y)
    fp = np.cumsum(~y)
    distinct = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]
    far = np.r_[0.0, fp[distinct] / max(int((~y).sum()), 1)]
    tar = np.r_[0.0, tp[distinct] / max(int(y.sum()), 1)]
    thr = np.r_[np.inf, s[distinct]]
    return far, tar, thr


def tar_at_far(scores: Scores, same: Labels, far_target: float) -> float:
    """Highest TAR whose FAR does not exceed ``far_target``."""
    far, tar, _ = roc(scores, same)
    ok = far <= far_target + 1e-12
    return float(tar[ok].max()) if ok.any() else 0.0


def eer(scores: Scores, same: Labels) -> float:
    far, tar, _ = roc(scores, same)
    frr = 1.0 - tar
    i = int(np.argmin(np.abs(far - frr)))
    return float((far[i] + frr[i]) / 2)
