"""Similarity -> estimated false match rate, from an impostor score distribution. Pure + JSON.

A table is built from labelled embeddings: every pair of images of two different people is
an impostor pair, every pair of images of one person a genuine (mated) pair. For each
similarity s on a grid, FMR(s) = share of impostor pairs scoring >= s and FNMR(s) = share of
genuine pairs scoring < s. The shipped table for SFace comes from all of LFW (13,233 images,
5,749 people: about 87 million impostor pairs, 240 thousand genuine pairs); see the README for
its limits (celebrities in news photos, skewed demographics, a handful of label errors) and
for how to rebuild it from an operator's own labelled photos (``facesearch calibrate``).

The FMR a table shows is conservative (``core.fmr_bound``): an upper confidence bound on the
observed share, counting pairs that share a person as dependent, times a margin for photos
unlike the calibration set; the plain share is kept as ``fmr_observed``. ``basis`` says what
the figure rests on, for every display.

Search uses it to state, for a candidate at similarity s in a gallery of N faces, the expected
number of impostors at or above s: FMR(s) x N.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from facesearch.core import fmr_bound
from facesearch.core.fmr_bound import CONFIDENCE, POPULATION_MARGIN, PersonCounts
from facesearch.errors import ConfigError, InputError
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
    # The plain share of impostor pairs with score >= similarity[i] (empty in a table fitted
    # without a bound, whose ``fmr`` is that share).
    fmr_observed: tuple[float, ...] = ()
    confidence: float = 0.0  # one-sided level of the upper bound in ``fmr``; 0: no bound
    population_margin: float = 1.0  # ``fmr`` = this x the bound, for photos unlike these
    people: int = 0  # people the impostor pairs came from (0: not recorded)
    design_effect: float = 1.0  # impostor pairs per independent one, at most (jackknife)
    # the lowest FMR a check on held-out people confirmed this table down to (``eval
    # fmr-check``); the words never claim a rarer one. 0: not checked (the words go down to
    # ``min_fmr``)
    checked_fmr: float = 0.0

    @cached_property
    def min_fmr(self) -> float:
        """The smallest FMR the table can resolve: one impostor pair, or the smallest rate it
        shows when that is larger (a conservative table never shows less)."""
        return max(1.0 / max(self.impostor_pairs, 1), min(self.fmr, default=0.0))

    @property
    def words_floor(self) -> float:
        """The rarest FMR the words claim: ``min_fmr``, or ``checked_fmr`` where that is
        higher (rarer rates than the check reached are estimates, not measurements)."""
        return max(self.min_fmr, self.checked_fmr)

    @cached_property
    def _log_curve(self) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
        """The grid and the log of its FMRs (floored at min_fmr/2), for ``fmr_at``: made once
        per table, not once per candidate."""
        rates = np.maximum(np.asarray(self.fmr, dtype=np.float64), self.min_fmr / 2)
        return np.asarray(self.similarity, dtype=np.float64), np.log(rates)

    @property
    def conservative(self) -> bool:
        return self.confidence > 0 and self.population_margin >= 1

    @property
    def basis(self) -> str:
        """What the FMR shown rests on, in one sentence (pages, reports, the CLI)."""
        people = f" of {self.people:,} people" if self.people else ""
        head = f"Calibrated on {self.source}: {self.impostor_pairs:,} impostor pairs{people}."
        if not self.conservative:
            return (
                f"{head} The false match rate shown is the share seen there, with no allowance "
                "for chance or for photos unlike these: it may understate."
            )
        return (
            f"{head} The false match rate shown is a conservative estimate: the upper "
            f"{100 * self.confidence:g} % confidence bound (pairs that share a person counted "
            f"as dependent) times {self.population_margin:g} for photos unlike these."
        )

    @property
    def basis_short(self) -> str:
        """``basis`` in a few words (a candidate card)."""
        name = self.source.split(",")[0].split("(")[0].split(":")[0].strip()
        if not self.conservative:
            return f"FMR as seen on {name} ({self.impostor_pairs:,} impostor pairs), unbounded"
        return (
            f"conservative FMR: {100 * self.confidence:g} % bound x "
            f"{self.population_margin:g}, {name} ({self.impostor_pairs:,} impostor pairs)"
        )

    def fmr_at(self, similarity: float) -> float:
        """Estimated FMR at ``similarity`` (log-linear interpolation, floored at min_fmr/2)."""
        sims, log_rates = self._log_curve
        return min(1.0, float(np.exp(np.interp(similarity, sims, log_rates))))

    @property
    def lowest_askable(self) -> str:
        """``min_fmr`` in two significant figures, rounded up: the rarest rate to suggest
        (4.3e-07 for a floor of 4.33e-07 would be refused in its turn)."""
        return f"{_round_up(self.min_fmr):.1e}"

    def threshold_for_asked_fmr(self, max_fmr: float) -> float:
        """``threshold_for_fmr`` of a rate someone asked for (a search's, an erasure's, a
        verification's ``max_fmr``): below what this table resolves it is their input that
        is refused (InputError), not the deployment's settings (the ConfigError of
        ``threshold_for_fmr``)."""
        if max_fmr < self.min_fmr:
            raise InputError(
                f"a false match rate of {max_fmr:g} is below what this calibration can "
                f"resolve ({self.min_fmr:.1e}, from {self.impostor_pairs:,} impostor pairs): "
                f"ask for {self.lowest_askable} or more"
            )
        return self.threshold_for_fmr(max_fmr)

    def threshold_for_fmr(self, max_fmr: float, *, setting: str = "") -> float:
        """The lowest similarity whose estimated FMR is at most ``max_fmr``; ConfigError
        below ``min_fmr``, naming ``setting`` (its environment variable) where the rate is
        that setting's value."""
        if max_fmr < self.min_fmr:
            what = f"{setting}={max_fmr:g}" if setting else f"an FMR of {max_fmr:g}"
            fix = f": set {setting} to {self.lowest_askable} or more" if setting else ""
            raise ConfigError(
                f"{what} is below what the calibration table of "
                f"{self.model_id.split(':')[0]} can resolve ({self.min_fmr:.1e}, from "
                f"{self.impostor_pairs:,} impostor pairs"
                f"{', bounded conservatively' if self.conservative else ''}){fix}"
            )
        for sim, rate in zip(self.similarity, self.fmr, strict=True):
            if rate <= max_fmr:
                return float(sim)
        return float(self.similarity[-1])

    def as_dict(self) -> dict[str, Any]:
        return fields_dict(self)


def describe_fmr(fmr: float, min_fmr: float) -> str:
    """FMR in words: 'about 1 in 12,000 different people score this high'; 'fewer than' at
    the table's floor (``fmr_at`` gives it back through exp(log), a rounding off: hence the
    relative tolerance)."""
    if fmr <= min_fmr * (1 + 1e-9):
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


def _round_up(x: float, digits: int = 2) -> float:
    """``x`` rounded up to ``digits`` significant figures (a float that prints as such)."""
    if x <= 0:
        return x
    power = math.floor(math.log10(x)) - digits + 1
    up = math.ceil(round(x / 10.0**power, 9)) * 10.0**power
    return float(f"{up:.{digits - 1}e}")


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
    confidence: float = CONFIDENCE,
    population_margin: float = POPULATION_MARGIN,
) -> CalibrationTable:
    """All-pairs impostor and genuine histograms of unit embeddings grouped by label; the FMR
    bounded as ``ScoreHistograms.table`` says, each impostor pair counted under its people."""
    x = np.ascontiguousarray(embeddings, dtype=np.float32)
    return table_from_rows(
        lambda start, stop: x[start:stop] @ x.T,
        labels,
        model_id=model_id,
        source=source,
        chunk=chunk,
        confidence=confidence,
        population_margin=population_margin,
    )


def table_from_rows(
    rows: Callable[[int, int], npt.NDArray[np.floating[Any]]],
    labels: Sequence[str],
    *,
    model_id: str,
    source: str,
    chunk: int = 2048,
    confidence: float = CONFIDENCE,
    population_margin: float = POPULATION_MARGIN,
) -> CalibrationTable:
    """The table of every pair of n labelled items, whose scores ``rows(start, stop)`` gives
    a block of rows at a time ((stop - start) x n: cosine similarities, or a fused score)."""
    _, codes = np.unique(np.asarray(labels), return_inverse=True)
    hist = ScoreHistograms()
    n = len(codes)
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        sims = rows(start, stop)
        upper = np.arange(n)[None, :] > np.arange(start, stop)[:, None]  # each pair once
        same = codes[start:stop][:, None] == codes[None, :]
        impostor = upper & ~same
        rows_of, cols_of = np.nonzero(impostor)
        people = (codes[start:stop][rows_of], codes[cols_of])
        hist.add(sims[impostor], sims[upper & same], impostor_people=people)
    return hist.table(
        model_id=model_id,
        source=source,
        confidence=confidence,
        population_margin=population_margin,
    )


class ScoreHistograms:
    """Impostor and genuine scores counted on ``GRID``, added in chunks (any score scale
    that lives in -1..1: cosine similarities, or a fused score mapped onto that range).

    ``add(..., impostor_people=(a, b))`` also counts each impostor pair under both of its
    people (integer codes), so ``table`` can measure how much pairs that share a person move
    together (see ``core.fmr_bound``); without it the bound assumes one independent pair per
    image.
    """

    def __init__(self) -> None:
        self._edges = np.concatenate([GRID, [np.inf]])
        self.impostor = np.zeros(len(GRID), dtype=np.int64)
        self.genuine = np.zeros(len(GRID), dtype=np.int64)
        self._below = np.zeros(2, dtype=np.int64)  # scores under GRID[0]: impostor, genuine
        self.per_person = PersonCounts(len(GRID))

    def add(
        self,
        impostor: npt.ArrayLike,
        genuine: npt.ArrayLike,
        *,
        impostor_people: tuple[npt.ArrayLike, npt.ArrayLike] | None = None,
    ) -> None:
        for values, hist, slot in ((impostor, self.impostor, 0), (genuine, self.genuine, 1)):
            v = np.asarray(values, dtype=np.float64).ravel()
            hist += np.histogram(v, bins=self._edges)[0]
            self._below[slot] += int((v < GRID[0]).sum())
        if impostor_people is not None:
            bins = np.searchsorted(GRID, np.asarray(impostor, dtype=np.float64).ravel(), "right")
            for people in impostor_people:
                self.per_person.add(np.asarray(people, dtype=np.int64).ravel(), bins)

    def table(
        self,
        *,
        model_id: str,
        source: str,
        confidence: float = CONFIDENCE,
        population_margin: float = POPULATION_MARGIN,
    ) -> CalibrationTable:
        """The table; its ``fmr`` is the conservative estimate (``fmr_bound.conservative``:
        the one-sided ``confidence`` upper bound times ``population_margin``; 0 and 1 give
        the plain observed share), its ``fmr_observed`` the plain share."""
        imp_hist, gen_hist = self.impostor, self.genuine
        n_imp = int(imp_hist.sum() + self._below[0])
        n_gen = int(gen_hist.sum() + self._below[1])
        if n_imp == 0 or n_gen == 0:
            raise ConfigError(
                "calibration needs at least two people and one person with two images"
            )
        imp_at_or_above = imp_hist[::-1].cumsum()[::-1]
        gen_below = np.concatenate([[0], gen_hist.cumsum()[:-1]]) + self._below[1]
        observed = imp_at_or_above / n_imp
        design = self.per_person.design_effect(imp_at_or_above, n_imp)
        shown = fmr_bound.conservative(
            imp_at_or_above, n_imp, design, confidence=confidence, margin=population_margin
        )
        return CalibrationTable(
            model_id=model_id,
            source=source,
            impostor_pairs=n_imp,
            genuine_pairs=n_gen,
            similarity=tuple(float(s) for s in GRID),
            fmr=tuple(float(v) for v in shown),
            fnmr=tuple(float(v) for v in gen_below / n_gen),
            fmr_observed=tuple(float(v) for v in observed),
            confidence=confidence,
            population_margin=population_margin,
            people=self.per_person.people,
            design_effect=float(design.max()),
        )


FUSED = "fused"  # the key of an operator's file's table of the fused score


def save_table(table: CalibrationTable, path: Path, fused: CalibrationTable | None = None) -> None:
    """Write ``table``; with ``fused``, the table of the fused score of both models as the
    file's ``fused`` record (what ``load_fused_table`` reads), next to the first model's."""
    record = table.as_dict() | ({FUSED: fused.as_dict()} if fused is not None else {})
    path.parent.mkdir(parents=True, exist_ok=True)
    write_private(path, json.dumps(record, separators=(",", ":")).encode())


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
            fmr_observed=tuple(float(v) for v in raw.get("fmr_observed", ())),
            confidence=float(raw.get("confidence", 0.0)),
            population_margin=float(raw.get("population_margin", 1.0)),
            people=int(raw.get("people", 0)),
            design_effect=float(raw.get("design_effect", 1.0)),
            checked_fmr=float(raw.get("checked_fmr", 0.0)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"not a calibration table: {exc}") from exc


def load_table(model_id: str, override: Path | None = None) -> CalibrationTable:
    """The operator's table when given, else the one shipped for ``model_id``."""
    if override is not None:
        raw = _read_file(override)
        try:
            table = table_from_dict(raw)
        except ConfigError as exc:  # which file, and which setting named it
            raise ConfigError(f"calibration file {override}: {exc}") from exc
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
        where = "calibration table" if override is None else f"calibration file {override}"
        raise ConfigError(
            f"{where} is for model {table.model_id}, not {model_id}; "
            "rebuild it with 'facesearch calibrate'"
        )
    return table


def load_fused_table(fusion_id: str, override: Path | None = None) -> CalibrationTable:
    """The table of the fused score of ``fusion_id`` (``Fusion.model_id``): with an
    operator's file (``override``), the file's own (``save_table``'s ``fused``), and a
    ConfigError where it has none or one of another fusion -- never the shipped table in its
    place, which would price the fused score on other photos than the operator asked for;
    without a file, the one shipped for ``fusion_id``."""
    if override is None:
        return load_table(fusion_id)
    raw = _read_file(override).get(FUSED)
    rebuild = f"rebuild it with 'facesearch calibrate DIR --out {override}'"
    if raw is None:
        raise ConfigError(
            f"calibration file {override} (FACESEARCH_CALIBRATION_FILE) has no table for the "
            f"fused score of both models ({fusion_id}), which verify uses while a second "
            f"model is on: {rebuild} with the second model on (it writes both tables), or "
            "set FACESEARCH_SECOND_EMBEDDER=none to verify with the first model alone"
        )
    if not isinstance(raw, dict):
        raise ConfigError(f"calibration file {override}: its fused table is not a table")
    table = table_from_dict(raw)
    if table.model_id != fusion_id:
        raise ConfigError(
            f"the fused table in calibration file {override} is for {table.model_id}, not "
            f"the fusion in use ({fusion_id}: its models or its fitted numbers differ); "
            f"{rebuild}"
        )
    return table


MAX_FILE_BYTES = 64 << 20  # an operator's calibration file; a table is some 40 KB


def _read_file(path: Path) -> dict[str, Any]:
    """The JSON record of an operator's calibration file: a regular file of at most
    MAX_FILE_BYTES (a pipe or a device was read until it ended: ``serve`` waited without a
    word on a pipe, and /dev/zero filled the memory until the process was killed)."""
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise ConfigError(f"calibration file {path} is not a file (a folder, pipe or device)")
        if size > MAX_FILE_BYTES:
            raise ConfigError(
                f"calibration file {path} is {size:,} bytes, more than a calibration table "
                f"({MAX_FILE_BYTES:,} at most)"
            )
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read calibration file {path}: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"calibration file {path} is not a calibration table")
    return raw
