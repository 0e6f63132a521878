from __future__ import annotations

import numpy as np
import pytest

from facesearch.core.align import TEMPLATE_112
from facesearch.core.quality import main_face, pose, probe_problems, sharpness
from facesearch.settings import Settings
from facesearch.types import BBox, Quality


def test_frontal_template_pose_is_near_zero() -> None:
    yaw, pitch, roll = pose(TEMPLATE_112)
    assert abs(yaw) < 3 and abs(roll) < 1 and abs(pitch) < 15


def test_turned_face_has_large_yaw() -> None:
    pts = TEMPLATE_112.copy()
    pts[2, 0] += 25  # nose far to one side
    yaw, _, _ = pose(pts)
    assert yaw > 30


def test_roll_of_rotated_eyes() -> None:
    a = np.deg2rad(30)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    _, _, roll = pose(TEMPLATE_112 @ rot.T)
    assert roll == pytest.approx(30, abs=0.5)


def test_blur_lowers_sharpness() -> None:
    rng = np.random.default_rng(0)
    sharp = rng.integers(0, 255, (112, 112, 3), dtype=np.uint8)
    flat = np.full((112, 112, 3), 128, np.uint8)
    assert sharpness(sharp) > 100 * max(sharpness(flat), 1e-3)


def test_main_face_prefers_large_central() -> None:
    central = BBox(100, 100, 50, 50)
    big_edge = BBox(0, 0, 60, 60)
    small_centre = BBox(120, 120, 20, 20)
    assert main_face([big_edge, central, small_centre], 250, 250) == 1
    assert main_face([], 250, 250) is None
    assert main_face([BBox(0, 0, 200, 200), BBox(110, 110, 30, 30)], 250, 250) == 0


def test_probe_problems_name_each_limit_the_face_misses() -> None:
    settings = Settings()
    probe = settings.probe
    good = Quality(size=probe.min_face_size, sharpness=probe.min_sharpness, yaw=probe.max_yaw,
                   pitch=0.0, roll=0.0, score=0.9)  # fmt: skip
    assert probe_problems(good, settings) == []
    poor = Quality(size=probe.min_face_size - 1, sharpness=probe.min_sharpness - 1,
                   yaw=-(probe.max_yaw + 1), pitch=0.0, roll=0.0, score=0.9)  # fmt: skip
    problems = probe_problems(poor, settings)
    assert len(problems) == 3
    assert all(p.startswith("face is") for p in problems)
    assert "px" in problems[0] and "blurred" in problems[1] and "turned" in problems[2]
