"""Face quality, the choice of an image's main face, and the probe quality policy. Pure
functions.

Pose is estimated from the five landmarks alone, so it is rough (+-10 degrees): yaw from how
far the nose tip sits from the midline between the eyes, relative to the eye distance (the
nose tip stands about 0.55 eye-distances in front of the eye plane); pitch from where the nose
tip sits between the eye line and the mouth line (about 0.45 of the way down when frontal);
roll from the angle of the eye line.

A ``QualityTable`` (measured by ``evaluation.quality_buckets``, shipped per model) gives FNMR
and FMR by bucket of size, sharpness and yaw; ``reliability`` turns a probe's buckets into a
sentence saying how many more true matches are missed than on a good probe.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from facesearch.errors import ConfigError
from facesearch.settings import Settings
from facesearch.types import BBox, Detection, Image, Quality, fields_dict

NOSE_DEPTH = 0.55  # nose-tip protrusion in eye distances
FRONTAL_NOSE_RATIO = 0.45  # nose between eye line (0) and mouth line (1) on a frontal face


def sharpness(aligned: Image) -> float:
    """Variance of the Laplacian of the grey aligned crop: low = blurred."""
    grey = cv2.cvtColor(aligned, cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def pose(landmarks: npt.ArrayLike) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees from five landmarks."""
    p = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
    eye_a, eye_b, nose, mouth_a, mouth_b = p
    eye_mid = (eye_a + eye_b) / 2
    mouth_mid = (mouth_a + mouth_b) / 2
    eye_vec = eye_b - eye_a
    eye_dist = float(np.hypot(*eye_vec)) or 1e-6
    roll = math.degrees(math.atan2(eye_vec[1], eye_vec[0]))
    axis = eye_vec / eye_dist
    offset = float(np.dot(nose - eye_mid, axis))
    yaw = math.degrees(math.atan2(offset, NOSE_DEPTH * eye_dist))
    down = np.array([-axis[1], axis[0]])
    face_height = float(np.dot(mouth_mid - eye_mid, down)) or 1e-6
    ratio = float(np.dot(nose - eye_mid, down)) / face_height
    pitch = math.degrees(math.atan2((ratio - FRONTAL_NOSE_RATIO) * 2.0, 1.0))
    return yaw, pitch, roll


def assess(detection: Detection, aligned: Image) -> Quality:
    yaw, pitch, roll = pose(detection.landmarks)
    return Quality(
        size=float(min(detection.bbox.w, detection.bbox.h)),
        sharpness=sharpness(aligned),
        yaw=yaw,
        pitch=pitch,
        roll=roll,
        score=detection.score,
    )


def main_face(boxes: Sequence[BBox], width: int, height: int) -> int | None:
    """Index of the face a person would say the photo is of.

    Rule: the largest value of area x (1 - d / D)^2, where d is the distance from the box
    centre to the frame centre and D half the frame diagonal. A face twice as large wins
    unless it sits much further out; among equal sizes the most central wins.
    """
    if not boxes:
        return None
    cx, cy = width / 2.0, height / 2.0
    half_diag = math.hypot(cx, cy) or 1.0
    best, best_value = 0, -1.0
    for i, box in enumerate(boxes):
        bx, by = box.center
        closeness = max(0.0, 1.0 - math.hypot(bx - cx, by - cy) / half_diag)
        value = max(box.w, 0.0) * max(box.h, 0.0) * closeness**2
        if value > best_value:
            best, best_value = i, value
    return best


def probe_problems(quality: Quality, settings: Settings) -> list[str]:
    """Why a face is too poor to search with; empty when it is fine."""
    problems = []
    if quality.size < settings.probe.min_face_size:
        problems.append(
            f"face is {quality.size:.0f} px, under the {settings.probe.min_face_size} px minimum"
        )
    if quality.sharpness < settings.probe.min_sharpness:
        problems.append(
            f"face is blurred (sharpness {quality.sharpness:.0f} "
            f"< {settings.probe.min_sharpness:g})"
        )
    if abs(quality.yaw) > settings.probe.max_yaw:
        problems.append(
            f"face is turned {abs(quality.yaw):.0f} degrees (over {settings.probe.max_yaw:g})"
        )
    return problems


# -- how much less reliable a poorer probe is --------------------------------------------------

OPEN = 1e9  # the upper edge of a last, open-ended bucket
# (factor, column of (size, sharpness, |yaw|), bucket edges, index of the good probes' bucket)
BUCKETS: tuple[tuple[str, int, tuple[float, ...], int], ...] = (
    ("size", 0, (0, 24, 32, 40, 56, 80, OPEN), 5),
    ("sharpness", 1, (0, 10, 20, 40, 80, OPEN), 4),
    ("yaw", 2, (0, 15, 30, 45, 60, OPEN), 0),
)
NOTE_RATIO = 1.25  # a bucket this many times worse than good probes gets a note
MIN_GENUINE = 50  # a bucket needs this many genuine pairs, from at least
MIN_PROBES = 30  # this many probes, to be quoted
_WORDS = {"size": ("small", "px"), "sharpness": ("blurred", ""), "yaw": ("turned", "°")}


@dataclass(frozen=True)
class QualityBucket:
    factor: str  # "size", "sharpness" or "yaw"
    low: float
    high: float  # OPEN: no upper edge
    probes: int
    genuine_pairs: int
    impostor_pairs: int
    fnmr: float  # share of genuine pairs under the threshold (NaN: no pairs)
    fmr: float  # share of impostor pairs at or above it

    def holds(self, value: float) -> bool:
        return self.low <= value < self.high

    @property
    def span(self) -> str:
        unit = _WORDS[self.factor][1]
        if self.high >= OPEN:
            return f"{self.low:g}{unit} or more"
        return f"{self.low:g}-{self.high:g}{unit}"


@dataclass(frozen=True)
class QualityTable:
    """FNMR and FMR by probe-quality bucket at one calibrated threshold (see
    ``evaluation.quality_buckets``), shipped as ``data/quality-<model>.json``."""

    model_id: str
    source: str
    max_fmr: float  # the threshold is the calibration's for this FMR
    threshold: float
    buckets: tuple[QualityBucket, ...]

    def reference(self, factor: str) -> QualityBucket:
        """The bucket of good probes for ``factor``."""
        _, _, _, index = next(b for b in BUCKETS if b[0] == factor)
        return [b for b in self.buckets if b.factor == factor][index]

    def as_dict(self) -> dict[str, Any]:
        out = fields_dict(self)
        out["buckets"] = [fields_dict(b) for b in self.buckets]
        return out

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> QualityTable:
        try:
            return cls(
                model_id=str(raw["model_id"]),
                source=str(raw["source"]),
                max_fmr=float(raw["max_fmr"]),
                threshold=float(raw["threshold"]),
                buckets=tuple(QualityBucket(**b) for b in raw["buckets"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"not a probe-quality table: {exc}") from exc


@functools.lru_cache(maxsize=8)
def load_quality_table(model_id: str) -> QualityTable | None:
    """The probe-quality table shipped for ``model_id``; None when none ships or it was
    measured with another version of the model. Read once per model (every search asks)."""
    name = f"quality-{model_id.split(':')[0]}.json"
    try:
        text = resources.files("facesearch").joinpath("data", name).read_text()
    except (FileNotFoundError, OSError):
        return None
    table = QualityTable.from_dict(json.loads(text))
    return table if table.model_id == model_id else None


def reliability(quality: Quality, table: QualityTable | None) -> str | None:
    """How much less reliable results on this probe are than on a good one, in words; None
    when it is about as reliable (or nothing was measured)."""
    if table is None:
        return None
    values = {"size": quality.size, "sharpness": quality.sharpness, "yaw": abs(quality.yaw)}
    worst: tuple[float, str] | None = None
    for factor, _, _, _ in BUCKETS:
        ref = table.reference(factor)
        mine = next(b for b in table.buckets if b.factor == factor and b.holds(values[factor]))
        small = mine.genuine_pairs < MIN_GENUINE or mine.probes < MIN_PROBES
        if small or not ref.fnmr > 0 or not mine.fnmr >= 0:
            continue
        ratio = mine.fnmr / ref.fnmr
        if ratio >= NOTE_RATIO and (worst is None or ratio > worst[0]):
            adjective = _WORDS[factor][0]
            worst = (
                ratio,
                f"on probes this {adjective} ({factor} {mine.span}), about {_times(ratio)} as "
                f"many true matches are missed as on good probes at FMR {table.max_fmr:g} "
                f"({100 * mine.fnmr:.1f} % against {100 * ref.fnmr:.1f} %, measured on "
                "degraded LFW)",
            )
    return worst[1] if worst else None


def _times(ratio: float) -> str:
    return f"{ratio:.1f}x" if ratio < 3 else f"{ratio:.0f}x"
