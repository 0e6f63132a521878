"""1:1 verification of two faces against a calibrated threshold. Pure.

With one model the similarity is the cosine of the two faces' embeddings, priced by that
model's table. With a ``Fusion`` (a second model configured) each model scores the pair, the
scores are fused (``Fusion.fuse``: onto the first model's -1..1 scale) and the fused score is
priced by the fused table (``load_table(fusion.model_id)``); the threshold and the false match
rate are then the fused ones, and ``Verification`` lists every model used and its score.
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any

import numpy as np

from facesearch.core.calibration import CalibrationTable, describe_fmr
from facesearch.core.fusion import Fusion
from facesearch.errors import InputError
from facesearch.types import Embedding, Face

MAX_TOP = 1000  # the most candidates a search returns per probe face


@dataclass(frozen=True)
class Verification:
    similarity: float  # the fused score where two models were used
    threshold: float
    same: bool
    fmr: float  # estimated share of different people scoring at least this high
    fmr_words: str
    threshold_fmr: float
    threshold_words: str
    calibration_source: str
    models: tuple[str, ...] = ()  # the model ids that scored the pair
    scores: tuple[float, ...] = ()  # each model's own cosine score, in the order of models

    def as_dict(self) -> dict[str, Any]:
        return {
            "similarity": round(self.similarity, 5),
            "threshold": round(self.threshold, 5),
            "same_person": self.same,
            "fmr": self.fmr,
            "fmr_words": self.fmr_words,
            "threshold_fmr": self.threshold_fmr,
            "threshold_words": self.threshold_words,
            "calibration": self.calibration_source,
            "models": list(self.models),
            "scores": self.scores_by_model(),
            "note": "A match is a lead for a person to check, never an identification.",
        }

    def scores_by_model(self) -> dict[str, float]:
        """Each model's own score, by model id (rounded for display)."""
        return {m: round(s, 5) for m, s in zip(self.models, self.scores, strict=True)}


def cosine(a: Embedding | None, b: Embedding | None, what: str) -> float:
    """The cosine of two unit vectors; InputError if either is missing or they differ in size."""
    if a is None or b is None:
        raise InputError(f"both faces must be embedded{what} before they can be compared")
    if a.shape != b.shape:
        raise InputError("the two embeddings come from different models")
    return float(np.dot(a, b))


def compare(
    a: Face,
    b: Face,
    table: CalibrationTable,
    *,
    max_fmr: float,
    threshold: float | None = None,
    fusion: Fusion | None = None,
    setting: str = "",
) -> Verification:
    """Decide whether ``a`` and ``b`` are the same person. With ``fusion``, both faces need
    their ``second_embedding`` too and ``table`` must be the fused table. ``setting``: the
    environment variable ``max_fmr`` came from, where it is a setting's value and not a rate
    someone asked for (below the table's floor it is then a ConfigError naming it, not an
    InputError)."""
    scores = [cosine(a.embedding, b.embedding, "")]
    if fusion is None:
        models: tuple[str, ...] = (table.model_id,)
        similarity = scores[0]
    else:
        scores.append(cosine(a.second_embedding, b.second_embedding, " by the second model"))
        models = tuple(fusion.model_ids)
        similarity = float(fusion.fuse(*scores))
    if threshold is not None:
        t = threshold
    elif setting:
        t = table.threshold_for_fmr(max_fmr, setting=setting)
    else:
        t = table.threshold_for_asked_fmr(max_fmr)
    fmr = table.fmr_at(similarity)
    t_fmr = table.fmr_at(t)
    return Verification(
        similarity=similarity,
        threshold=t,
        same=similarity >= t,
        fmr=fmr,
        fmr_words=describe_fmr(fmr, table.words_floor),
        threshold_fmr=t_fmr,
        threshold_words=describe_fmr(t_fmr, table.words_floor).replace(
            "score this high", "score at or above the threshold"
        ),
        calibration_source=table.basis,
        models=models,
        scores=tuple(scores),
    )


@dataclass(frozen=True)
class Scoring:
    """How two faces are scored and priced: the first model's table and, where a second model
    is configured, the fusion of both models' scores and the table of the fused score."""

    table: CalibrationTable
    fusion: Fusion | None = None
    fused_table: CalibrationTable | None = None

    @property
    def verify_table(self) -> CalibrationTable:
        """The table a 1:1 decision is priced by: the fused one where there are two models."""
        if self.fusion is None or self.fused_table is None:
            return self.table
        return self.fused_table

    def compare(
        self,
        a: Face,
        b: Face,
        *,
        max_fmr: float,
        threshold: float | None = None,
        setting: str = "",
    ) -> Verification:
        """``compare`` with both models where there are two (the faces then need their
        ``second_embedding``), else with the first alone."""
        table = self.verify_table
        fusion = None if table is self.table else self.fusion
        return compare(
            a, b, table, max_fmr=max_fmr, threshold=threshold, fusion=fusion, setting=setting
        )


def check_decision(threshold: float | None, max_fmr: float | None) -> None:
    """InputError unless a comparison's decision rule means something: at most one of a
    similarity threshold (a number from -1 to 1, the range of a cosine and of a fused score)
    and a maximum false match rate (above 0, at most 1)."""
    _check_number(threshold, "a threshold")
    _check_number(max_fmr, "a maximum false match rate")
    if threshold is not None and max_fmr is not None:
        raise InputError("give either a threshold or a maximum false match rate, not both")
    if threshold is not None and not -1 <= threshold <= 1:
        raise InputError(f"a threshold is a similarity, from -1 to 1: not {threshold:g}")
    if max_fmr is not None and not 0 < max_fmr <= 1:
        raise InputError(
            f"a maximum false match rate is a rate above 0 and at most 1: not {max_fmr:g}"
        )


def check_top(top: int | None) -> None:
    """InputError unless ``top``, the candidates asked for per probe face, is None (the
    setting's default) or a whole number from 1 to ``MAX_TOP``: 0 is no default."""
    if top is None:
        return
    if isinstance(top, bool) or not isinstance(top, Integral) or not 1 <= top <= MAX_TOP:
        raise InputError(f"top is a whole number of candidates from 1 to {MAX_TOP}: not {top!r}")


def _check_number(value: object, what: str) -> None:
    """InputError unless ``value`` is None or a number (a bool or a string is not)."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, Real)):
        raise InputError(f"{what} is a number: not {value!r}")
