"""Score-level fusion of two (or more) face models. Pure + JSON.

Each model scores a pair with its own cosine similarity. Their scales differ (on LFW, two
different people score about 0.84 +- 0.04 with dlib's ResNet, 0.08 +- 0.09 with SFace), so
each score is z-normalised with that model's impostor mean and standard deviation (fitted on
impostor pairs), the z-scores are averaged with weights chosen by measurement, and the result
is mapped back onto the FIRST (primary) model's impostor scale, ``mean_1 + std_1 * z``,
clipped to -1..1. The fused score so lives where the primary's cosine similarity lives, and a
calibration table on the usual grid (``core.calibration.ScoreHistograms``) prices it:
``load_table(fusion.model_id)``.

The shipped parameters (``data/fusion-<names>.json``, ``load_fusion``) say in ``source`` what
they were fitted on.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, overload

import numpy as np
import numpy.typing as npt

from facesearch.errors import ConfigError
from facesearch.types import fields_dict

FloatArray = npt.NDArray[np.float64]

FIT_FAR = 1e-3  # ties in balanced accuracy go to the true accept rate at this false accept rate
WEIGHT_STEP = 0.01  # grid step of the weight search (two models)


@dataclass(frozen=True)
class Fusion:
    model_ids: tuple[str, ...]  # (primary, second, ...) ModelSpec.model_id
    impostor_mean: tuple[float, ...]  # per model, fitted on impostor pairs
    impostor_std: tuple[float, ...]
    weights: tuple[float, ...]  # non-negative, sum to 1
    source: str  # what it was fitted on

    def __post_init__(self) -> None:
        n = len(self.model_ids)
        sizes = {len(self.impostor_mean), len(self.impostor_std), len(self.weights)}
        if n < 2 or sizes != {n}:
            raise ConfigError(
                f"a fusion needs one mean, std and weight for each of >= 2 models ({n})"
            )
        numbers = (*self.impostor_mean, *self.impostor_std, *self.weights)
        if not all(math.isfinite(v) for v in numbers):
            raise ConfigError("fusion parameters must be finite numbers")
        if min(self.impostor_std) <= 0 or min(self.weights) < 0:
            raise ConfigError("fusion: every impostor std must be > 0 and every weight >= 0")
        if abs(sum(self.weights) - 1.0) > 1e-6:
            raise ConfigError(f"fusion weights must sum to 1, not {sum(self.weights):g}")

    @property
    def model_id(self) -> str:
        """'sface+dlib_resnet:<12 hex>': the model names, and a digest of the models' ids and
        the fitted parameters (a refit is a different score space, so a different table)."""
        names = "+".join(m.split(":")[0] for m in self.model_ids)
        params = [self.model_ids, self.impostor_mean, self.impostor_std, self.weights]
        digest = hashlib.sha256(json.dumps(params).encode()).hexdigest()[:12]
        return f"{names}:{digest}"

    @overload
    def fuse(self, *scores: float) -> float: ...
    @overload
    def fuse(self, *scores: npt.ArrayLike) -> FloatArray: ...
    def fuse(self, *scores: Any) -> Any:
        """Per-model cosine scores (one float, or one array per model, in ``model_ids``
        order) -> the fused score on the primary model's scale, in -1..1."""
        if len(scores) != len(self.model_ids):
            raise ValueError(f"fuse takes {len(self.model_ids)} scores, got {len(scores)}")
        z = sum(
            w * (np.asarray(s, np.float64) - m) / sd
            for s, m, w, sd in zip(
                scores, self.impostor_mean, self.weights, self.impostor_std, strict=True
            )
        )
        fused = np.clip(self.impostor_mean[0] + self.impostor_std[0] * z, -1.0, 1.0)
        if all(np.ndim(s) == 0 for s in scores):
            return float(fused)
        return fused

    def as_dict(self) -> dict[str, Any]:
        return {"model_id": self.model_id, **fields_dict(self)}

    @classmethod
    def from_dict(cls, raw: Any) -> Fusion:
        """The record ``as_dict`` wrote; ConfigError for anything else (a stated model_id
        must match the parameters)."""
        try:
            fusion = cls(
                model_ids=tuple(str(v) for v in raw["model_ids"]),
                impostor_mean=tuple(float(v) for v in raw["impostor_mean"]),
                impostor_std=tuple(float(v) for v in raw["impostor_std"]),
                weights=tuple(float(v) for v in raw["weights"]),
                source=str(raw["source"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"not a fusion record: {exc!r}") from exc
        stated = raw.get("model_id")
        if stated is not None and stated != fusion.model_id:
            raise ConfigError(
                f"fusion record says {stated} but its parameters are {fusion.model_id}"
            )
        return fusion


def fit_fusion(
    impostor: Sequence[npt.ArrayLike],
    genuine: Sequence[npt.ArrayLike],
    model_ids: Sequence[str],
    *,
    source: str,
    weights: Sequence[float] | None = None,
) -> Fusion:
    """Fit a fusion on scored pairs: ``impostor[i]`` / ``genuine[i]`` are model i's scores of
    the same impostor / genuine pairs, in the same order for every model.

    The normalisation is each model's impostor mean and std. Unless ``weights`` are given, the
    weights are searched on a grid (two models: w in 0, 0.01 .. 1 for the primary; more: a
    0.05 simplex grid) and the one with the highest balanced accuracy on these pairs wins (the
    mean of the true accept and true reject rates at the best threshold: on LFW's balanced
    folds, the protocol's accuracy), ties going to the higher true accept rate at FAR 1e-3,
    then to the weights nearest equal (where the pairs cannot tell weights apart, as with too
    few hard pairs, the z-scores are simply averaged).
    """
    imp = [np.asarray(v, np.float64).ravel() for v in impostor]
    gen = [np.asarray(v, np.float64).ravel() for v in genuine]
    n = len(model_ids)
    if len(imp) != n or len(gen) != n:
        raise ConfigError(f"fit_fusion: {n} models but {len(imp)} / {len(gen)} score sets")
    if len({len(v) for v in imp}) != 1 or len({len(v) for v in gen}) != 1:
        raise ConfigError("fit_fusion: every model must score the same pairs")
    if len(imp[0]) < 2 or len(gen[0]) < 1:
        raise ConfigError("fit_fusion needs at least two impostor pairs and one genuine pair")
    mean = tuple(float(v.mean()) for v in imp)
    std = tuple(float(v.std()) for v in imp)
    if min(std) <= 0:
        raise ConfigError("fit_fusion: a model gives every impostor pair the same score")
    if weights is None:
        z_imp = np.stack([(v - m) / s for v, m, s in zip(imp, mean, std, strict=True)])
        z_gen = np.stack([(v - m) / s for v, m, s in zip(gen, mean, std, strict=True)])
        weights = _best_weights(z_imp, z_gen, _weight_grid(n))
    total = float(sum(weights))
    return Fusion(
        model_ids=tuple(model_ids),
        impostor_mean=mean,
        impostor_std=std,
        weights=tuple(round(float(w) / total, 6) for w in weights),
        source=source,
    )


def _weight_grid(n: int) -> FloatArray:
    """Candidate weight vectors (rows, each summing to 1)."""
    if n == 2:
        w = np.round(np.arange(0.0, 1.0 + WEIGHT_STEP / 2, WEIGHT_STEP), 6)
        return np.stack([w, 1.0 - w], axis=1)
    steps = 20
    rows = [c for c in np.ndindex(*(steps + 1,) * (n - 1)) if sum(c) <= steps]
    return np.array([[*c, steps - sum(c)] for c in rows], np.float64) / steps


def _best_weights(z_imp: FloatArray, z_gen: FloatArray, grid: FloatArray) -> tuple[float, ...]:
    best: tuple[float, float, float] | None = None
    chosen = grid[0]
    for w in grid:
        key = weights_key(w, z_imp, z_gen)
        if best is None or key > best:
            best, chosen = key, w
    return tuple(float(v) for v in chosen)


def weights_key(
    weights: npt.ArrayLike, z_imp: FloatArray, z_gen: FloatArray
) -> tuple[float, float, float]:
    """What ``fit_fusion`` ranks candidate weights by (higher wins): balanced accuracy, TAR at
    FAR ``FIT_FAR``, then nearness to equal weights; ``z_imp`` / ``z_gen`` are the models'
    z-normalised scores (one row per model)."""
    w = np.asarray(weights, np.float64)
    equal = np.full(len(w), 1.0 / len(w))
    return (*_accuracy_and_tar(w @ z_imp, w @ z_gen), -round(float(np.abs(w - equal).sum()), 9))


def _accuracy_and_tar(imp: FloatArray, gen: FloatArray) -> tuple[float, float]:
    """(balanced accuracy at the best threshold, TAR at FAR ``FIT_FAR``) of fused scores,
    rounded so that differences of float noise do not count."""
    ranked = np.sort(imp)
    # accepting scores > t, for t below everything and at every impostor score
    cut = np.concatenate([[-np.inf], ranked])
    true_reject = np.arange(len(cut)) / len(imp)
    true_accept = 1.0 - np.searchsorted(np.sort(gen), cut, side="right") / len(gen)
    balanced = float(((true_reject + true_accept) / 2).max())
    allowed = math.floor(FIT_FAR * len(ranked))
    tar = float((gen > ranked[::-1][allowed]).mean()) if allowed < len(ranked) else 1.0
    return round(balanced, 9), round(tar, 9)


def fusion_resource(model_names: Sequence[str]) -> str:
    """The file name of the shipped fusion for these model names."""
    return "fusion-" + "+".join(model_names) + ".json"


def load_fusion(primary_id: str, second_id: str) -> Fusion:
    """The shipped fusion of these two models (``ModelSpec.model_id`` each); ConfigError when
    none ships, it cannot be read, or it was fitted for other versions of the models."""
    names = [primary_id.split(":")[0], second_id.split(":")[0]]
    name = fusion_resource(names)
    try:
        text = resources.files("facesearch").joinpath("data", name).read_text()
        raw = json.loads(text)
    except (FileNotFoundError, OSError, ValueError) as exc:
        raise ConfigError(
            f"no fusion ships for {primary_id} with {second_id} ({name}: {exc}); "
            "set FACESEARCH_SECOND_EMBEDDER=none to use the primary model alone"
        ) from exc
    fusion = Fusion.from_dict(raw)
    if fusion.model_ids != (primary_id, second_id):
        raise ConfigError(
            f"the shipped fusion is for {' + '.join(fusion.model_ids)}, not "
            f"{primary_id} + {second_id}; refit it (tools/fit_fusion.py)"
        )
    return fusion
