"""Degraded copies: smaller, blurred, compressed; decodable bytes, nothing written."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from facesearch.core.quality import sharpness
from facesearch.evaluation.degraded import LFW_FACE_PX, Degradation


def photo() -> bytes:
    rng = np.random.default_rng(0)
    pixels = (rng.random((250, 250, 3)) * 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG")
    return buf.getvalue()


def decoded(data: bytes) -> tuple[np.ndarray, str]:
    with Image.open(io.BytesIO(data)) as img:
        return np.asarray(img.convert("RGB")), str(img.format)


def test_downscale_puts_the_face_at_about_the_size_asked() -> None:
    pixels, fmt = decoded(Degradation("small", face_px=40).apply(photo()))
    assert pixels.shape[0] == round(250 * 40 / LFW_FACE_PX) and fmt == "PNG"


def test_blur_lowers_sharpness_and_jpeg_is_jpeg() -> None:
    original, _ = decoded(photo())
    blurred, _ = decoded(Degradation("blur", blur_sigma=2).apply(photo()))
    assert blurred.shape == original.shape
    assert sharpness(blurred) < sharpness(original) / 10
    _, fmt = decoded(Degradation("jpeg", jpeg_quality=30).apply(photo()))
    assert fmt == "JPEG"
