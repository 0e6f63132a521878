from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from tests.made_images import png_header

from facesearch.core.decode import decode_image, decoded_pixels
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


# --- big images: reduced decoding (issue 7, item 8) and the pixel-limit message (item 15) ----


def marked(w: int, h: int, box: tuple[int, int, int, int]) -> Image.Image:
    """Black, with a white rectangle (x, y, w, h) to find again after reduction."""
    img = Image.new("RGB", (w, h))
    x, y, bw, bh = box
    img.paste((255, 255, 255), (x, y, x + bw, y + bh))
    return img


def white_box(pixels: np.ndarray) -> tuple[int, int, int, int]:
    ys, xs = np.nonzero(pixels[..., 0] > 128)
    return int(xs.min()), int(ys.min()), int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)


def test_big_png_is_decoded_reduced_and_maps_back() -> None:
    data = encode(marked(5000, 3000, (2500, 1000, 400, 200)), "PNG")
    d = decode_image(data, max_bytes=10**9, max_pixels=10**9, min_side=1000)
    assert d.reduction == 5  # 5000 // 1000
    assert d.pixels.shape == (600, 1000, 3)
    assert (d.width, d.height) == (5000, 3000)  # the original's size
    x, y, w, h = (v * d.reduction for v in white_box(d.pixels))
    assert (x, y, w, h) == (2500, 1000, 400, 200)


def test_big_jpeg_is_decoded_reduced_through_dct_scaling() -> None:
    data = encode(marked(6000, 4000, (3000, 2000, 800, 400)), "JPEG", quality=90)
    d = decode_image(data, max_bytes=10**9, max_pixels=10**9, min_side=1000)
    assert d.reduction == 4  # the largest DCT scale (1/2, 1/4, 1/8) within 6000 // 1000
    assert d.pixels.shape == (1000, 1500, 3)
    assert (d.width, d.height) == (6000, 4000)
    x, y, w, h = (v * d.reduction for v in white_box(d.pixels))
    assert abs(x - 3000) <= 8 and abs(y - 2000) <= 8
    assert abs(w - 800) <= 16 and abs(h - 400) <= 16


def test_reduced_decoding_keeps_the_exif_orientation() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise for display
    data = encode(marked(4000, 2000, (0, 0, 400, 400)), "JPEG", exif=exif)
    d = decode_image(data, max_bytes=10**9, max_pixels=10**9, min_side=1000)
    assert d.reduction == 4
    assert (d.width, d.height) == (2000, 4000)
    assert d.pixels.shape == (1000, 500, 3)
    x, y, _, _ = white_box(d.pixels)
    assert x > 350 and y < 10  # the top-left corner went to the top-right


def test_small_images_and_no_min_side_are_decoded_at_full_size() -> None:
    data = encode(marked(1999, 1500, (0, 0, 10, 10)), "PNG")
    assert decode_image(data, max_bytes=10**9, max_pixels=10**9, min_side=1000).reduction == 1
    full = decode_image(data, max_bytes=10**9, max_pixels=10**9)
    assert full.reduction == 1 and full.pixels.shape == (1500, 1999, 3)


@pytest.mark.parametrize("mode", ["P", "RGBA", "L", "I;16", "1"])
def test_reduced_decoding_of_every_mode(mode: str) -> None:
    img = marked(3000, 2000, (1500, 1000, 300, 300))
    if mode == "I;16":
        arr = (np.asarray(img.convert("L"), dtype=np.uint16) * 257).astype(np.uint16)
        img = Image.fromarray(arr)
    else:
        img = img.convert(mode)
    d = decode_image(encode(img, "PNG"), max_bytes=10**9, max_pixels=10**9, min_side=1000)
    assert d.reduction == 3 and d.pixels.shape == (667, 1000, 3)
    x, y, w, h = (v * d.reduction for v in white_box(d.pixels))
    assert abs(x - 1500) <= 3 and abs(y - 1000) <= 3  # within one reduced pixel
    assert abs(w - 300) <= 6 and abs(h - 300) <= 6


def test_pixel_limit_message_states_the_configured_limit() -> None:
    # 200 million pixels: past Pillow's own bomb limit (178,956,970) as well as ours
    with pytest.raises(ImageTooLargeError) as caught:
        decode_image(png_header(20_000, 10_000), source="huge.png", max_bytes=10**9,
                     max_pixels=50_000_000)  # fmt: skip
    message = str(caught.value)
    assert "50,000,000" in message and "200,000,000" in message
    assert "178,956,970" not in message and "178956970" not in message
    assert "huge.png" in message


def test_admit_is_told_the_pixels_held_while_decoding() -> None:
    from collections.abc import Iterator
    from contextlib import contextmanager

    told: list[int] = []

    @contextmanager
    def admit(pixels: int) -> Iterator[None]:
        told.append(pixels)
        yield

    png = encode(marked(5000, 3000, (0, 0, 10, 10)), "PNG")
    decode_image(png, max_bytes=10**9, max_pixels=10**9, min_side=1000, admit=admit)
    jpeg = encode(marked(6000, 4000, (0, 0, 10, 10)), "JPEG")
    decode_image(jpeg, max_bytes=10**9, max_pixels=10**9, min_side=1000, admit=admit)
    assert told == [5000 * 3000, 1500 * 1000]  # a JPEG is decoded small from the start


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_no_pixels_are_decoded_outside_admit(fmt: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from collections.abc import Iterator
    from contextlib import contextmanager

    from PIL import ImageFile

    admitted, loads = [False], []
    real_load = ImageFile.ImageFile.load

    def load(self: ImageFile.ImageFile) -> object:
        loads.append(admitted[0])
        return real_load(self)

    @contextmanager
    def admit(pixels: int) -> Iterator[None]:
        admitted[0] = True
        yield
        admitted[0] = False

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)
    data = encode(marked(3000, 2000, (0, 0, 10, 10)), fmt)
    decode_image(data, max_bytes=10**9, max_pixels=10**9, min_side=1000, admit=admit)
    assert loads and all(loads)  # PNG's getexif() would load the pixels before admit


@pytest.mark.parametrize(
    ("fmt", "size", "min_side"),
    [
        ("PNG", (64, 48), 0),
        ("PNG", (700, 500), 100),  # reduced 7x by Image.reduce
        ("JPEG", (700, 500), 100),  # DCT scale 1/4, no further whole factor
        ("JPEG", (1700, 300), 100),  # DCT scale 1/8, then 2x: 1/16
        ("JPEG", (300, 200), 100),  # 3x asked, DCT 1/2 given
        ("TIFF", (333, 77), 100),
    ],
)
def test_decoded_pixels_reads_from_the_header_what_the_decode_will_hold(
    fmt: str, size: tuple[int, int], min_side: int
) -> None:
    data = encode(gradient(*size), fmt)
    held = decode_image(data, min_side=min_side, **LIMITS).pixels
    assert decoded_pixels(data, min_side) == held.shape[0] * held.shape[1]


def test_decoded_pixels_of_an_unreadable_header_is_zero() -> None:
    assert decoded_pixels(b"not an image") == 0
    assert decoded_pixels(b"") == 0
    assert decoded_pixels(png_header(100_000, 100_000)) == 0  # a bomb: decode_image refuses it
