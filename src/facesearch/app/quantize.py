"""``facesearch models quantize``: build the int8 detector and embedder once, into the cache.

Calibration uses LFW photos of people who appear nowhere in ``pairs.txt`` (View 2, the
evaluation), one photo each, chosen by a stable hash of the name so the set is spread over
the alphabet and the same on every machine. The float32 detector and embedder run on them as
they do in the pipeline, and their sessions record the exact tensors they are fed: the
detector's canvases, then the aligned 112x112 crops of each photo's main face for the
embedder. Those tensors calibrate NNCF (``models.int8.build``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from facesearch.core.align import align_face
from facesearch.core.quality import main_face
from facesearch.errors import ConfigError
from facesearch.evaluation.lfw import IMAGES, read_pairs
from facesearch.models import (
    ModelRegistry,
    ModelSpec,
    load_detector,
    load_embedder,
    model_file,
    running_precisions,
)
from facesearch.models.detector import FaceDetector
from facesearch.models.embedder import FaceEmbedder
from facesearch.models.int8 import cpu_flags, cpu_kind
from facesearch.models.int8.build import quantize
from facesearch.models.int8.files import Provenance, int8_path, read_provenance
from facesearch.models.prepare import prepared_path
from facesearch.models.runtime import InferenceSession, open_session
from facesearch.settings import Settings
from facesearch.types import Image

__all__ = ["Built", "PrecisionStatus", "calibration_names", "precision_status", "quantize_models"]

Array = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Built:
    path: Path
    provenance: Provenance


@dataclass(frozen=True)
class PrecisionStatus:
    """The precision a configured model runs at on this CPU, why, and its int8 build."""

    model: str
    precision: str
    reason: str
    cpu_kind: str
    int8_file: str | None  # None: not built
    int8_provenance: Provenance | None

    def as_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "precision": self.precision,
            "reason": self.reason,
            "cpu_kind": self.cpu_kind,
            "int8_file": self.int8_file,
            "int8_provenance": asdict(self.int8_provenance) if self.int8_provenance else None,
        }


def precision_status(settings: Settings) -> tuple[PrecisionStatus, ...]:
    """The configured detector's and embedder's precisions (no model is loaded)."""
    registry = ModelRegistry(settings)
    out = []
    kind = cpu_kind(cpu_flags())
    for name, choice in running_precisions(settings, registry).items():
        spec = registry.get(name, "detector" if name == settings.models.detector else "embedder")
        target = int8_path(prepared_path(settings.cache_dir, spec.name, spec.sha256))
        provenance = read_provenance(target)
        built = str(target) if provenance else None
        out.append(PrecisionStatus(name, choice.precision, choice.reason, kind, built, provenance))
    return tuple(out)


class Recorder:
    """A session that keeps a copy of every input it runs (all-zero batch padding dropped)."""

    def __init__(self, inner: InferenceSession) -> None:
        self.runtime = inner.runtime
        self._inner = inner
        self.inputs: list[Array] = []

    def run(self, batch: Array) -> list[Array]:
        self.inputs.extend(x[None].copy() for x in batch if x.any())
        return self._inner.run(batch)


def calibration_names(lfw: Path, count: int) -> list[str]:
    """``count`` LFW images (paths relative to the images folder) of people absent from
    pairs.txt: the first photo of each, people ordered by a hash of their name."""
    root = lfw / IMAGES
    if not root.is_dir():
        raise ConfigError(f"LFW images not found at {root} (pass --data)")
    evaluated = {part.split("/")[0] for p in read_pairs(lfw / "pairs.txt") for part in (p.a, p.b)}
    people = sorted(
        (d.name for d in root.iterdir() if d.is_dir() and d.name not in evaluated),
        key=lambda name: hashlib.sha256(name.encode()).hexdigest(),
    )
    names = [f"{p}/{p}_0001.jpg" for p in people if (root / p / f"{p}_0001.jpg").is_file()]
    return names[:count]


def quantize_models(settings: Settings, lfw: Path, count: int = 300) -> list[Built]:
    """Quantise the configured detector and embedder, calibrated on ``count`` LFW photos."""
    fp32 = replace(settings, models=replace(settings.models, precision="fp32", runtime="openvino"))
    registry = ModelRegistry(fp32)
    names = calibration_names(lfw, count)
    images = [_read(lfw / IMAGES / n) for n in names]
    det_spec = registry.get(fp32.models.detector, "detector")
    emb_spec = registry.get(fp32.models.embedder, "embedder")
    if emb_spec.family != "arcface":
        raise ConfigError(f"only ArcFace-style embedders are quantised, not {emb_spec.name!r}")
    det_rec = Recorder(open_session(model_file(det_spec, fp32), fp32, "detector"))
    detector = FaceDetector(det_rec, load_detector(fp32, registry).config)
    crops = _main_crops(detector, images)
    emb_rec = Recorder(open_session(model_file(emb_spec, fp32), fp32))
    FaceEmbedder(emb_rec, load_embedder(fp32, registry)[0].config).embed(np.stack(crops))
    where = (
        f"LFW (lfw-deepfunneled) first photos of {len(names)} people absent from pairs.txt "
        "(View 2), ordered by sha256 of the name"
    )
    return [
        _build(fp32, det_spec, det_rec.inputs, f"{where}; the detector's canvases of them"),
        _build(
            fp32,
            emb_spec,
            emb_rec.inputs,
            f"{where}; aligned 112x112 crops of the {len(crops)} main faces found",
        ),
    ]


def _build(settings: Settings, spec: ModelSpec, inputs: Sequence[Array], what: str) -> Built:
    path, provenance = quantize(
        model_file(spec, settings),
        model=spec.name,
        source_sha256=spec.sha256,
        samples=inputs,
        calibration=what,
    )
    return Built(path, provenance)


def _main_crops(detector: FaceDetector, images: Sequence[Image]) -> list[Image]:
    crops = []
    for image, found in zip(images, detector.detect(images), strict=True):
        main = main_face([d.bbox for d in found], image.shape[1], image.shape[0])
        if main is not None:
            crops.append(align_face(image, found[main].landmarks_array()))
    if not crops:
        raise ConfigError("no face found in the calibration images")
    return crops


def _read(path: Path) -> Image:
    pixels = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if pixels is None:
        raise ConfigError(f"cannot read calibration image {path}")
    return np.ascontiguousarray(pixels[:, :, ::-1])
