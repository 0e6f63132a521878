"""Big images decoded at reduced size (issue 7, item 8) keep what the real models find: the
same face, its box on the original's pixel grid, and an embedding that agrees with the one
from full-size decoding, for faces as small as the detector finds in an 8,000-pixel photo."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from PIL import Image

from facesearch.core.decode import decode_image
from facesearch.pipeline import Decodable, FacePipeline
from facesearch.types import ImageFaces

pytestmark = pytest.mark.lfw


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_a_small_face_in_a_big_photo_is_found_and_embedded_alike(
    pipeline: FacePipeline, lfw_image: Any, fmt: str
) -> None:
    face = Image.open(lfw_image("Tony_Blair", 3))  # 250 x 250; the face box is some 100 px
    canvas = Image.new("RGB", (8000, 8000), (120, 120, 120))
    canvas.paste(face.resize((600, 600), Image.Resampling.BICUBIC), (4000, 3000))
    buf = io.BytesIO()
    canvas.save(buf, format=fmt, quality=92)
    data = buf.getvalue()

    reduced = pipeline.decode(Decodable("big", data))
    assert reduced.reduction >= 2 and max(reduced.pixels.shape) < 8000
    assert (reduced.width, reduced.height) == (8000, 8000)
    full = decode_image(data, max_bytes=10**9, max_pixels=10**9)
    assert full.reduction == 1
    got = pipeline.analyse([("reduced", reduced), ("full", full)])
    small, big = got[0], got[1]
    assert isinstance(small, ImageFaces) and isinstance(big, ImageFaces)
    assert small.main is not None and big.main is not None
    a, b = small.faces[small.main], big.faces[big.main]
    assert (small.width, small.height) == (big.width, big.height) == (8000, 8000)
    for got_v, want_v in zip(a.bbox.as_list(), b.bbox.as_list(), strict=True):
        assert abs(got_v - want_v) < 0.1 * b.bbox.w  # same box, original pixels
    assert a.quality.size == pytest.approx(b.quality.size, rel=0.1)
    assert a.embedding is not None and b.embedding is not None
    assert float(np.dot(a.embedding, b.embedding)) > 0.97
