"""Degraded copies of LFW images, made in memory, and main-face embeddings with quality for
any set of LFW images (clean or degraded), cached under the settings' cache folder.

A degradation stands for a poor probe from another source: a small face (the whole 250x250
image downscaled so the face's box is about ``face_px`` pixels; LFW's deep-funneled faces are
about ``LFW_FACE_PX``), a blurred one (Gaussian blur of ``blur_sigma`` pixels, at the
original size) and a heavily compressed one (JPEG at ``jpeg_quality``). Nothing is written
but the cache of embeddings: never into the LFW folder or the repository.
"""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image as PILImage

from facesearch.evaluation.lfw import cache_key, progress_of, save_npz, second_cache_key
from facesearch.pipeline import Decodable, FacePipeline
from facesearch.types import ImageFaces

log = logging.getLogger(__name__)

LFW_FACE_PX = 93.0  # median shorter side of the main face box in LFW deep-funneled (250 px)
QUALITY_FIELDS = ("size", "sharpness", "yaw")


@dataclass(frozen=True)
class Degradation:
    """One way to spoil a photo; zero leaves that aspect alone."""

    name: str
    face_px: float = 0.0  # downscale so the face is about this many pixels
    blur_sigma: float = 0.0  # Gaussian blur, pixels
    jpeg_quality: int = 0  # re-encode as JPEG at this quality (0: lossless PNG)

    def apply(self, data: bytes) -> bytes:
        """The degraded image's encoded bytes."""
        with PILImage.open(io.BytesIO(data)) as img:
            rgb = np.asarray(img.convert("RGB"))
        if self.face_px:
            scale = self.face_px / LFW_FACE_PX
            size = (max(8, round(rgb.shape[1] * scale)), max(8, round(rgb.shape[0] * scale)))
            rgb = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
        if self.blur_sigma:
            rgb = cv2.GaussianBlur(rgb, (0, 0), self.blur_sigma)
        out = io.BytesIO()
        if self.jpeg_quality:
            PILImage.fromarray(rgb).save(out, "JPEG", quality=self.jpeg_quality)
        else:
            PILImage.fromarray(rgb).save(out, "PNG", compress_level=1)
        return out.getvalue()


CLEAN = Degradation("clean")
# The issue's three: faces about 40 px, JPEG quality 30, blur.
ISSUE_SET = (
    Degradation("face-40px", face_px=40),
    Degradation("jpeg-q30", jpeg_quality=30),
    Degradation("blur-2px", blur_sigma=2.0),
)
# More steps of size and blur, for the quality buckets.
BUCKET_SET = (
    Degradation("face-24px", face_px=24),
    Degradation("face-32px", face_px=32),
    *ISSUE_SET,
    Degradation("face-56px", face_px=56),
    Degradation("blur-1px", blur_sigma=1.0),
    Degradation("blur-3px", blur_sigma=3.0),
)


@dataclass(frozen=True)
class QualitySet:
    """Main-face embeddings and quality of images; zero rows (and NaN quality) where no face
    was found."""

    names: tuple[str, ...]
    embeddings: npt.NDArray[np.float32]
    found: npt.NDArray[np.bool_]
    quality: npt.NDArray[np.float64]  # (n, 3): size, sharpness, yaw
    second: npt.NDArray[np.float32] | None = None  # the second model's, same faces and rows

    def subset(self, keep: npt.NDArray[np.bool_]) -> QualitySet:
        return QualitySet(
            tuple(n for n, k in zip(self.names, keep, strict=True) if k),
            self.embeddings[keep],
            self.found[keep],
            self.quality[keep],
            None if self.second is None else self.second[keep],
        )


def person_of(name: str) -> str:
    """The person of an LFW image path (``Person/Person_0001.jpg``)."""
    return name.split("/")[0]


def first_people(names: Sequence[str], people: int | None) -> list[str]:
    """The images of the first ``people`` people by name (all when None)."""
    if people is None:
        return list(names)
    keep = set(sorted({person_of(n) for n in names})[:people])
    return [n for n in names if person_of(n) in keep]


def embed_degraded(
    pipeline: FacePipeline,
    root: Path,
    names: Sequence[str],
    degradation: Degradation = CLEAN,
    *,
    progress: bool = False,
    second: bool = False,
) -> QualitySet:
    """Main-face embeddings and quality of ``names`` (under ``root``) after ``degradation``,
    cached per root, model settings and degradation; with ``second``, the second model's
    embeddings of the same faces too (``QualitySet.second``; the cache is then keyed by both
    models, ``lfw.second_cache_key``)."""
    models = cache_key(pipeline) + (f"+{second_cache_key(pipeline)}" if second else "")
    key = f"{root.resolve()}|{models}|{degradation!r}|v1"
    tag = hashlib.sha256(key.encode()).hexdigest()[:16]
    cache = pipeline.settings.cache_dir / "eval" / f"quality-{degradation.name}-{tag}.npz"
    known = _load(cache)
    todo = [n for n in names if n not in known]
    if todo:
        dims = [int(pipeline.embedder.config.embedding_dim)]
        if second:
            assert pipeline.second_spec is not None  # second_cache_key raised otherwise
            dims.append(int(pipeline.second_spec.embedding_dim or 0))
        items = (Decodable(n, _bytes(root / n, degradation)) for n in todo)
        results = pipeline.run(items, main_only=True, second=second)
        for result in progress_of(
            results, len(todo), progress, f"embedding LFW ({degradation.name})"
        ):
            if isinstance(result, ImageFaces) and result.faces:
                face = result.faces[0]
                vectors = [v for v in (face.embedding, face.second_embedding) if v is not None]
                assert len(vectors) >= len(dims)
                vectors = vectors[: len(dims)]
                q = face.quality
                known[result.source] = (
                    np.concatenate(vectors).astype(np.float32),
                    np.array([q.size, q.sharpness, q.yaw]),
                )
            else:
                source = getattr(result, "source", None) or getattr(result, "path", "")
                known[str(source)] = (np.zeros(sum(dims), np.float32), np.full(3, np.nan))
        _save(cache, known)
    emb = np.stack([known[n][0] for n in names]).astype(np.float32)
    quality = np.stack([known[n][1] for n in names]).astype(np.float64)
    dim = int(pipeline.embedder.config.embedding_dim)  # a row: the primary's, the second's
    found = ~np.isnan(quality[:, 0])
    return QualitySet(tuple(names), emb[:, :dim], found, quality, emb[:, dim:] if second else None)


def _bytes(path: Path, degradation: Degradation) -> bytes:
    data = path.read_bytes()
    return data if degradation == CLEAN else degradation.apply(data)


Known = dict[str, tuple[npt.NDArray[np.float32], npt.NDArray[np.float64]]]


def _load(cache: Path) -> Known:
    if not cache.exists():
        return {}
    with np.load(cache, allow_pickle=False) as z:
        return {
            str(n): (e, q)
            for n, e, q in zip(z["names"].tolist(), z["embeddings"], z["quality"], strict=True)
        }


def _save(cache: Path, known: Known) -> None:
    keys = sorted(known)
    save_npz(
        cache,
        keys,
        embeddings=np.stack([known[k][0] for k in keys]),
        quality=np.stack([known[k][1] for k in keys]),
    )
