"""The fake pipeline (tests/fakes.py) behaves like a face pipeline on its synthetic photos."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.fakes import FakePipeline, face_photo, no_face_photo

from facesearch.core.calibration import load_table
from facesearch.errors import ImageTooLargeError, NoFaceError, PoorProbeError
from facesearch.pipeline import Decodable
from facesearch.settings import Settings
from facesearch.types import ImageFaces


def analyse(pipeline: FakePipeline, data: bytes) -> ImageFaces:
    return pipeline.analyse_one(Decodable("photo", data))


def embedding(pipeline: FakePipeline, data: bytes) -> np.ndarray:
    faces = analyse(pipeline, data).faces
    assert len(faces) == 1 and faces[0].embedding is not None
    return faces[0].embedding


def test_same_person_scores_high_and_people_apart_score_low(fake_pipeline: FakePipeline) -> None:
    table = load_table(fake_pipeline.model_id, fake_pipeline.settings.models.calibration_file)
    strict = max(table.threshold_for_fmr(1e-3), table.threshold_for_fmr(1e-4))
    one = [embedding(fake_pipeline, face_photo(1, shot)) for shot in range(3)]
    jpeg = embedding(fake_pipeline, face_photo(1, 7, fmt="JPEG"))
    for a, b in [(one[0], one[1]), (one[1], one[2]), (one[0], jpeg)]:
        assert float(a @ b) > max(0.6, strict)
    others = [embedding(fake_pipeline, face_photo(p, 0)) for p in range(2, 8)]
    for other in others:
        assert abs(float(one[0] @ other)) < 0.3 < strict
    assert np.allclose(np.linalg.norm(np.stack(others), axis=1), 1.0, atol=1e-5)


def test_faces_are_found_where_they_are_drawn(fake_pipeline: FakePipeline) -> None:
    assert analyse(fake_pipeline, no_face_photo()).faces == ()
    two = analyse(fake_pipeline, face_photo(3, 0, faces=2))
    assert len(two.faces) == 2 and two.main is not None
    left, right = sorted(two.faces, key=lambda f: f.bbox.x)
    assert left.bbox.x < two.width / 2 < right.bbox.x
    assert left.embedding is not None and right.embedding is not None
    assert abs(float(left.embedding @ right.embedding)) < 0.3  # two people
    face = analyse(fake_pipeline, face_photo(3, 0)).faces[0]
    settings = fake_pipeline.settings.probe
    assert face.quality.size >= settings.min_face_size
    assert face.quality.sharpness >= settings.min_sharpness
    assert abs(face.quality.yaw) < 5 and abs(face.quality.roll) < 5


def test_a_blurred_photo_is_refused_by_the_probe_gate(
    fake_pipeline: FakePipeline, fake_homes: Any
) -> None:
    from facesearch.engine import Engine

    settings = fake_homes("fake-blur", users=False).settings
    blurred = analyse(fake_pipeline, face_photo(2, 0, blur=True)).faces[0]
    assert blurred.quality.sharpness < settings.probe.min_sharpness
    engine = Engine(settings, pipeline=fake_pipeline)
    try:
        with pytest.raises(PoorProbeError, match="blurred"):
            engine.search(face_photo(2, 0, blur=True))
        with pytest.raises(NoFaceError):
            engine.search(no_face_photo())
        hits = engine.search(face_photo(2, 0), top=5).faces[0].hits
        assert [h.subject for h in hits[:4]] == ["person_2"] * 4
        assert hits[3].similarity > 0.9 > 0.3 > hits[4].similarity
    finally:
        engine.catalog.close()


def test_the_real_decode_and_its_limits_apply(tmp_path: Path) -> None:
    small = Settings.from_env(env={}, home=tmp_path, max_pixels=100 * 100)
    with FakePipeline(small) as pipeline, pytest.raises(ImageTooLargeError):
        analyse(pipeline, face_photo(1, 0, size=200))


def test_no_model_file_is_touched(
    fake_pipeline: FakePipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    import facesearch.models.registry as registry

    def refuse(*args: object) -> None:
        raise AssertionError("a model file was looked up")

    monkeypatch.setattr(registry, "locate", refuse)
    monkeypatch.setattr(registry, "sha256_file", refuse)
    fresh = FakePipeline(fake_pipeline.settings)
    try:
        fresh.load_models()
        assert fresh.model_id == "sface:fb143eea0783"  # the shipped calibration table's model
        assert len(analyse(fresh, face_photo(4, 1)).faces) == 1
    finally:
        fresh.close()
