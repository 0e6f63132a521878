"""Scores of a clustering against the truth: pairwise and BCubed precision, recall, F. Pure.

Both take two int label arrays of equal length (the predicted cluster and the true class of
each item; the label values themselves mean nothing, only which items share one).

- Pairwise: over all unordered pairs of items, precision = pairs in one predicted cluster that
  are truly one class / pairs in one predicted cluster; recall = those same pairs / pairs truly
  of one class. With no predicted pair (all singletons) precision is 1 by convention; with no
  true pair recall is 1.
- BCubed (Bagga & Baldwin 1998; Amigo et al. 2009): for each item, precision = share of its
  predicted cluster that is of its class, recall = share of its class that is in its predicted
  cluster; both averaged over items.

F is the harmonic mean of the precision and recall (0 when both are 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from facesearch.errors import InputError

Labels = npt.ArrayLike


@dataclass(frozen=True)
class ClusterScores:
    precision: float
    recall: float

    @property
    def f(self) -> float:
        p, r = self.precision, self.recall
        return 0.0 if p + r == 0 else 2 * p * r / (p + r)


def _contingency(
    pred: Labels, truth: Labels
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Cell counts n_ij (one per non-empty (cluster, class) cell), and for each cell the size
    of its predicted cluster and of its true class."""
    p = np.asarray(pred).ravel()
    t = np.asarray(truth).ravel()
    if p.shape != t.shape:
        raise InputError(f"{len(p)} predicted labels for {len(t)} true ones")
    if not len(p):
        raise InputError("no items to score")
    _, p_inv, p_size = np.unique(p, return_inverse=True, return_counts=True)
    _, t_inv, t_size = np.unique(t, return_inverse=True, return_counts=True)
    cells, cell_count = np.unique(
        np.stack([p_inv.ravel(), t_inv.ravel()], axis=1), axis=0, return_counts=True
    )
    return (
        cell_count.astype(np.int64),
        p_size[cells[:, 0]].astype(np.int64),
        t_size[cells[:, 1]].astype(np.int64),
    )


def _pairs(n: npt.NDArray[np.int64]) -> int:
    return int((n * (n - 1) // 2).sum())


def pairwise(pred: Labels, truth: Labels) -> ClusterScores:
    """Pairwise precision and recall (F as ``.f``) of ``pred`` against ``truth``."""
    cell, _, _ = _contingency(pred, truth)
    _, p_size = np.unique(np.asarray(pred).ravel(), return_counts=True)
    _, t_size = np.unique(np.asarray(truth).ravel(), return_counts=True)
    both, pred_pairs, true_pairs = _pairs(cell), _pairs(p_size), _pairs(t_size)
    return ClusterScores(
        precision=both / pred_pairs if pred_pairs else 1.0,
        recall=both / true_pairs if true_pairs else 1.0,
    )


def bcubed(pred: Labels, truth: Labels) -> ClusterScores:
    """BCubed precision and recall (F as ``.f``) of ``pred`` against ``truth``."""
    cell, cluster_size, class_size = _contingency(pred, truth)
    n = float(cell.sum())
    # Each of the n_ij items of a cell has precision n_ij / |cluster| and recall n_ij / |class|.
    square = cell.astype(np.float64) ** 2
    return ClusterScores(
        precision=float((square / cluster_size).sum() / n),
        recall=float((square / class_size).sum() / n),
    )
