"""Fitting score fusion on LFW: inside the 10-fold protocol (for ``eval lfw``'s fused
figures) and on the people outside pairs.txt (the shipped fusion and its calibration table).

No leakage either way. In the protocol, fold k's pairs are fused with a ``Fusion`` fitted on
the other nine folds' pairs only (normalisation on their impostor pairs, weights on all of
them), and the accuracy threshold is chosen on those nine folds' fused scores. The shipped
fusion is fitted on every pair of images of the LFW people who appear nowhere in pairs.txt,
so ``verify --pairs`` on pairs.txt scores pairs of people the fit never saw.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from facesearch.core.calibration import CalibrationTable, ScoreHistograms, save_table
from facesearch.core.fusion import Fusion, fit_fusion, fusion_resource
from facesearch.errors import ConfigError
from facesearch.evaluation import metrics
from facesearch.evaluation.lfw import (
    IMAGES,
    EmbeddingSet,
    Pair,
    all_images,
    describe_images,
    embed_images,
    read_pairs,
    report,
    score_pairs,
)
from facesearch.pipeline import FacePipeline
from facesearch.private import write_private

Scores = npt.NDArray[np.float64]
MISSING = -1.0  # the score of a pair where an image has no face (as for a single model)


@dataclass(frozen=True)
class FusedFolds:
    """Out-of-fold fused scores of every pair, and each fold's threshold and fusion."""

    scores: Scores  # pair i fused by the fusion of its own fold (fitted without that fold)
    folds: tuple[metrics.FoldResult, ...]
    fusions: tuple[Fusion, ...]


def ten_fold_fused(
    scores: Sequence[Scores],
    same: npt.NDArray[np.bool_],
    folds: npt.NDArray[np.int64],
    found: npt.NDArray[np.bool_],
    model_ids: Sequence[str],
) -> FusedFolds:
    """The 10-fold protocol with the fusion fitted on the nine training folds each time.
    ``scores[m]`` are model m's scores of every pair; ``found``: both images have a face
    (pairs without one score ``MISSING`` and stay out of every fit)."""
    out = np.full(len(same), MISSING)
    results: list[metrics.FoldResult] = []
    fusions: list[Fusion] = []
    for k in np.unique(folds):
        train, test = folds != k, folds == k
        fit = train & found
        fusion = fit_fusion(
            [s[fit & ~same] for s in scores],
            [s[fit & same] for s in scores],
            model_ids,
            source=f"LFW View 2 pairs.txt, the 9 folds other than fold {int(k) + 1}",
        )
        fused = np.where(found, fusion.fuse(*scores), MISSING)
        threshold = metrics.best_threshold(fused[train], same[train])
        accuracy = float(((fused[test] > threshold) == same[test]).mean())
        results.append(metrics.FoldResult(threshold=threshold, accuracy=accuracy))
        fusions.append(fusion)
        out[test] = fused[test]
    return FusedFolds(scores=out, folds=tuple(results), fusions=tuple(fusions))


def fused_pair_scores(
    pairs: Sequence[Pair], sets: Sequence[EmbeddingSet], model_ids: Sequence[str]
) -> FusedFolds:
    """``ten_fold_fused`` on LFW pairs embedded by each model (``sets``, same images)."""
    scores = [score_pairs(pairs, s) for s in sets]
    idx = sets[0].index()
    found = np.array([sets[0].found[idx[p.a]] and sets[0].found[idx[p.b]] for p in pairs])
    same = np.array([p.same for p in pairs], dtype=bool)
    folds = np.array([p.fold for p in pairs], dtype=np.int64)
    return ten_fold_fused(scores, same, folds, found, model_ids)


def people_outside_pairs(pairs_file: Path, names: Sequence[str]) -> list[str]:
    """The images (of ``names``, Person/Person_0001.jpg) of people nowhere in ``pairs_file``."""
    used = {rel.split("/")[0] for p in read_pairs(pairs_file) for rel in (p.a, p.b)}
    return [n for n in names if n.split("/")[0] not in used]


@dataclass(frozen=True)
class ShippedFit:
    fusion: Fusion
    table: CalibrationTable


def fit_shipped(sets: Sequence[EmbeddingSet], model_ids: Sequence[str], source: str) -> ShippedFit:
    """Fusion and fused calibration table from every pair of the images in ``sets`` (one
    set per model, same images; images without a face are left out): normalisation on the
    impostor pairs, weights on all pairs, the table from the fused scores of all pairs."""
    keep = sets[0].found
    names = [n for n, f in zip(sets[0].names, keep, strict=True) if f]
    _, codes = np.unique([n.split("/")[0] for n in names], return_inverse=True)
    first, second = np.triu_indices(len(names), k=1)  # each unordered pair once
    same = codes[first] == codes[second]
    if not same.any() or same.all():
        raise ConfigError("fitting a fusion needs two people and one person with two images")
    scores = []
    for s in sets:
        x = s.embeddings[keep].astype(np.float64)
        scores.append((x @ x.T)[first, second])
    fusion = fit_fusion(
        [v[~same] for v in scores], [v[same] for v in scores], model_ids, source=source
    )
    fused = fusion.fuse(*scores)
    hist = ScoreHistograms()
    hist.add(fused[~same], fused[same], impostor_people=(codes[first][~same], codes[second][~same]))
    return ShippedFit(fusion=fusion, table=hist.table(model_id=fusion.model_id, source=source))


def side_by_side(
    pairs: Sequence[Pair], emb: EmbeddingSet, model_ids: Sequence[str]
) -> dict[str, Any]:
    """LFW View 2 for the primary model, the second (``emb.second``, when computed) and
    their fusion (fitted inside the protocol: ``ten_fold_fused``), keyed by model name."""
    sets = [emb] if emb.second is None else [emb, emb.second_set()]
    same = np.array([p.same for p in pairs], dtype=bool)
    folds = np.array([p.fold for p in pairs], dtype=np.int64)
    models: dict[str, Any] = {}
    for model_id, one in zip(model_ids, sets, strict=False):
        scores = score_pairs(pairs, one)
        figures = report(scores, same, metrics.ten_fold(scores, same, folds))
        models[model_id.split(":")[0]] = {"model_id": model_id, **figures}
    if len(sets) == 2:
        fused = fused_pair_scores(pairs, sets, model_ids)
        models["fused"] = {
            "model_id": "+".join(m.split(":")[0] for m in model_ids) + " (fitted per fold)",
            **report(fused.scores, same, fused.folds),
            "fold_fusions": [f.as_dict() for f in fused.fusions],
        }
    return {**describe_images(pairs, emb), "models": models}


def fit_on_lfw(pipeline: FacePipeline, data: Path, *, progress: bool = True) -> ShippedFit:
    """The shipped fit: ``fit_shipped`` on every image of the LFW people (under ``data``)
    who appear nowhere in ``data/pairs.txt``, embedded by the pipeline's two models."""
    names = people_outside_pairs(data / "pairs.txt", all_images(data))
    emb = embed_images(pipeline, data / IMAGES, names, progress=progress, second=True)
    if emb.second is None:
        raise ConfigError("fitting a fusion needs a second model (FACESEARCH_SECOND_EMBEDDER)")
    people = len({n.split("/")[0] for n in names})
    source = (
        f"LFW ({IMAGES}): every pair of the {int(emb.found.sum()):,} images (main face) of the "
        f"{people:,} people who appear nowhere in pairs.txt; "
        f"{' + '.join(emb.model_ids)}, {pipeline.settings.models.detector} landmarks"
    )
    return fit_shipped([emb, emb.second_set()], emb.model_ids, source)


def save_shipped(fit: ShippedFit, folder: Path) -> tuple[Path, Path]:
    """Write the fusion and its calibration table where ``load_fusion`` / ``load_table``
    look when ``folder`` is the package's data folder; returns both paths."""
    names = [m.split(":")[0] for m in fit.fusion.model_ids]
    fusion_path = folder / fusion_resource(names)
    table_path = folder / f"calibration-{'+'.join(names)}.json"
    folder.mkdir(parents=True, exist_ok=True)
    write_private(fusion_path, (json.dumps(fit.fusion.as_dict(), indent=1) + "\n").encode())
    save_table(fit.table, table_path)
    return fusion_path, table_path
