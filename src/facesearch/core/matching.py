"""1:1 verification of two faces against a calibrated threshold. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from facesearch.core.calibration import CalibrationTable, describe_fmr
from facesearch.errors import InputError
from facesearch.types import Face


@dataclass(frozen=True)
class Verification:
    similarity: float
    threshold: float
    same: bool
    fmr: float  # estimated share of different people scoring at least this high
    fmr_words: str
    threshold_fmr: float
    threshold_words: str
    calibration_source: str

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
            "note": "A match is a lead for a person to check, never an identification.",
        }


def compare(
    a: Face, b: Face, table: CalibrationTable, *, max_fmr: float, threshold: float | None = None
) -> Verification:
    if a.embedding is None or b.embedding is None:
        raise InputError("both faces must be embedded before they can be compared")
    if a.embedding.shape != b.embedding.shape:
        raise InputError("the two embeddings come from different models")
    similarity = float(np.dot(a.embedding, b.embedding))
    t = table.threshold_for_fmr(max_fmr) if threshold is None else threshold
    fmr = table.fmr_at(similarity)
    t_fmr = table.fmr_at(t)
    return Verification(
        similarity=similarity,
        threshold=t,
        same=similarity >= t,
        fmr=fmr,
        fmr_words=describe_fmr(fmr, table.min_fmr),
        threshold_fmr=t_fmr,
        threshold_words=describe_fmr(t_fmr, table.min_fmr).replace(
            "score this high", "score at or above the threshold"
        ),
        calibration_source=table.source,
    )
