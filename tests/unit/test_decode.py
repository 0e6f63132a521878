from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from facesearch.decode import decode_image
from facesearch.errors import CorruptImageError, ImageTooLargeError

LIMITS = {"max_bytes": 10_000_000, "max_pixels": 10_000_000}


def encode(image: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **kw)
    return buf.getvalue()


def gradient(w: int = 64, h: int = 48) -> Image.Image:
    x = np.linspace(0, 255, w, dtype=np.uint8)[None, :].repeat(h, 0)
    y = np.linspace(0, 255, h, dtype=np.uint8)[:, None].repeat(w, 1)
    return Image.fromarray(np.stack([x, y, 255 - x], axis=2))


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF"])
def test_formats_decode_to_rgb(fmt: str) -> None:
    d = decode_image(encode(gradient(), fmt), **LIMITS)
    assert d.pixels.shape == (48, 64, 3)
    assert d.pixels.dtype == np.uint8
    assert d.format == fmt


def test_grayscale_expands_to_three_equal_channels() -> None:
    d = decode_image(encode(gradient().convert("L"), "PNG"), **LIMITS)
    assert d.pixels.shape == (48, 64, 3)
    assert (d.pixels[..., 0] == d.pixels[..., 2]).all()


def test_cmyk_jpeg_converted() -> None:
    d = decode_image(encode(gradient().convert("CMYK"), "JPEG"), **LIMITS)
    ref = np.asarray(gradient(), dtype=np.int16)
    assert np.abs(d.pixels.astype(np.int16) - ref).mean() < 12


def test_16bit_grey_is_scaled_not_clipped() -> None:
    arr = (np.linspace(0, 65535, 64 * 48).reshape(48, 64)).astype(np.uint16)
    d = decode_image(encode(Image.fromarray(arr), "PNG"), **LIMITS)
    assert d.pixels[0, 0, 0] == 0
    assert d.pixels[-1, -1, 0] == 255
    assert 100 < d.pixels[24, 32, 0] < 160  # the middle stays mid-grey


def test_rgba_composited_on_white() -> None:
    img = Image.new("RGBA", (10, 10), (255, 0, 0, 0))
    d = decode_image(encode(img, "PNG"), **LIMITS)
    assert tuple(d.pixels[5, 5]) == (255, 255, 255)


def test_palette_with_transparency() -> None:
    img = gradient().convert("P")
    img.info["transparency"] = 0
    d = decode_image(encode(img, "PNG", transparency=0), **LIMITS)
    assert d.pixels.shape == (48, 64, 3)


def test_exif_orientation_applied() -> None:
    img = gradient(64, 48)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise for display
    d = decode_image(encode(img, "JPEG", exif=exif), **LIMITS)
    assert d.pixels.shape == (64, 48, 3)


def test_gif_first_frame() -> None:
    frames = [Image.new("RGB", (20, 20), c) for c in ((255, 0, 0), (0, 0, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:])
    d = decode_image(buf.getvalue(), **LIMITS)
    assert d.pixels[10, 10, 0] > 200 and d.pixels[10, 10, 2] < 50


def test_zero_bytes() -> None:
    with pytest.raises(CorruptImageError, match="empty"):
        decode_image(b"", source="x.jpg", **LIMITS)


def test_not_an_image_names_the_file() -> None:
    with pytest.raises(CorruptImageError, match=r"notes\.txt: not an image"):
        decode_image(b"hello, this is text" * 10, source="notes.txt", **LIMITS)


def test_truncated_jpeg() -> None:
    data = encode(gradient(200, 200), "JPEG", quality=95)
    with pytest.raises(CorruptImageError, match=r"truncated|damaged|cannot"):
        decode_image(data[: len(data) // 2], source="t.jpg", **LIMITS)


def test_byte_limit() -> None:
    data = encode(gradient(), "PNG")
    with pytest.raises(ImageTooLargeError, match="bytes"):
        decode_image(data, max_bytes=len(data) - 1, max_pixels=10**9)


def test_pixel_limit_refuses_before_decoding() -> None:
    big = Image.new("L", (4000, 3000))
    data = encode(big, "PNG")
    with pytest.raises(ImageTooLargeError, match="pixels"):
        decode_image(data, max_bytes=10**9, max_pixels=4000 * 3000 - 1)


def test_unsupported_format() -> None:
    data = encode(gradient(), "PPM")
    with pytest.raises(CorruptImageError, match="unsupported"):
        decode_image(data, **LIMITS)
