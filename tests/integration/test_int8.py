"""The int8 SFace and YuNet builds on real LFW faces: built by ``facesearch models quantize``'s
code into a cache of their own, calibrated away from the evaluation people, and close to
float32: cosine >= 0.98 per face, and same/different pairs in the same order."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from facesearch.evaluation.lfw import read_pairs
from facesearch.pipeline import Decodable, FacePipeline
from facesearch.settings import Settings
from facesearch.types import ImageFaces

PEOPLE = ("Colin_Powell", "Tony_Blair", "Serena_Williams", "Hugo_Chavez")


@pytest.fixture(scope="module")
def int8_settings(
    settings: Settings, lfw: Path, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    if importlib.util.find_spec("nncf") is None:
        pytest.skip("NNCF NOT INSTALLED: pip install '.[quantize]' to test the int8 models")
    from facesearch.app.quantize import quantize_models

    own = settings.replace(cache_dir=tmp_path_factory.mktemp("int8-cache"))
    built = quantize_models(own, lfw, count=100)
    assert [b.provenance.model for b in built] == ["yunet", "sface"]
    assert all(b.path.is_file() and b.provenance.samples > 50 for b in built)
    return own


def embed(settings: Settings, paths: list[Path]) -> npt.NDArray[np.float32]:
    pipeline = FacePipeline(settings)
    try:
        items = [Decodable(str(p), p.read_bytes()) for p in paths]
        results = list(pipeline.run(iter(items), main_only=True))
    finally:
        pipeline.close()
    vectors = []
    for r in results:
        assert isinstance(r, ImageFaces) and r.faces, r
        assert r.faces[0].embedding is not None
        vectors.append(r.faces[0].embedding)
    return np.stack(vectors)


@pytest.fixture(scope="module")
def photos(lfw: Path) -> list[Path]:
    return [lfw / "lfw-deepfunneled" / p / f"{p}_{n:04d}.jpg" for p in PEOPLE for n in (1, 2)]


def test_calibration_never_uses_people_of_pairs_txt(lfw: Path) -> None:
    from facesearch.app.quantize import calibration_names

    evaluated = {x.split("/")[0] for p in read_pairs(lfw / "pairs.txt") for x in (p.a, p.b)}
    names = calibration_names(lfw, 300)
    assert len(names) == 300
    assert not {n.split("/")[0] for n in names} & evaluated


def test_int8_embeddings_stay_close_to_fp32_and_keep_pair_order(
    int8_settings: Settings, photos: list[Path]
) -> None:
    fp32 = embed(int8_settings.replace(runtime="openvino", precision="fp32"), photos)
    int8 = embed(int8_settings.replace(runtime="openvino", precision="int8"), photos)
    cosine = (fp32 * int8).sum(axis=1)
    assert cosine.min() >= 0.98, cosine
    for vectors in (fp32, int8):
        sims = vectors @ vectors.T
        for i in range(0, len(photos), 2):  # photo 1 of each person against everyone
            same = sims[i, i + 1]
            others = [sims[i, j] for j in range(len(photos)) if j // 2 != i // 2]
            assert same > max(others), (i, same, others)
    order32 = np.argsort(-(fp32 @ fp32.T), axis=1)[:, :2]
    order8 = np.argsort(-(int8 @ int8.T), axis=1)[:, :2]
    np.testing.assert_array_equal(order8, order32)


def test_int8_detector_finds_the_same_faces(int8_settings: Settings, photos: list[Path]) -> None:
    def boxes(precision: str) -> Iterator[tuple[float, float, float, float]]:
        pipeline = FacePipeline(int8_settings.replace(runtime="openvino", precision=precision))
        try:
            items = [Decodable(str(p), p.read_bytes()) for p in photos]
            for r in pipeline.run(iter(items), main_only=True, embed=False):
                assert isinstance(r, ImageFaces) and r.faces
                b = r.faces[0].detection.bbox
                yield (b.x, b.y, b.w, b.h)
        finally:
            pipeline.close()

    for (x, y, w, h), (x8, y8, w8, h8) in zip(boxes("fp32"), boxes("int8"), strict=True):
        ix = max(0.0, min(x + w, x8 + w8) - max(x, x8))
        iy = max(0.0, min(y + h, y8 + h8) - max(y, y8))
        assert ix * iy / (w * h + w8 * h8 - ix * iy) >= 0.8
