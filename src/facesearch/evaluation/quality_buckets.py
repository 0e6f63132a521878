"""Misses and false matches by probe quality: FNMR and FMR per bucket of face size, sharpness
and yaw, at the calibrated threshold, on LFW and its degraded copies.

Probes: the images of the held-out people of ``fmr_check``, clean and degraded
(``degraded.BUCKET_SET``), bucketed by their ``core.quality.assess`` figures. Each factor's
buckets are filled only from the copies that change that factor (``FEEDS``: size from the
clean photos and their downscaled copies, sharpness from the clean and blurred ones at full
size, yaw from the clean ones), so a bucket shows that factor's effect, not a mix (a small
face is also less sharp once aligned). Gallery: the clean images of the same people. A
genuine pair is a probe and another clean photo of its person (never the photo it was copied
from); an impostor pair a probe and a clean photo of someone else. A degraded face the
detector missed is not a probe (its search fails with "no face"). The result ships as
``data/quality-<model>.json`` (``core.quality.QualityTable``), from which a search on a
poorer probe says how much less reliable it is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
    first_people,
    person_of,
)
from facesearch.evaluation.fmr_check import held_out
from facesearch.pipeline import FacePipeline

NAN = float("nan")
Floats = npt.NDArray[np.float64]
# The copies that feed each factor's buckets: only that aspect varies (besides the clean
# photos), so a bucket's figures are that factor's effect, not a mix.
FEEDS = {
    "size": ("clean", "face-24px", "face-32px", "face-40px", "face-56px"),
    "sharpness": ("clean", "blur-1px", "blur-2px", "blur-3px"),
    "yaw": ("clean",),
}


@dataclass(frozen=True)
class Probes:
    """Probe embeddings with their quality, person and the clean photo each came from."""

    embeddings: npt.NDArray[np.float32]
    quality: npt.NDArray[np.float64]  # (n, 3): size, sharpness, |yaw|
    person: npt.NDArray[np.int64]
    origin: npt.NDArray[np.int64]  # row of the gallery photo it was made from


def measure(
    probes: Mapping[str, Probes],
    gallery: npt.NDArray[np.float32],
    gallery_person: npt.NDArray[np.int64],
    threshold: float,
    *,
    max_fmr: float,
    source: str,
    model_id: str,
) -> QualityTable:
    """FNMR and FMR at ``threshold`` for each bucket of ``core.quality.BUCKETS``, each
    factor's buckets filled from its own ``probes[factor]``. FNMR is averaged over probes
    (each probe's share of its genuine pairs missed; a person with hundreds of photos counts
    as much as one with two); FMR is the share of all the bucket's impostor pairs."""
    rows = []
    for factor, column, edges, _ in BUCKETS:
        mine = probes[factor]
        missed, genuine, false, impostor = _per_probe(mine, gallery, gallery_person, threshold)
        values = np.abs(mine.quality[:, column])
        for lo, hi in pairwise(edges):
            inside = (values >= lo) & (values < hi)
            mated = inside & (genuine > 0)
            rows.append(
                QualityBucket(
                    factor=factor,
                    low=float(lo),
                    high=float(hi),
                    probes=int(mated.sum()),
                    genuine_pairs=int(genuine[inside].sum()),
                    impostor_pairs=int(impostor[inside].sum()),
                    fnmr=float((missed[mated] / genuine[mated]).mean()) if mated.any() else NAN,
                    fmr=_share(false[inside].sum(), impostor[inside].sum()),
                )
            )
    return QualityTable(
        model_id=model_id,
        source=source,
        max_fmr=max_fmr,
        threshold=threshold,
        buckets=tuple(rows),
    )


def _per_probe(
    probes: Probes,
    gallery: npt.NDArray[np.float32],
    gallery_person: npt.NDArray[np.int64],
    threshold: float,
    chunk: int = 512,
) -> tuple[Floats, Floats, Floats, Floats]:
    """Per probe: genuine pairs missed, genuine pairs, false matches, impostor pairs."""
    n = len(probes.embeddings)
    out = [np.zeros(n) for _ in range(4)]
    cols = np.arange(len(gallery))
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        above = probes.embeddings[start:stop] @ gallery.T >= threshold
        same = probes.person[start:stop, None] == gallery_person[None, :]
        genuine = same & (probes.origin[start:stop, None] != cols[None, :])
        impostor = ~same & (gallery_person >= 0)[None, :]
        masks = (genuine & ~above, genuine, impostor & above, impostor)
        for slot, mask in zip(out, masks, strict=True):
            slot[start:stop] = mask.sum(axis=1)
    return out[0], out[1], out[2], out[3]


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
    held = [n for n in lfw.all_images(data) if held_out(person_of(n))]
    names = first_people(held, people)
    root = data / lfw.IMAGES
    codes = np.unique([person_of(n) for n in names], return_inverse=True)[1]
    sets = {
        d.name: embed_degraded(pipeline, root, names, d, progress=progress)
        for d in (CLEAN, *degradations)
        if any(d.name in kinds for kinds in FEEDS.values())
    }
    probes = {
        factor: _probes([sets[k] for k in kinds if k in sets], codes)
        for factor, kinds in FEEDS.items()
    }
    clean = sets[CLEAN.name]
    gallery = np.where(clean.found[:, None], clean.embeddings, 0.0).astype(np.float32)
    gallery_person = np.where(clean.found, codes, -1)  # a photo without a face matches no one
    copies = ", ".join(name for name in sets if name != CLEAN.name)
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
