"""Verification metrics on scored pairs. Pure."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

Scores = npt.NDArray[np.float64]
Labels = npt.NDArray[np.bool_]


def best_threshold(scores: Scores, same: Labels) -> float:
    """The threshold maximising accuracy on (scores, same); midpoint between sorted scores."""
    order = np.argsort(scores)
    s, y = scores[order], same[order]
    # Deciding "same" for scores > t: correct = genuine above t + impostors at or below t.
    impostors_below = np.cumsum(~y)
    genuine_above = y.sum() - np.cumsum(y)
    correct = impostors_below + genuine_above
    i = int(np.argmax(correct))
    upper = s[i + 1] if i + 1 < len(s) else s[i] + 1e-6
    return float((s[i] + upper) / 2)


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
