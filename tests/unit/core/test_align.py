from __future__ import annotations

import numpy as np

from facesearch.core.align import TEMPLATE_112, align_face, similarity_transform


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
