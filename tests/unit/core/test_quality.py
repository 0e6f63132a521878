from __future__ import annotations

import numpy as np
import pytest

from facesearch.core.align import TEMPLATE_112
from facesearch.core.quality import (
    BUCKETS,
    OPEN,
    QualityBucket,
    QualityTable,
    load_quality_table,
    main_face,
    pose,
    probe_problems,
    reliability,
    sharpness,
)
from facesearch.errors import ConfigError
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


# -- reliability notes from a probe-quality table ---------------------------------------------


def quality_table(small_fnmr: float = 0.08, genuine: int = 500) -> QualityTable:
    """Good probes miss 2 %; faces of 32-40 px miss ``small_fnmr`` (default: 4x as many)."""

    def bucket(
        factor: str, low: float, high: float, fnmr: float, pairs: int = 5000
    ) -> QualityBucket:
        return QualityBucket(factor, low, high, 100, pairs, 10 * pairs, fnmr, 1e-3)

    rows = [
        bucket("size", lo, hi, 0.02)
        for lo, hi in ((0, 24), (24, 32), (40, 56), (56, 80), (80, OPEN))
    ]
    rows.insert(2, bucket("size", 32, 40, small_fnmr, genuine))
    rows += [
        bucket("sharpness", lo, hi, 0.02)
        for lo, hi in ((0, 10), (10, 20), (20, 40), (40, 80), (80, OPEN))
    ]
    rows += [
        bucket("yaw", lo, hi, 0.02)
        for lo, hi in ((0, 15), (15, 30), (30, 45), (45, 60), (60, OPEN))
    ]
    return QualityTable("m:1", "hand-made", 1e-3, 0.4, tuple(rows))  # fmt: skip


def probe(size: float = 100.0, sharp: float = 100.0, yaw: float = 5.0) -> Quality:
    return Quality(size=size, sharpness=sharp, yaw=yaw, pitch=0.0, roll=0.0, score=0.9)


def test_a_probe_in_a_poorer_bucket_says_how_many_more_matches_are_missed() -> None:
    note = reliability(probe(size=35), quality_table())
    assert note is not None
    assert "about 4x as many true matches are missed" in note and "size 32-40px" in note
    assert "8.0 % against 2.0 %" in note and "FMR 0.001" in note


def test_no_note_for_a_good_probe_a_small_bucket_or_no_table() -> None:
    assert reliability(probe(), quality_table()) is None
    assert reliability(probe(size=35), quality_table(small_fnmr=0.024)) is None  # 1.2x
    assert reliability(probe(size=35), quality_table(genuine=10)) is None  # too few pairs
    assert reliability(probe(size=35), None) is None


def test_quality_table_round_trips_through_json() -> None:
    import json

    t = quality_table()
    assert QualityTable.from_dict(json.loads(json.dumps(t.as_dict()))) == t
    with pytest.raises(ConfigError):
        QualityTable.from_dict({"model_id": "m:1"})


def test_shipped_quality_table_matches_its_bucket_layout() -> None:
    """The shipped table has the buckets the code looks up, and the gate's defaults refuse
    the buckets where probes miss at least twice as many true matches as good ones."""
    from facesearch.models.registry import BUILTIN

    sface = next(s for s in BUILTIN if s.name == "sface")
    table = load_quality_table(sface.model_id)
    assert table is not None
    for factor, _, edges, _ in BUCKETS:
        mine = [b for b in table.buckets if b.factor == factor]
        assert [b.low for b in mine] == list(edges[:-1])
        assert table.reference(factor).fnmr < max(b.fnmr for b in mine)
    settings = Settings().probe
    for factor, gate in (("size", settings.min_face_size), ("sharpness", settings.min_sharpness)):
        good = table.reference(factor).fnmr
        for b in table.buckets:
            if b.factor == factor:
                assert (b.high <= gate) == (b.fnmr >= 2 * good), (b, gate)
    note = reliability(probe(size=35), table)
    assert note is not None and "as many true matches are missed" in note
    assert reliability(probe(yaw=50), table) is None  # LFW has 3 such probes: not quoted
