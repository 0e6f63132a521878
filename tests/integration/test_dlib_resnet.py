"""dlib's ResNet converted without dlib agrees with dlib itself on real LFW faces.

dlib (``dlib-bin``, a test dependency) makes the 150x150 chips (HOG detector, the
licence-clean five-point predictor, ``get_face_chip(shape, 150, 0.25)``) and computes its own
descriptors; facesearch's converted graph, run by the configured runtime, must give the same
direction. Our own chips (YuNet landmarks onto ``align.TEMPLATE_DLIB_150``) must come close
to dlib's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

from facesearch.core import align, quality
from facesearch.models import load_detector, load_embedder
from facesearch.settings import Settings

pytestmark = pytest.mark.lfw

PEOPLE = [
    "Colin_Powell", "Tony_Blair", "Donald_Rumsfeld", "Gerhard_Schroeder", "Ariel_Sharon",
    "Hugo_Chavez", "Serena_Williams", "Jean_Chretien", "George_W_Bush", "Laura_Bush",
    "Vladimir_Putin", "Junichiro_Koizumi",
]  # fmt: skip


@pytest.fixture(scope="module")
def dlib_faces(
    lfw_image: Callable[[str, int], Path],
) -> tuple[list[npt.NDArray[np.uint8]], npt.NDArray[np.uint8], npt.NDArray[np.float64]]:
    """24 LFW photos, dlib's chips of them and dlib's unit descriptors of those chips."""
    try:
        import dlib
        import face_recognition_models as frm
    except ImportError as exc:
        pytest.skip(f"dlib is not importable ({exc}): pip install dlib-bin==20.0.1.post1")
    hog = dlib.get_frontal_face_detector()
    five = dlib.shape_predictor(frm.pose_predictor_five_point_model_location())
    rec = dlib.face_recognition_model_v1(frm.face_recognition_model_location())
    images, chips, refs = [], [], []
    for person in PEOPLE:
        for number in (1, 2):
            image = np.asarray(Image.open(lfw_image(person, number)).convert("RGB"))
            rect = max(hog(image, 1), key=lambda r: r.area())
            chip = dlib.get_face_chip(image, five(image, rect), 150, 0.25)
            ref = np.asarray(rec.compute_face_descriptor(chip))
            images.append(image)
            chips.append(chip)
            refs.append(ref / np.linalg.norm(ref))
    return images, np.stack(chips), np.stack(refs)


def test_converted_network_matches_dlib(settings: Settings, dlib_faces) -> None:  # type: ignore[no-untyped-def]
    _, chips, refs = dlib_faces
    embedder, spec = load_embedder(settings, name="dlib_resnet")
    assert spec.model_id.startswith("dlib_resnet:55533b28a958")
    assert embedder.config.flip_average  # facesearch averages each chip with its mirror ...
    embedder.config = replace(embedder.config, flip_average=False)  # ... dlib does not
    ours = embedder.embed(chips)
    assert ours.shape == (len(chips), 128)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    cosines = (ours * refs).sum(axis=1)
    assert cosines.min() >= 0.999, cosines.min()


def test_our_chips_come_close_to_dlibs(settings: Settings, dlib_faces) -> None:  # type: ignore[no-untyped-def]
    images, _, refs = dlib_faces
    detector = load_detector(settings)
    embedder, spec = load_embedder(settings, name="dlib_resnet")
    chips = []
    for image in images:
        found = detector.detect([image])[0]
        main = quality.main_face([d.bbox for d in found], image.shape[1], image.shape[0])
        assert main is not None
        chip = align.align_for(spec, image, found[main].landmarks)
        assert chip.shape == (150, 150, 3) and chip.dtype == np.uint8
        chips.append(chip)
    cosines = (embedder.embed(np.stack(chips)) * refs).sum(axis=1)
    # the same face through two landmark sets: close, though not identical
    assert np.median(cosines) >= 0.98, np.median(cosines)
    assert cosines.min() >= 0.9, cosines.min()
