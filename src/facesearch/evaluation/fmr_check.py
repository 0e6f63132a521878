"""Does the FMR shown understate? Fit a table on some LFW people, measure on the others.

The people of LFW are split by a hash of their names: ``held_out_share`` of them are left out
of the fit. The table (conservative, ``core.calibration.build_table``) is fitted on the rest;
at the threshold it gives for each target FMR, the false match rate is measured on

- ``held-out``: every impostor pair of the held-out people's clean images;
- ``<degradation> probe``: a degraded copy of a held-out image against the clean images of the
  other held-out people (a poor probe searched in a clean gallery);
- ``<degradation> both``: impostor pairs among the degraded copies themselves.

With ``fused`` (``on_lfw``), the score is the shipped fusion of SFace and the second model
(``core.fusion.load_fusion``: what verify shows) over both models' embeddings of the same
faces, clean and degraded, and the table is fitted on fused scores (``table_from_rows``).

A threshold passes when every measured FMR is at most ``MAX_RATIO`` x the FMR shown. A
measurement counts only where its pairs could show a breach: at least ``MIN_EXPECTED``
impostor pairs expected at the shown FMR.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from facesearch.core.calibration import CalibrationTable, table_from_rows
from facesearch.core.fusion import Fusion, load_fusion
from facesearch.errors import ConfigError
from facesearch.evaluation import lfw
from facesearch.evaluation.degraded import (
    ISSUE_SET,
    Degradation,
    QualitySet,
    embed_degraded,
    first_people,
    person_of,
)
from facesearch.evaluation.lfw import EmbeddingSet
from facesearch.pipeline import FacePipeline

TARGETS = (1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5, 1e-5)
MAX_RATIO = 1.5
MIN_EXPECTED = 10.0
HELD_OUT_SHARE = 0.3

Vectors = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Labelled:
    """Unit embeddings and the person of each (``second``: the second model's, same rows)."""

    embeddings: Vectors
    people: tuple[str, ...]
    second: Vectors | None = None

    def take(self, keep: npt.NDArray[np.bool_]) -> Labelled:
        second = None if self.second is None else self.second[keep]
        return Labelled(self.embeddings[keep], tuple(np.array(self.people)[keep]), second)

    def scores(
        self, start: int, stop: int, other: Labelled, fusion: Fusion | None
    ) -> npt.NDArray[np.float64]:
        """Rows ``start:stop`` against every item of ``other``: cosine similarities, or
        with ``fusion`` the fused score of both models' similarities."""
        first = self.embeddings[start:stop] @ other.embeddings.T
        if fusion is None:
            return first.astype(np.float64)
        if self.second is None or other.second is None:
            raise ConfigError("a fused check needs the second model's embeddings")
        return fusion.fuse(first, self.second[start:stop] @ other.second.T)


@dataclass(frozen=True)
class Measured:
    what: str  # "held-out", "face-40px probe", ...
    fmr: float
    pairs: int  # impostor pairs measured on
    resolved: bool  # enough pairs to see a breach of MAX_RATIO x shown


@dataclass(frozen=True)
class CheckRow:
    target: float
    threshold: float
    shown: float  # the table's FMR at the threshold
    fit_observed: float  # the plain share in the fit
    measured: tuple[Measured, ...]

    @property
    def ratio(self) -> float:
        """The worst measured / shown among resolved measurements (0 when none is)."""
        return max((m.fmr / self.shown for m in self.measured if m.resolved), default=0.0)

    @property
    def resolved(self) -> bool:
        return any(m.resolved for m in self.measured)

    @property
    def passed(self) -> bool:
        return self.ratio <= MAX_RATIO


@dataclass(frozen=True)
class FmrCheck:
    table: CalibrationTable
    fit_people: int
    held_out_people: int
    rows: tuple[CheckRow, ...]

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.rows)


def held_out(person: str, share: float = HELD_OUT_SHARE) -> bool:
    """Whether ``person`` is left out of the fit (a fixed hash of the name, not random)."""
    digest = hashlib.sha256(person.encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < share


def check(
    fit: Labelled,
    held: Labelled,
    degraded: Mapping[str, Labelled],
    *,
    model_id: str,
    source: str,
    targets: Sequence[float] = TARGETS,
    fusion: Fusion | None = None,
) -> FmrCheck:
    """Fit on ``fit``, measure on ``held`` and on degraded copies of held-out images (each
    ``degraded`` set holds copies of some of ``held``'s images, labelled by person); the
    score is the cosine similarity, or with ``fusion`` the fused score (its ``model_id``)."""
    table = table_from_rows(
        lambda start, stop: fit.scores(start, stop, fit, fusion),
        list(fit.people),
        model_id=fusion.model_id if fusion else model_id,
        source=source,
    )
    thresholds = []
    for target in targets:
        if target >= table.min_fmr:
            thresholds.append((target, table.threshold_for_fmr(target)))
    limits = np.array([t for _, t in thresholds])
    columns = [("held-out", *_count(held, None, limits, fusion))]
    for name, copies in degraded.items():
        columns.append((f"{name} probe", *_count(copies, held, limits, fusion)))
        columns.append((f"{name} both", *_count(copies, None, limits, fusion)))
    rows = []
    for i, (target, threshold) in enumerate(thresholds):
        shown = table.fmr_at(threshold)
        measured = tuple(
            Measured(what, float(at[i] / n), n, n * shown >= MIN_EXPECTED)
            for what, at, n in columns
        )
        observed = float(np.interp(threshold, table.similarity, table.fmr_observed))
        rows.append(CheckRow(target, threshold, shown, observed, measured))
    return FmrCheck(table, len(set(fit.people)), len(set(held.people)), tuple(rows))


def _count(
    a: Labelled,
    b: Labelled | None,
    limits: npt.NDArray[np.float64],
    fusion: Fusion | None = None,
    chunk: int = 1024,
) -> tuple[npt.NDArray[np.int64], int]:
    """Impostor pairs at or above each limit, and how many impostor pairs in all: among
    ``a`` (each unordered pair once) or between ``a`` and ``b``."""
    codes = np.unique(np.asarray(a.people + (b.people if b else ())), return_inverse=True)[1]
    codes_a = codes[: len(a.people)]
    codes_b = codes[len(a.people) :] if b else codes_a
    other = b or a
    at = np.zeros(len(limits), dtype=np.int64)
    total = 0
    for start in range(0, len(a.embeddings), chunk):
        stop = min(len(a.embeddings), start + chunk)
        sims = a.scores(start, stop, other, fusion)
        mask = codes_a[start:stop, None] != codes_b[None, :]
        if b is None:
            mask &= np.arange(len(other.people))[None, :] > np.arange(start, stop)[:, None]
        scores = np.sort(sims[mask])
        total += len(scores)
        at += len(scores) - np.searchsorted(scores, limits, side="left")
    return at, total


def describe(result: FmrCheck) -> str:
    """The check as a text table: one line per threshold, one column per measurement."""
    t = result.table
    names = [m.what for m in result.rows[0].measured] if result.rows else []
    head = (
        f"Conservative-FMR check of {t.model_id}: fitted on {result.fit_people:,} LFW people "
        f"({t.impostor_pairs:,} impostor pairs), measured on {result.held_out_people:,} "
        f"held out. Pass: measured <= {MAX_RATIO:g} x shown at every resolved threshold.\n"
        f"{t.basis}\n"
    )
    cols = "".join(f"{n:>18}" for n in names)
    lines = [head, f"{'target':>7} {'thresh':>7} {'shown':>9} {'fit obs':>9}{cols}  ratio  ok"]
    for r in result.rows:
        cells = "".join(f"{_cell(m):>18}" for m in r.measured)
        verdict = ("pass" if r.passed else "FAIL") if r.resolved else "n/a"
        lines.append(
            f"{r.target:>7.0e} {r.threshold:>7.4f} {r.shown:>9.2e} {r.fit_observed:>9.2e}"
            f"{cells}  {r.ratio:>5.2f}  {verdict}"
        )
    pairs = ", ".join(f"{m.what} {m.pairs:,}" for m in result.rows[0].measured) if names else ""
    lines.append(f"impostor pairs measured: {pairs}; '-' = too few pairs to resolve")
    lines.append("result: " + ("PASS" if result.passed else "FAIL"))
    return "\n".join(lines)


def _cell(m: Measured) -> str:
    return f"{m.fmr:.2e}" if m.resolved else f"({m.fmr:.1e})-"


def on_lfw(
    pipeline: FacePipeline,
    data: Path,
    *,
    people: int | None = None,
    degradations: Sequence[Degradation] = ISSUE_SET,
    progress: bool = False,
    fused: bool = False,
) -> FmrCheck:
    """``check`` on LFW at ``data`` (every person, or the first ``people`` by name), with
    embeddings cached (``lfw.embed_images``, ``degraded.embed_degraded``); ``fused``: of the
    shipped fusion's score (ConfigError when no second model is configured)."""
    fusion = None
    if fused:
        if pipeline.second_spec is None:
            raise ConfigError("a fused check needs a second model (FACESEARCH_SECOND_EMBEDDER)")
        fusion = load_fusion(pipeline.model_id, pipeline.second_spec.model_id)
    names = first_people(lfw.all_images(data), people)
    root = data / lfw.IMAGES
    out = _clean(lfw.embed_images(pipeline, root, names, progress=progress, second=fused))
    is_held = np.array([held_out(p) for p in out.people], dtype=bool)
    fit, held = out.take(~is_held), out.take(is_held)
    held_names = [n for n in names if held_out(person_of(n))]
    copies = {
        d.name: _labelled(
            embed_degraded(pipeline, root, held_names, d, progress=progress, second=fused)
        )
        for d in degradations
    }
    score = "the shipped fusion's score" if fusion else "cosine similarity"
    source = (
        f"LFW deep-funneled, {len(fit.people):,} images of {len(set(fit.people)):,} people, "
        f"{score} (the fit half of 'facesearch eval fmr-check')"
    )
    return check(fit, held, copies, model_id=pipeline.model_id, source=source, fusion=fusion)


def _clean(emb: EmbeddingSet) -> Labelled:
    """The clean images with a face, labelled by person (the folder name)."""
    keep = emb.found
    people = tuple(person_of(n) for n, k in zip(emb.names, keep, strict=True) if k)
    second = None if emb.second is None else emb.second[keep]
    return Labelled(emb.embeddings[keep], people, second)


def _labelled(found: QualitySet) -> Labelled:
    """The images with a face, labelled by person (the folder name)."""
    kept = found.subset(found.found)
    return Labelled(kept.embeddings, tuple(person_of(n) for n in kept.names), kept.second)
