"""Similarity -> estimated false match rate, from an impostor score distribution. Pure + JSON.

A table is built from labelled embeddings: every pair of images of two different people is
an impostor pair, every pair of images of one person a genuine (mated) pair. For each
similarity s on a grid, FMR(s) = share of impostor pairs scoring >= s and FNMR(s) = share of
genuine pairs scoring < s. The shipped table for SFace comes from all of LFW (13,233 images,
5,749 people: about 87 million impostor pairs, 240 thousand genuine pairs); see the README for
its limits (celebrities in news photos, skewed demographics, a handful of label errors) and
for how to rebuild it from an operator's own labelled photos (``facesearch calibrate``).

Search uses it to state, for a candidate at similarity s in a gallery of N faces, the expected
number of impostors at or above s: FMR(s) x N.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from facesearch.errors import ConfigError
from facesearch.private import write_private
from facesearch.types import fields_dict

GRID_STEP = 0.0025
GRID = np.round(np.arange(-1.0, 1.0 + GRID_STEP / 2, GRID_STEP), 4)


@dataclass(frozen=True)
class CalibrationTable:
    model_id: str
    source: str
    impostor_pairs: int
    genuine_pairs: int
    similarity: tuple[float, ...]  # ascending grid
    fmr: tuple[float, ...]  # share of impostor pairs with score >= similarity[i]
    fnmr: tuple[float, ...]  # share of genuine pairs with score < similarity[i]

    @property
    def min_fmr(self) -> float:
        """The smallest FMR the table can resolve (one impostor pair)."""
        return 1.0 / max(self.impostor_pairs, 1)

    def fmr_at(self, similarity: float) -> float:
        """Estimated FMR at ``similarity`` (log-linear interpolation, floored at min_fmr/2)."""
        sims = np.asarray(self.similarity)
        rates = np.maximum(np.asarray(self.fmr), self.min_fmr / 2)
        value = float(np.exp(np.interp(similarity, sims, np.log(rates))))
        return min(1.0, value)

    def threshold_for_fmr(self, max_fmr: float) -> float:
        """The lowest similarity whose estimated FMR is at most ``max_fmr``."""
        if max_fmr < self.min_fmr:
            raise ConfigError(
                f"an FMR of {max_fmr:g} is below what this calibration can resolve "
                f"({self.min_fmr:.1e}, from {self.impostor_pairs:,} impostor pairs)"
            )
        for sim, rate in zip(self.similarity, self.fmr, strict=True):
            if rate <= max_fmr:
                return float(sim)
        return float(self.similarity[-1])

    def as_dict(self) -> dict[str, Any]:
        return fields_dict(self)


def describe_fmr(fmr: float, min_fmr: float) -> str:
    """FMR in words: 'about 1 in 12,000 different people score this high'."""
    if fmr <= min_fmr:
        return f"fewer than 1 in {round(1 / min_fmr):,} different people score this high"
    if fmr >= 0.5:
        return "most different people score this high"
    return f"about 1 in {_round_sig(1 / fmr):,} different people score this high"


def describe_expected(expected: float) -> str:
    """An expected number of false candidates in plain figures (no 5.5e-06)."""
    if expected < 0.01:
        return "fewer than 0.01"
    if expected < 10:
        return "about " + f"{expected:.2f}".rstrip("0").rstrip(".")
    return f"about {expected:,.0f}"


def _round_sig(x: float, digits: int = 2) -> int:
    if x <= 0:
        return 0
    power: int = max(0, math.floor(math.log10(x)) - digits + 1)
    scale: int = 10**power
    return round(x / scale) * scale


def build_table(
    embeddings: npt.NDArray[np.float32],
    labels: Sequence[str],
    *,
    model_id: str,
    source: str,
    chunk: int = 2048,
) -> CalibrationTable:
    """All-pairs impostor and genuine histograms of unit embeddings grouped by label."""
    x = np.ascontiguousarray(embeddings, dtype=np.float32)
    _, codes = np.unique(np.asarray(labels), return_inverse=True)
    hist = ScoreHistograms()
    n = len(x)
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        sims = x[start:stop] @ x.T
        rows = np.arange(start, stop)[:, None]
        upper = np.arange(n)[None, :] > rows  # each unordered pair once
        same = codes[start:stop][:, None] == codes[None, :]
        hist.add(sims[upper & ~same], sims[upper & same])
    return hist.table(model_id=model_id, source=source)


class ScoreHistograms:
    """Impostor and genuine scores counted on ``GRID``, added in chunks (any score scale
    that lives in -1..1: cosine similarities, or a fused score mapped onto that range)."""

    def __init__(self) -> None:
        self._edges = np.concatenate([GRID, [np.inf]])
        self.impostor = np.zeros(len(GRID), dtype=np.int64)
        self.genuine = np.zeros(len(GRID), dtype=np.int64)
        self._below = np.zeros(2, dtype=np.int64)  # scores under GRID[0]: impostor, genuine

    def add(self, impostor: npt.ArrayLike, genuine: npt.ArrayLike) -> None:
        for values, hist, slot in ((impostor, self.impostor, 0), (genuine, self.genuine, 1)):
            v = np.asarray(values, dtype=np.float64).ravel()
            hist += np.histogram(v, bins=self._edges)[0]
            self._below[slot] += int((v < GRID[0]).sum())

    def table(self, *, model_id: str, source: str) -> CalibrationTable:
        imp_hist, gen_hist = self.impostor, self.genuine
        n_imp = int(imp_hist.sum() + self._below[0])
        n_gen = int(gen_hist.sum() + self._below[1])
        if n_imp == 0 or n_gen == 0:
            raise ConfigError(
                "calibration needs at least two people and one person with two images"
            )
        imp_at_or_above = imp_hist[::-1].cumsum()[::-1]
        gen_below = np.concatenate([[0], gen_hist.cumsum()[:-1]]) + self._below[1]
        return CalibrationTable(
            model_id=model_id,
            source=source,
            impostor_pairs=n_imp,
            genuine_pairs=n_gen,
            similarity=tuple(float(s) for s in GRID),
            fmr=tuple(float(v) for v in imp_at_or_above / n_imp),
            fnmr=tuple(float(v) for v in gen_below / n_gen),
        )


def save_table(table: CalibrationTable, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_private(path, json.dumps(table.as_dict(), separators=(",", ":")).encode())


def table_from_dict(raw: dict[str, Any]) -> CalibrationTable:
    try:
        return CalibrationTable(
            model_id=str(raw["model_id"]),
            source=str(raw["source"]),
            impostor_pairs=int(raw["impostor_pairs"]),
            genuine_pairs=int(raw["genuine_pairs"]),
            similarity=tuple(float(v) for v in raw["similarity"]),
            fmr=tuple(float(v) for v in raw["fmr"]),
            fnmr=tuple(float(v) for v in raw["fnmr"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"not a calibration table: {exc}") from exc


def load_table(model_id: str, override: Path | None = None) -> CalibrationTable:
    """The operator's table when given, else the one shipped for ``model_id``."""
    if override is not None:
        try:
            raw = json.loads(override.read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"cannot read calibration file {override}: {exc}") from exc
        table = table_from_dict(raw)
    else:
        name = f"calibration-{model_id.split(':')[0]}.json"
        try:
            text = resources.files("facesearch").joinpath("data", name).read_text()
        except (FileNotFoundError, OSError) as exc:
            raise ConfigError(
                f"no calibration table ships for model {model_id}; build one with "
                "'facesearch calibrate DIR' and set FACESEARCH_CALIBRATION_FILE"
            ) from exc
        table = table_from_dict(json.loads(text))
    if table.model_id != model_id:
        raise ConfigError(
            f"calibration table is for model {table.model_id}, not {model_id}; "
            "rebuild it with 'facesearch calibrate'"
        )
    return table
