"""Misses and false matches by probe quality: FNMR and FMR per bucket of face size, sharpness
and yaw, at the calibrated threshold, on LFW and its degraded copies.

Probes: every image of the held-out people of ``fmr_check`` (clean, and each degraded copy of
``degraded.BUCKET_SET``), bucketed by its ``core.quality.assess`` figures. Gallery: the clean
images of the same people. A genuine pair is a probe and another clean photo of its person
(never the photo it was copied from); an impostor pair a probe and a clean photo of someone
else. Each factor is bucketed on its own (a small face is also less sharp once aligned, so
the buckets of one factor carry some of the others' effect: they describe probes as they
come, not a controlled experiment). The result ships as ``data/quality-<model>.json``
(``core.quality.QualityTable``), from which a search on a poorer probe says how much less
reliable it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import numpy as np
import numpy.typing as npt

from facesearch.core.calibration import CalibrationTable
from facesearch.core.quality import BUCKETS, QualityBucket, QualityTable
from facesearch.evaluation import lfw
from facesearch.evaluation.degraded import (
    BUCKET_SET,
    CLEAN,
    Degradation,
    QualitySet,
    embed_degraded,
)
from facesearch.evaluation.fmr_check import held_out
from facesearch.pipeline import FacePipeline


@dataclass(frozen=True)
class Probes:
    """Probe embeddings with their quality, person and the clean photo each came from."""

    embeddings: npt.NDArray[np.float32]
    quality: npt.NDArray[np.float64]  # (n, 3): size, sharpness, |yaw|
    person: npt.NDArray[np.int64]
    origin: npt.NDArray[np.int64]  # row of the gallery photo it was made from


def measure(
    probes: Probes,
    gallery: npt.NDArray[np.float32],
    gallery_person: npt.NDArray[np.int64],
    threshold: float,
    *,
    max_fmr: float,
    source: str,
    model_id: str,
    chunk: int = 512,
) -> QualityTable:
    """FNMR and FMR at ``threshold`` for each bucket of ``core.quality.BUCKETS``."""
    n = len(probes.embeddings)
    gen_miss, gen_all = np.zeros(n), np.zeros(n)
    imp_hit, imp_all = np.zeros(n), np.zeros(n)
    cols = np.arange(len(gallery))
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        sims = probes.embeddings[start:stop] @ gallery.T
        same = probes.person[start:stop, None] == gallery_person[None, :]
        genuine = same & (probes.origin[start:stop, None] != cols[None, :])
        above = sims >= threshold
        gen_miss[start:stop] = (genuine & ~above).sum(axis=1)
        gen_all[start:stop] = genuine.sum(axis=1)
        imp_hit[start:stop] = (~same & above).sum(axis=1)
        imp_all[start:stop] = (~same).sum(axis=1)
    rows = []
    for factor, column, edges, _ in BUCKETS:
        values = np.abs(probes.quality[:, column])
        for lo, hi in pairwise(edges):
            inside = (values >= lo) & (values < hi)
            rows.append(
                QualityBucket(
                    factor=factor,
                    low=float(lo),
                    high=float(hi),
                    probes=int(inside.sum()),
                    genuine_pairs=int(gen_all[inside].sum()),
                    impostor_pairs=int(imp_all[inside].sum()),
                    fnmr=_share(gen_miss[inside].sum(), gen_all[inside].sum()),
                    fmr=_share(imp_hit[inside].sum(), imp_all[inside].sum()),
                )
            )
    return QualityTable(
        model_id=model_id,
        source=source,
        max_fmr=max_fmr,
        threshold=threshold,
        buckets=tuple(rows),
    )


def _share(part: float, whole: float) -> float:
    return float(part / whole) if whole else float("nan")


def on_lfw(
    pipeline: FacePipeline,
    data: Path,
    table: CalibrationTable,
    *,
    max_fmr: float,
    people: int | None = None,
    degradations: Sequence[Degradation] = BUCKET_SET,
    progress: bool = False,
) -> QualityTable:
    """``measure`` on the held-out people of LFW at ``data`` (or of its first ``people``),
    at ``table``'s threshold for ``max_fmr``; embeddings cached."""
    names = [n for n in lfw.all_images(data) if held_out(n.split("/")[0])]
    if people is not None:
        keep = set(sorted({n.split("/")[0] for n in names})[:people])
        names = [n for n in names if n.split("/")[0] in keep]
    root = data / lfw.IMAGES
    clean = embed_degraded(pipeline, root, names, CLEAN, progress=progress)
    codes = np.unique([n.split("/")[0] for n in names], return_inverse=True)[1]
    sets = [clean] + [
        embed_degraded(pipeline, root, names, d, progress=progress) for d in degradations
    ]
    probes = _probes(sets, codes)
    found = clean.found
    gallery = np.where(found[:, None], clean.embeddings, 0.0).astype(np.float32)
    gallery_person = np.where(found, codes, -1)  # a photo without a face matches no one
    copies = ", ".join(d.name for d in degradations)
    source = (
        f"LFW deep-funneled, {len(names):,} images of {len(set(codes.tolist())):,} people "
        f"held out of the fmr-check fit, clean and degraded ({copies})"
    )
    return measure(
        probes,
        gallery,
        gallery_person,
        table.threshold_for_fmr(max_fmr),
        max_fmr=max_fmr,
        source=source,
        model_id=pipeline.model_id,
    )


def _probes(sets: Sequence[QualitySet], codes: npt.NDArray[np.int64]) -> Probes:
    origin = np.arange(len(codes))
    keep = [s.found for s in sets]
    return Probes(
        embeddings=np.concatenate([s.embeddings[k] for s, k in zip(sets, keep, strict=True)]),
        quality=np.concatenate([s.quality[k] for s, k in zip(sets, keep, strict=True)]),
        person=np.concatenate([codes[k] for k in keep]),
        origin=np.concatenate([origin[k] for k in keep]),
    )


def describe(table: QualityTable) -> str:
    """The table as text: one line per bucket, FNMR and FMR against the good probes'."""
    lines = [
        f"FNMR and FMR by probe quality at FMR {table.max_fmr:g} (threshold "
        f"{table.threshold:.4f}), model {table.model_id}",
        f"measured on {table.source}",
        f"{'factor':<10} {'bucket':<14} {'probes':>7} {'genuine':>9} {'impostor':>11} "
        f"{'FNMR':>8} {'xgood':>6} {'FMR':>9} {'xgood':>6}",
    ]
    for b in table.buckets:
        ref = table.reference(b.factor)
        lines.append(
            f"{b.factor:<10} {b.span:<14} {b.probes:>7,} {b.genuine_pairs:>9,} "
            f"{b.impostor_pairs:>11,} {100 * b.fnmr:>7.2f}% {_ratio(b.fnmr, ref.fnmr):>6} "
            f"{b.fmr:>9.2e} {_ratio(b.fmr, ref.fmr):>6}"
        )
    return "\n".join(lines)


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.1f}" if b > 0 and a == a else "-"
