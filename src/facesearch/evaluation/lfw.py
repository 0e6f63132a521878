"""LFW View 2 (pairs.txt, 10 folds) and the LFW embedding cache shared by eval and calibration.

Protocol (unrestricted, labelled outside data -- the model was trained elsewhere): for each
of the 10 folds of 600 pairs, the decision threshold is the one that maximises accuracy on
the other 9 folds; the fold's accuracy is measured with it; we report the mean, the standard
deviation over the folds (numpy's, ddof 0: the "±") and the standard error of the mean (ddof
1, over the square root of the number of folds), the figure the LFW protocol asks for. TAR at
FAR and EER are computed over all 6,000 pairs. Each image is represented by its main face
(see ``quality.main_face``); an image without a face scores -1 against everything (counted
and reported, never dropped). With a second model, the same detection's landmarks give its
chip, so both models see the same face (``embed_images(..., second=True)``); the fused
figures come from ``evaluation.fusion_fit``.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from facesearch.core import align
from facesearch.errors import ConfigError, InputError
from facesearch.evaluation import metrics
from facesearch.models import running_precisions
from facesearch.models.embedder import EmbedderConfig
from facesearch.pipeline import Decodable, FacePipeline
from facesearch.private import write_private
from facesearch.types import ImageFaces

log = logging.getLogger(__name__)

IMAGES = "lfw-deepfunneled"


@dataclass(frozen=True)
class Pair:
    fold: int
    a: str  # path relative to the images folder: Person/Person_0001.jpg
    b: str
    same: bool


def image_rel(name: str, number: int) -> str:
    return f"{name}/{name}_{number:04d}.jpg"


def read_pairs(path: Path) -> list[Pair]:
    """Parse pairs.txt: header 'folds<TAB>n', then per fold n matched and n mismatched lines."""
    try:
        lines = [ln.rstrip("\n") for ln in path.read_text().splitlines() if ln.strip()]
    except OSError as exc:
        raise ConfigError(f"cannot read pairs file {path}: {exc}") from exc
    head = lines[0].split()
    folds, per = (int(head[0]), int(head[1])) if len(head) == 2 else (1, int(head[0]))
    pairs: list[Pair] = []
    for i, line in enumerate(lines[1:]):
        parts = line.split("\t") if "\t" in line else line.split()
        fold = i // (2 * per)
        same = len(parts) == 3  # "name n1 n2"; a pair of two people is "name1 n1 name2 n2"
        if same:
            parts = [parts[0], parts[1], parts[0], parts[2]]
        elif len(parts) != 4:
            raise ConfigError(f"{path}: line {i + 2} is not a pair: {line!r}")
        first, second = image_rel(parts[0], int(parts[1])), image_rel(parts[2], int(parts[3]))
        pairs.append(Pair(fold, first, second, same))
    if len(pairs) != folds * 2 * per:
        raise ConfigError(f"{path}: expected {folds * 2 * per} pairs, found {len(pairs)}")
    return pairs


def all_images(data: Path) -> list[str]:
    root = data / IMAGES
    if not root.is_dir():
        raise ConfigError(f"LFW images not found at {root} (set FACESEARCH_LFW_DIR or pass --data)")
    return sorted(str(p.relative_to(root)) for p in root.glob("*/*.jpg"))


@dataclass
class EmbeddingSet:
    """Main-face embeddings of LFW images; rows of zeros where no face was found. ``second``:
    the second model's embeddings of the same detections (when asked for), same rows."""

    names: list[str]
    embeddings: npt.NDArray[np.float32]
    found: npt.NDArray[np.bool_]
    second: npt.NDArray[np.float32] | None = None
    model_ids: tuple[str, ...] = ()  # of the models embedded: primary, then second

    def index(self) -> dict[str, int]:
        return {n: i for i, n in enumerate(self.names)}

    def second_set(self) -> EmbeddingSet:
        """The second model's embeddings as a set of their own."""
        if self.second is None:
            raise ConfigError("these embeddings were computed without the second model")
        return EmbeddingSet(
            names=self.names, embeddings=self.second, found=self.found, model_ids=self.model_ids[1:]
        )


def cache_key(pipeline: FacePipeline) -> str:
    s = pipeline.settings
    parts = [
        pipeline.model_id,
        s.models.detector,
        str(s.models.det_score_threshold),
        str(s.models.nms_threshold),
        str(s.models.min_face_size),
        str(s.models.detect_max_side),
        str(s.models.flip_average),
        s.models.runtime,
        s.models.precision,
        *(f"{k}={c.precision}" for k, c in sorted(running_precisions(s).items())),
        "v1",
    ]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def second_cache_key(pipeline: FacePipeline) -> str:
    """The second model's cache: the primary's detection settings, the second model and how
    it runs (its embedder's config, e.g. flip averaging), and the chip geometry (the source of
    ``core.align``: a refitted template is another cache)."""
    spec = pipeline.second_spec
    if spec is None:
        raise ConfigError("no second model is configured (FACESEARCH_SECOND_EMBEDDER)")
    chips = hashlib.sha256(Path(align.__file__).read_bytes()).hexdigest()
    config = getattr(pipeline.second_embedder, "config", None)
    runs = repr(replace(config, batch_size=0)) if isinstance(config, EmbedderConfig) else ""
    parts = [cache_key(pipeline), spec.model_id, runs, chips, "second-v1"]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


Known = dict[str, tuple[npt.NDArray[np.float32], bool]]


def embed_images(
    pipeline: FacePipeline,
    root: Path,
    names: Sequence[str],
    *,
    progress: bool = True,
    second: bool = False,
    listed_in: str = "asked for",
    label: str = "embedding LFW",
    cache: bool = True,
) -> EmbeddingSet:
    """Main-face embeddings of ``names`` (paths relative to ``root``), cached on disk (one
    cache per model) unless ``cache`` is false; with ``second``, the second model's
    embeddings of the same faces too where one is configured
    (``settings.models.second_embedder``). InputError, before any is embedded, when an image
    to embed is missing (``listed_in``: which list named them); ``label``: the progress
    bar's."""
    second = second and pipeline.second_spec is not None
    model_ids: tuple[str, ...] = (pipeline.model_id,)
    if second:
        assert pipeline.second_spec is not None
        model_ids += (pipeline.second_spec.model_id,)
    tag = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:8]
    folder = pipeline.settings.cache_dir / "eval"
    keys = [cache_key(pipeline)] + ([second_cache_key(pipeline)] if second else [])
    caches = [folder / f"{root.name}-{tag}-{key}.npz" for key in keys]
    known = [_load_cache(c) if cache else {} for c in caches]
    todo = [n for n in names if any(n not in k for k in known)]
    if todo:
        require_images(root, todo, len(names), listed_in)
        items = (Decodable(n, (root / n).read_bytes()) for n in todo)
        results = pipeline.run(items, main_only=True, second=second)
        specs = [pipeline.embedder_spec, pipeline.second_spec][: len(known)]
        dims = [int(spec.embedding_dim or 0) for spec in specs if spec is not None]
        for result in progress_of(results, len(todo), progress, label):
            if isinstance(result, ImageFaces) and result.faces:
                face = result.faces[0]
                vectors = [face.embedding, face.second_embedding][: len(known)]
                for k, vector in zip(known, vectors, strict=True):
                    assert vector is not None
                    k[result.source] = (vector, True)
            else:
                source = str(getattr(result, "source", None) or getattr(result, "path", ""))
                for k, dim in zip(known, dims, strict=True):
                    k[source] = (np.zeros(dim, np.float32), False)
        for path, k in zip(caches, known, strict=True):
            if cache:
                _save_cache(path, k)
    emb = [np.stack([k[n][0] for n in names]).astype(np.float32) for k in known]
    found = np.array([known[0][n][1] for n in names], dtype=bool)
    return EmbeddingSet(
        names=list(names),
        embeddings=emb[0],
        found=found,
        second=emb[1] if second else None,
        model_ids=model_ids,
    )


def require_images(root: Path, names: Sequence[str], total: int, listed_in: str) -> None:
    """InputError naming the first of ``names`` (under ``root``) that is not a file, and how
    many of the ``total`` images ``listed_in`` names are missing: a check of a few thousand
    files, before minutes of embedding end in a traceback."""
    missing = [n for n in names if not (root / n).is_file()]
    if missing:
        raise InputError(
            f"{len(missing):,} of the {total:,} images {listed_in} are missing under {root} "
            f"(the first: {root / missing[0]}); is the download complete?"
        )


def _load_cache(cache: Path) -> Known:
    known: Known = {}
    if cache.exists():
        with np.load(cache, allow_pickle=False) as z:
            for n, e, f in zip(z["names"].tolist(), z["embeddings"], z["found"], strict=True):
                known[str(n)] = (e, bool(f))
    return known


def _save_cache(cache: Path, known: Known) -> None:
    keys = sorted(known)
    save_npz(
        cache,
        keys,
        embeddings=np.stack([known[k][0] for k in keys]),
        found=np.array([known[k][1] for k in keys]),
    )


def save_npz(cache: Path, names: Sequence[str], **columns: npt.NDArray[Any]) -> None:
    """An embedding cache file: ``names`` and one array per column, row i for names[i]."""
    cache.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    np.savez(buf, names=np.array(names), **columns)  # type: ignore[arg-type]
    write_private(cache, buf.getvalue())


def progress_of(
    results: Iterator[Any], total: int, show: bool, label: str = "embedding LFW"
) -> Iterator[Any]:
    """``results`` as they come, with a progress bar when ``show``."""
    if not show:
        yield from results
        return
    from facesearch.progress import track

    yield from track(results, label, total=total, unit="img")


def score_pairs(pairs: Sequence[Pair], emb: EmbeddingSet) -> npt.NDArray[np.float64]:
    idx = emb.index()
    a = np.array([idx[p.a] for p in pairs])
    b = np.array([idx[p.b] for p in pairs])
    scores: npt.NDArray[np.float64] = (emb.embeddings[a] * emb.embeddings[b]).sum(axis=1)
    scores = scores.astype(np.float64)
    missing = ~(emb.found[a] & emb.found[b])
    scores[missing] = -1.0
    return scores


def evaluate(pairs: Sequence[Pair], emb: EmbeddingSet) -> dict[str, Any]:
    """One model's LFW View 2 figures, with the images it found no face in."""
    scores = score_pairs(pairs, emb)
    same = np.array([p.same for p in pairs], dtype=bool)
    folds = np.array([p.fold for p in pairs], dtype=np.int64)
    return {
        **describe_images(pairs, emb),
        **report(scores, same, metrics.ten_fold(scores, same, folds)),
    }


def describe_images(pairs: Sequence[Pair], emb: EmbeddingSet) -> dict[str, Any]:
    return {
        "protocol": "LFW View 2, 10-fold, threshold chosen on 9 folds",
        "pairs": len(pairs),
        "images": len(emb.names),
        "images_without_face": int((~emb.found).sum()),
        "images_without_face_list": [n for n, f in zip(emb.names, emb.found, strict=True) if not f],
    }


def report(
    scores: npt.NDArray[np.float64],
    same: npt.NDArray[np.bool_],
    folds: Sequence[metrics.FoldResult],
) -> dict[str, Any]:
    """The figures of scored pairs: 10-fold accuracy (``folds``), TAR at FAR, EER, ROC."""
    acc = np.array([f.accuracy for f in folds])
    far, tar, _ = metrics.roc(scores, same)
    return {
        "accuracy_mean": float(acc.mean()),
        "accuracy_std": float(acc.std()),
        "accuracy_se": float(acc.std(ddof=1) / np.sqrt(len(acc))) if len(acc) > 1 else 0.0,
        "fold_accuracy": [float(a) for a in acc],
        "fold_threshold": [f.threshold for f in folds],
        "tar_at_far_1e-2": metrics.tar_at_far(scores, same, 1e-2),
        "tar_at_far_1e-3": metrics.tar_at_far(scores, same, 1e-3),
        "eer": metrics.eer(scores, same),
        "roc": {"far": far.tolist(), "tar": tar.tolist()},
    }


def plot_roc(results: dict[str, dict[str, Any]], path: Path, title: str) -> None:
    """ROC curves of ``results`` (label -> ``report`` output), one per label."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=110)
    lowest = 0.9
    for label, result in results.items():
        far = np.asarray(result["roc"]["far"])
        tar = np.asarray(result["roc"]["tar"])
        if (far >= 1e-3).any():
            lowest = min(lowest, float(tar[far >= 1e-3].min()))
        ax.plot(
            np.maximum(far, 1e-4),
            tar,
            lw=1.6,
            label=f"{label}: {100 * result['accuracy_mean']:.2f} ± "
            f"{100 * result['accuracy_std']:.2f} %, TAR@1e-3 "
            f"{100 * result['tar_at_far_1e-3']:.2f} %",
        )
    ax.set_xscale("log")
    ax.set_xlim(1e-4, 1)
    ax.set_ylim(lowest, 1.0005)
    ax.set_xlabel("false accept rate")
    ax.set_ylabel("true accept rate")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="lower right", fontsize=7)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def describe(result: dict[str, Any]) -> str:
    """A small table of ``fusion_fit.side_by_side``'s figures, one row per model."""
    lines = [
        f"LFW View 2 ({result['pairs']:,} pairs, 10 folds)",
        f"  {'model':<12} {'accuracy ± std':>16} {'SE':>5} {'TAR@FAR1e-2':>12} "
        f"{'TAR@FAR1e-3':>12} {'EER':>7}",
    ]
    for name, m in result["models"].items():
        accuracy = f"{100 * m['accuracy_mean']:.2f} ± {100 * m['accuracy_std']:.2f} %"
        lines.append(
            f"  {name:<12} {accuracy:>16} {100 * m['accuracy_se']:5.2f} "
            f"{100 * m['tar_at_far_1e-2']:11.2f}% "
            f"{100 * m['tar_at_far_1e-3']:11.2f}% {100 * m['eer']:6.2f}%"
        )
    lines.append(
        "  ± : standard deviation of the fold accuracies (ddof 0); "
        "SE: standard error of their mean (ddof 1)"
    )
    lines.append(f"  no face found: {result['images_without_face']} of {result['images']} images")
    if "fused" in result["models"]:
        lines.append("  fused: normalisation and weights fitted on the 9 training folds, each fold")
    return "\n".join(lines)


def save_json(result: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1))
