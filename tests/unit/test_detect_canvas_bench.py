"""The pure parts of benchmarks/detect_canvas.py: the recall matcher, the small-face composer,
the chunked timing loop and the choice of the smallest setting keeping recall."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from facesearch.types import BBox, Detection

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "detect_canvas.py"


@pytest.fixture(scope="module")
def dc() -> ModuleType:
    path, modules = list(sys.path), set(sys.modules)
    spec = importlib.util.spec_from_file_location("detect_canvas_bench", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while defining
    try:
        spec.loader.exec_module(module)
    finally:  # leave no benchmarks/ modules ("pipeline", "search") importable by name
        sys.path[:] = path
        for name in set(sys.modules) - modules:
            if name in ("pipeline", spec.name):
                del sys.modules[name]
    return module


def box(x: float, y: float, w: float = 10.0, h: float = 10.0) -> BBox:
    return BBox(x=x, y=y, w=w, h=h)


def test_centre_inside_counts_the_centre_not_the_overlap(dc: ModuleType) -> None:
    truth = box(100, 100, 100, 100)
    assert dc.centre_inside(box(145, 145), truth)  # centre (150, 150)
    assert dc.centre_inside(box(95, 95), truth)  # centre on the corner (100, 100)
    assert not dc.centre_inside(box(90, 90, 18, 18), truth)  # overlaps, centre (99, 99)
    assert not dc.centre_inside(box(196, 150), truth)  # centre x 201
    assert not dc.centre_inside(box(150, 196), truth)  # centre y 201


def test_match_finds_the_face_and_counts_the_others_as_false(dc: ModuleType) -> None:
    truth = box(75, 75, 100, 100)
    got = dc.match([box(0, 0), box(120, 120), box(130, 110), box(200, 200)], truth)
    assert got == dc.Outcome(found=True, false=2)
    assert dc.match([box(0, 0)], truth) == dc.Outcome(found=False, false=1)
    assert dc.match([], truth) == dc.Outcome(found=False, false=0)


def test_score_gives_recall_in_percent_and_false_per_image(dc: ModuleType) -> None:
    outcomes = [dc.Outcome(True, 0), dc.Outcome(False, 3), dc.Outcome(True, 1), dc.Outcome(True, 0)]
    assert dc.score(outcomes) == dc.GroupScore(images=4, recall=75.0, false_per_image=1.0)


def lfw_like() -> np.ndarray:
    """A 250x250 'photo': grey, with the central 100x100 face red."""
    photo = np.full((250, 250, 3), 128, np.uint8)
    photo[75:175, 75:175] = (255, 0, 0)
    return photo


@pytest.mark.parametrize("face_width", [24, 32, 48, 64])
def test_compose_pastes_the_face_at_the_width_asked_inside_the_canvas(
    dc: ModuleType, face_width: int
) -> None:
    background = np.zeros((300, 400, 3), np.uint8)
    out, truth = dc.compose(lfw_like(), face_width, background, np.random.default_rng(3))
    assert out.shape == background.shape
    assert not background.any()  # the background is not written to
    assert truth.w == pytest.approx(face_width, abs=0.5)
    assert truth.h == pytest.approx(face_width, abs=0.5)
    assert truth.x >= 0 and truth.x + truth.w <= 400
    assert truth.y >= 0 and truth.y + truth.h <= 300
    x0, y0 = round(truth.x) + 2, round(truth.y) + 2
    x1, y1 = round(truth.x + truth.w) - 2, round(truth.y + truth.h) - 2
    inner = out[y0:y1, x0:x1].reshape(-1, 3)
    assert (inner == (255, 0, 0)).all()  # the true box is the pasted face
    grey = (out == 128).all(axis=2).sum()  # the rest of the photo came along
    side = round(250 * face_width / 100)
    assert grey == pytest.approx(side * side - face_width * face_width, rel=0.15)


def test_compose_places_faces_by_the_seed(dc: ModuleType) -> None:
    background = np.zeros((1080, 1920, 3), np.uint8)
    boxes = [
        dc.compose(lfw_like(), 32, background, np.random.default_rng(seed))[1] for seed in (5, 5, 6)
    ]
    assert boxes[0] == boxes[1]
    assert boxes[0] != boxes[2]


def test_backgrounds_have_the_canvas_size(dc: ModuleType) -> None:
    blurred = dc.blurred_background(lfw_like(), 1920, 1080)
    noise = dc.noise_background(np.random.default_rng(0), 640, 480)
    assert blurred.shape == (1080, 1920, 3) and blurred.dtype == np.uint8
    assert noise.shape == (480, 640, 3) and noise.dtype == np.uint8
    assert blurred[540, 960, 0] > blurred[540, 960, 2]  # the red middle, blurred, enlarged


def test_scaled_maps_boxes_back_to_original_pixels(dc: ModuleType) -> None:
    assert dc.scaled(BBox(1.0, 2.0, 3.0, 4.0), 3) == BBox(3.0, 6.0, 9.0, 12.0)


class ChunkRecorder:
    """A detector that finds one face per image (at the image's width) and records calls."""

    def __init__(self) -> None:
        self.calls: list[int] = []

    def detect(self, images: Sequence[Any]) -> list[list[Detection]]:
        self.calls.append(len(images))
        lm = ((0.0, 0.0),) * 5
        return [
            [Detection(bbox=box(float(i.shape[1]), 0.0), landmarks=lm, score=0.9)] for i in images
        ]


def test_timed_detect_calls_the_detector_in_chunks_and_keeps_the_order(dc: ModuleType) -> None:
    images = [np.zeros((2, w, 3), np.uint8) for w in range(1, 38)]
    fake = ChunkRecorder()
    seconds, boxes = dc.timed_detect(fake, images, 16)
    assert fake.calls == [16, 16, 5]
    assert [b[0].x for b in boxes] == list(range(1, 38))
    assert seconds >= 0.0


def result(dc: ModuleType, side: int, lfw: float, by_width: dict[int, float]) -> Any:
    def g(recall: float) -> Any:
        return dc.GroupScore(images=100, recall=recall, false_per_image=0.0)

    return dc.SettingResult(
        max_side=side,
        default=side == 640,
        lfw=g(lfw),
        lfw_ms_per_image=1.0,
        small={},
        small_by_width={w: g(r) for w, r in by_width.items()},
        small_ms_per_image=1.0,
    )


def test_smallest_keeping_recall_holds_lfw_and_faces_of_32_px_and_up(dc: ModuleType) -> None:
    results = [
        result(dc, 256, 99.9, {24: 0.0, 32: 50.0, 48: 90.0}),  # loses 32 px faces
        result(dc, 384, 98.0, {24: 0.0, 32: 80.0, 48: 95.0}),  # loses LFW
        result(dc, 512, 99.6, {24: 10.0, 32: 79.6, 48: 95.0}),  # within 0.5 everywhere
        result(dc, 640, 100.0, {24: 40.0, 32: 80.0, 48: 95.0}),
    ]
    assert dc.smallest_keeping_recall(results) == 512  # 24 px faces do not count
    assert dc.smallest_keeping_recall(results, tolerance=0.3) == 640
