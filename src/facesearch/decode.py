"""Bytes -> RGB uint8 pixels, with EXIF orientation applied and size guards. Pure.

Accepted formats: JPEG (and MPO), PNG, WebP, BMP, TIFF, GIF (first frame). Every mode is
brought to 8-bit RGB: grayscale and palette are expanded, transparency is composited onto
white, CMYK is converted, 16-bit and 32-bit integer images are scaled down by their range
(not clipped, which would turn most 16-bit photos white).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from facesearch.errors import CorruptImageError, ImageTooLargeError
from facesearch.types import Image as Pixels

FORMATS = frozenset({"JPEG", "MPO", "PNG", "WEBP", "BMP", "TIFF", "GIF"})


@dataclass(frozen=True)
class Decoded:
    pixels: Pixels  # H x W x 3 RGB uint8, C-contiguous
    format: str

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])


def decode_image(
    data: bytes, *, source: str | None = None, max_bytes: int, max_pixels: int
) -> Decoded:
    """Decode ``data``; every failure is an ImageError naming ``source``."""
    if len(data) == 0:
        raise CorruptImageError("empty file (0 bytes)", source)
    if len(data) > max_bytes:
        raise ImageTooLargeError(
            f"file is {len(data):,} bytes, over the limit of {max_bytes:,}", source
        )
    with warnings.catch_warnings():
        # Our own pixel limit below replaces Pillow's warning-based one.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
        except UnidentifiedImageError as exc:
            raise CorruptImageError("not an image file (format not recognised)", source) from exc
        except Image.DecompressionBombError as exc:
            raise ImageTooLargeError(str(exc), source) from exc
        except (OSError, ValueError, SyntaxError) as exc:
            raise CorruptImageError(f"cannot read image: {exc}", source) from exc
        if image.format not in FORMATS:
            raise CorruptImageError(f"unsupported image format {image.format}", source)
        fmt = str(image.format)
        width, height = image.size
        if width <= 0 or height <= 0:
            raise CorruptImageError("image has no pixels", source)
        if width * height > max_pixels:
            raise ImageTooLargeError(
                f"image is {width}x{height} = {width * height:,} pixels, "
                f"over the limit of {max_pixels:,}",
                source,
            )
        try:
            image.seek(0)
            image.load()
            pixels = _to_rgb(ImageOps.exif_transpose(image) or image)
        except Image.DecompressionBombError as exc:
            raise ImageTooLargeError(str(exc), source) from exc
        except (OSError, ValueError, SyntaxError, EOFError) as exc:
            raise CorruptImageError(
                f"cannot decode image (truncated or damaged): {exc}", source
            ) from exc
    return Decoded(pixels=pixels, format=fmt)


def _to_rgb(image: Image.Image) -> Pixels:
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(image).astype(np.float64)
        top = 65535.0 if mode.startswith("I;16") else max(float(arr.max()), 1.0)
        if mode in ("I", "F") and top <= 255.0:
            top = 255.0
        grey = np.clip(arr * (255.0 / top), 0, 255).round().astype(np.uint8)
        return np.ascontiguousarray(np.repeat(grey[:, :, None], 3, axis=2))
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    if image.mode != "RGB":
        image = image.convert("RGB")
    return np.ascontiguousarray(np.asarray(image, dtype=np.uint8))
