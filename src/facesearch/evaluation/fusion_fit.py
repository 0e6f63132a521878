"""Fitting score fusion on LFW: inside the 10-fold protocol (for ``eval lfw``'s fused
figures) and for the shipped fusion and its calibration table.

In the protocol (``eval lfw``'s fused figures), fold k's pairs are fused with a ``Fusion``
fitted on the other nine folds' pairs only (normalisation on their impostor pairs, weights on
all of them), and the accuracy threshold is chosen on those nine folds' fused scores; View 2's
folds share no person, so fold k's people are unseen by its fit. The shipped fusion's six
numbers are fitted on every pair of images of the people of LFW View 1's training set
(peopleDevTrain.txt: 4,038 people, 9,525 images), the part of LFW its protocol sets aside for
developing and tuning methods. That is not person-disjoint from View 2: 2,985 of those 4,038
people appear in pairs.txt, and 4,853 of its 6,000 pairs involve one of them, so View 2
scored with the shipped fusion (the README's ``verify --pairs`` row) is not a held-out
figure. The shipped fused calibration table, like SFace's, counts every pair of all of LFW.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from facesearch.core.calibration import CalibrationTable, save_table, table_from_rows
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


def people_in_list(people_file: Path, names: Sequence[str]) -> list[str]:
    """The images (of ``names``) of the people listed in an LFW people file (a count line,
    then 'Name<TAB>images' lines; peopleDevTrain.txt is View 1's training set)."""
    try:
        lines = people_file.read_text().splitlines()
    except OSError as exc:
        raise ConfigError(f"cannot read people file {people_file}: {exc}") from exc
    listed = {line.split()[0] for line in lines[1:] if line.strip()}
    return [n for n in names if n.split("/")[0] in listed]


@dataclass(frozen=True)
class ShippedFit:
    fusion: Fusion
    table: CalibrationTable


def fit_shipped(
    sets: Sequence[EmbeddingSet],
    model_ids: Sequence[str],
    source: str,
    *,
    table_sets: Sequence[EmbeddingSet] | None = None,
    table_source: str | None = None,
) -> ShippedFit:
    """Fusion from every pair of the images in ``sets`` (one set per model, same images;
    images without a face are left out): normalisation on the impostor pairs, weights on all
    pairs; the table from the fused scores of every pair of ``table_sets`` (default: the
    same images)."""
    pairs = all_pairs(sets)
    fusion = fit_fusion(pairs.impostor, pairs.genuine, model_ids, source=source)
    xs, labels = _usable(table_sets or sets)
    table = table_from_rows(
        lambda a, b: fusion.fuse(*(x[a:b] @ x.T for x in xs)),
        labels,
        model_id=fusion.model_id,
        source=table_source or source,
    )
    return ShippedFit(fusion=fusion, table=table)


@dataclass(frozen=True)
class PairScores:
    """Each model's scores of every impostor and every genuine pair of a set of images."""

    impostor: list[npt.NDArray[np.float64]]
    genuine: list[npt.NDArray[np.float64]]


def all_pairs(sets: Sequence[EmbeddingSet]) -> PairScores:
    """Every unordered pair of the images of ``sets`` with a face, scored by each model."""
    fit_x, fit_labels = _usable(sets)
    first, second = np.triu_indices(len(fit_labels), k=1)  # each unordered pair once
    _, codes = np.unique(fit_labels, return_inverse=True)
    same = codes[first] == codes[second]
    if not same.any() or same.all():
        raise ConfigError("fitting a fusion needs two people and one person with two images")
    scores = [(x @ x.T)[first, second] for x in fit_x]
    return PairScores([v[~same] for v in scores], [v[same] for v in scores])


def _usable(sets: Sequence[EmbeddingSet]) -> tuple[list[npt.NDArray[np.float64]], list[str]]:
    """Each model's embeddings of the images with a face, and those images' people."""
    keep = sets[0].found
    names = [n for n, f in zip(sets[0].names, keep, strict=True) if f]
    return [s.embeddings[keep].astype(np.float64) for s in sets], [n.split("/")[0] for n in names]


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


@dataclass(frozen=True)
class LfwFitSets:
    """What the shipped fit is made from: both models' embeddings of all of LFW (``all``)
    and of View 1's training people (``fit``), and the source texts saying so."""

    all: tuple[EmbeddingSet, EmbeddingSet]
    fit: tuple[EmbeddingSet, EmbeddingSet]
    model_ids: tuple[str, ...]
    fit_source: str
    table_source: str


def lfw_fit_sets(pipeline: FacePipeline, data: Path, *, progress: bool = True) -> LfwFitSets:
    """Every image of LFW (under ``data``) embedded by the pipeline's two models, and the
    images of View 1's training people (``data/peopleDevTrain.txt``)."""
    names = all_images(data)
    emb = embed_images(pipeline, data / IMAGES, names, progress=progress, second=True)
    if emb.second is None:
        raise ConfigError("fitting a fusion needs a second model (FACESEARCH_SECOND_EMBEDDER)")
    both = (emb, emb.second_set())
    dev = people_in_list(data / "peopleDevTrain.txt", names)
    rows = [emb.index()[n] for n in dev]
    first, second = (
        EmbeddingSet(names=dev, embeddings=s.embeddings[rows], found=s.found[rows]) for s in both
    )
    how = f"{' + '.join(emb.model_ids)}, {pipeline.settings.models.detector} landmarks"
    fit_source = (
        f"LFW View 1 training people (peopleDevTrain.txt): every pair of their "
        f"{int(first.found.sum()):,} images (main face), "
        f"{len({n.split('/')[0] for n in dev}):,} people; {how}"
    )
    table_source = (
        f"LFW ({IMAGES}): every pair of its {int(emb.found.sum()):,} images (main face), "
        f"{len({n.split('/')[0] for n in names}):,} people, fused by a fusion fitted on "
        f"View 1's training people; {how}"
    )
    return LfwFitSets(both, (first, second), tuple(emb.model_ids), fit_source, table_source)


def fit_on_lfw(pipeline: FacePipeline, data: Path, *, progress: bool = True) -> ShippedFit:
    """The shipped fit (see the module docstring): the fusion on View 1's training people,
    its table on every image of LFW."""
    sets = lfw_fit_sets(pipeline, data, progress=progress)
    return fit_shipped(
        sets.fit,
        sets.model_ids,
        sets.fit_source,
        table_sets=sets.all,
        table_source=sets.table_source,
    )


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
