"""Face quality, the choice of an image's main face, and the probe quality policy. Pure
functions.

Pose is estimated from the five landmarks alone, so it is rough (+-10 degrees): yaw from how
far the nose tip sits from the midline between the eyes, relative to the eye distance (the
nose tip stands about 0.55 eye-distances in front of the eye plane); pitch from where the nose
tip sits between the eye line and the mouth line (about 0.45 of the way down when frontal);
roll from the angle of the eye line.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np
import numpy.typing as npt

from facesearch.settings import Settings
from facesearch.types import BBox, Detection, Image, Quality

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
