"""LFW View 2 (pairs.txt, 10 folds) and the LFW embedding cache shared by eval and calibration.

Protocol (unrestricted, labelled outside data -- the model was trained elsewhere): for each
of the 10 folds of 600 pairs, the decision threshold is the one that maximises accuracy on
the other 9 folds; the fold's accuracy is measured with it; we report the mean and standard
deviation over the folds. TAR at FAR and EER are computed over all 6,000 pairs. Each image is
represented by its main face (see ``quality.main_face``); an image without a face scores -1
against everything (counted and reported, never dropped).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from facesearch.errors import ConfigError
from facesearch.evaluation import metrics
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
    """Main-face embeddings of LFW images; rows of zeros where no face was found."""

    names: list[str]
    embeddings: npt.NDArray[np.float32]
    found: npt.NDArray[np.bool_]

    def index(self) -> dict[str, int]:
        return {n: i for i, n in enumerate(self.names)}


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
        "v1",
    ]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def embed_images(
    pipeline: FacePipeline,
    root: Path,
    names: Sequence[str],
    *,
    progress: bool = True,
) -> EmbeddingSet:
    """Main-face embeddings of ``names`` (paths relative to ``root``), cached on disk."""
    tag = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:8]
    cache = pipeline.settings.cache_dir / "eval" / f"{root.name}-{tag}-{cache_key(pipeline)}.npz"
    known: dict[str, tuple[npt.NDArray[np.float32], bool]] = {}
    if cache.exists():
        with np.load(cache, allow_pickle=False) as z:
            for n, e, f in zip(z["names"].tolist(), z["embeddings"], z["found"], strict=True):
                known[str(n)] = (e, bool(f))
    todo = [n for n in names if n not in known]
    if todo:
        items = (Decodable(n, (root / n).read_bytes()) for n in todo)
        results = pipeline.run(items, main_only=True)
        dim = int(pipeline.embedder.config.embedding_dim)
        for result in _progress(results, len(todo), progress):
            if isinstance(result, ImageFaces) and result.faces:
                emb = result.faces[0].embedding
                assert emb is not None
                known[result.source] = (emb, True)
            else:
                source = getattr(result, "source", None) or getattr(result, "path", "")
                known[str(source)] = (np.zeros(dim, np.float32), False)
        _save_cache(cache, known)
    emb = np.stack([known[n][0] for n in names]).astype(np.float32)
    found = np.array([known[n][1] for n in names], dtype=bool)
    return EmbeddingSet(names=list(names), embeddings=emb, found=found)


def _save_cache(cache: Path, known: dict[str, tuple[npt.NDArray[np.float32], bool]]) -> None:
    cache.parent.mkdir(parents=True, exist_ok=True)
    keys = sorted(known)
    buf = io.BytesIO()
    np.savez(
        buf,
        names=np.array(keys),
        embeddings=np.stack([known[k][0] for k in keys]),
        found=np.array([known[k][1] for k in keys]),
    )
    write_private(cache, buf.getvalue())


def _progress(results: Iterator[Any], total: int, show: bool) -> Iterator[Any]:
    if not show:
        yield from results
        return
    from facesearch.progress import track

    yield from track(results, "embedding LFW", total=total, unit="img")


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
    scores = score_pairs(pairs, emb)
    same = np.array([p.same for p in pairs], dtype=bool)
    folds = np.array([p.fold for p in pairs], dtype=np.int64)
    fold_results = metrics.ten_fold(scores, same, folds)
    acc = np.array([f.accuracy for f in fold_results])
    far, tar, _ = metrics.roc(scores, same)
    return {
        "protocol": "LFW View 2, 10-fold, threshold chosen on 9 folds",
        "pairs": len(pairs),
        "images": len(emb.names),
        "images_without_face": int((~emb.found).sum()),
        "images_without_face_list": [n for n, f in zip(emb.names, emb.found, strict=True) if not f],
        "accuracy_mean": float(acc.mean()),
        "accuracy_std": float(acc.std()),
        "fold_accuracy": [float(a) for a in acc],
        "fold_threshold": [f.threshold for f in fold_results],
        "tar_at_far_1e-2": metrics.tar_at_far(scores, same, 1e-2),
        "tar_at_far_1e-3": metrics.tar_at_far(scores, same, 1e-3),
        "eer": metrics.eer(scores, same),
        "roc": {"far": far.tolist(), "tar": tar.tolist()},
    }


def plot_roc(result: dict[str, Any], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    far = np.asarray(result["roc"]["far"])
    tar = np.asarray(result["roc"]["tar"])
    fig, ax = plt.subplots(figsize=(6, 4.5), dpi=110)
    ax.plot(np.maximum(far, 1e-4), tar, lw=1.6)
    ax.set_xscale("log")
    ax.set_xlim(1e-4, 1)
    ax.set_ylim(min(0.9, float(tar[far >= 1e-3].min()) if (far >= 1e-3).any() else 0.9), 1.0005)
    ax.set_xlabel("false accept rate")
    ax.set_ylabel("true accept rate")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.text(
        0.98,
        0.05,
        f"accuracy {100 * result['accuracy_mean']:.2f} ± {100 * result['accuracy_std']:.2f} %\n"
        f"TAR@FAR1e-3 {100 * result['tar_at_far_1e-3']:.2f} %   EER {100 * result['eer']:.2f} %",
        transform=ax.transAxes,
        ha="right",
        va="bottom",
        fontsize=8,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def save_json(result: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1))
