from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from facesearch.core.align import (
    TEMPLATE_112,
    TEMPLATE_DLIB_150,
    align_dlib_chip,
    align_face,
    align_for,
    similarity_transform,
)


def apply(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return pts @ m[:, :2].T + m[:, 2]


def test_identity_on_template() -> None:
    m = similarity_transform(TEMPLATE_112)
    np.testing.assert_allclose(m, [[1, 0, 0], [0, 1, 0]], atol=1e-9)


def test_recovers_known_similarity() -> None:
    angle, scale, shift = np.deg2rad(25), 2.5, np.array([40.0, -7.0])
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    src = TEMPLATE_112 @ rot.T + shift
    m = similarity_transform(src)
    np.testing.assert_allclose(apply(m, src), TEMPLATE_112, atol=1e-6)


def test_no_reflection() -> None:
    mirrored = TEMPLATE_112 * np.array([-1.0, 1.0])
    m = similarity_transform(mirrored)
    assert np.linalg.det(m[:, :2]) > 0


def test_align_crop_shape_and_content() -> None:
    img = np.zeros((300, 300, 3), np.uint8)
    img[140:160, 140:160] = 255
    pts = TEMPLATE_112 + 100  # template shifted by 100 px: the crop is a translation
    out = align_face(img, pts)
    assert out.shape == (112, 112, 3)
    assert out[40:60, 40:60].mean() == 255


def test_dlib_chip_maps_the_landmarks_onto_dlibs_template() -> None:
    img = np.zeros((400, 400, 3), np.uint8)
    img[200:210, 150:160] = 255  # a marker 30 px left of and 25 px below the first eye
    angle = np.deg2rad(10)
    rot = 1.6 * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    landmarks = (TEMPLATE_DLIB_150 - TEMPLATE_DLIB_150[0]) @ rot.T + [180.0, 175.0]
    chip = align_dlib_chip(img, landmarks)
    assert chip.shape == (150, 150, 3) and chip.dtype == np.uint8
    inverse = np.linalg.inv(
        np.vstack([similarity_transform(landmarks, TEMPLATE_DLIB_150), [0, 0, 1]])
    )
    ys, xs = np.nonzero(chip[:, :, 0] > 128)
    centre = inverse @ [xs.mean(), ys.mean(), 1.0]
    np.testing.assert_allclose(centre[:2], [154.5, 204.5], atol=1.0)


def test_align_for_dispatches_on_the_family() -> None:
    img = np.random.default_rng(0).integers(0, 255, (200, 200, 3), dtype=np.uint8)
    pts = TEMPLATE_112 + 40
    dlib = SimpleNamespace(family="dlib", input_size=(150, 150))
    arcface = SimpleNamespace(family="arcface", input_size=(112, 112))
    np.testing.assert_array_equal(align_for(dlib, img, pts), align_dlib_chip(img, pts))
    np.testing.assert_array_equal(align_for(arcface, img, pts), align_face(img, pts))
