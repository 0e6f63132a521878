"""Bytes -> RGB uint8 pixels, with EXIF orientation applied and size guards. Pure.

Pixels given in memory (a numpy array) get the same guards from ``check_pixels``.

Accepted formats: JPEG (and MPO), PNG, WebP, BMP, TIFF, GIF (first frame). Every mode is
brought to 8-bit RGB: grayscale and palette are expanded, transparency is composited onto
white, CMYK is converted, 16-bit and 32-bit integer images are scaled down by their range
(not clipped, which would turn most 16-bit photos white).

**Reduced decoding.** With ``min_side``, an image whose longer side is at least twice
``min_side`` is decoded at 1/``reduction`` of its size, the largest whole factor that keeps
the longer side at ``min_side`` or more: a JPEG through its DCT scaling (``Image.draft``: 1/2,
1/4, 1/8, never holding the full-size pixels), any other format decoded and then box-averaged
(``Image.reduce``) before the copies that conversion to RGB and to numpy make. Pixel ``(x, y)``
of the result covers original pixels ``[x * reduction, (x + 1) * reduction)``: multiply
coordinates found on ``pixels`` by ``reduction`` to map them back (``Decoded.width`` and
``height`` are the original's, oriented).
"""

from __future__ import annotations

import contextlib
import io
import math
import re
import warnings
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError

from facesearch.errors import CorruptImageError, ImageTooLargeError, InputError
from facesearch.types import Image as Pixels

FORMATS = frozenset({"JPEG", "MPO", "PNG", "WEBP", "BMP", "TIFF", "GIF"})


# EXIF orientation -> the transposition that shows the image upright (as ImageOps.exif_transpose)
_ORIENT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_PILLOW_PIXELS = re.compile(r"\((\d+) pixels\)")


@dataclass(frozen=True)
class Decoded:
    pixels: Pixels  # H x W x 3 RGB uint8, C-contiguous; 1/reduction of the original's size
    format: str
    reduction: int = 1  # original pixels per decoded pixel, along each axis
    size: tuple[int, int] | None = None  # (width, height) of the original, oriented

    @property
    def width(self) -> int:
        """Width of the original image (after EXIF orientation)."""
        return self.size[0] if self.size else int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        """Height of the original image (after EXIF orientation)."""
        return self.size[1] if self.size else int(self.pixels.shape[0])


def reduction_for(width: int, height: int, min_side: int) -> int:
    """The largest whole factor that keeps the longer side at ``min_side`` or more (>= 1)."""
    if min_side <= 0:
        return 1
    return max(1, max(width, height) // min_side)


def decoded_pixels(data: bytes, min_side: int = 0) -> int:
    """The pixels ``decode_image(data, min_side=min_side)`` will hold, read from the header
    alone (no pixel is decoded); 0 when the header cannot be read (``decode_image`` then says
    why)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as image:
                (width, height), fmt = image.size, image.format
        except Exception:  # Pillow raises many kinds for broken headers; decode_image reports
            return 0
    factor = reduction_for(width, height, min_side)
    if fmt in ("JPEG", "MPO"):  # the DCT scale (1/2, 1/4, 1/8), then a whole-factor reduce
        scale = max(k for k in (1, 2, 4, 8) if k <= factor)
        factor = scale * (factor // scale)
    return math.ceil(width / factor) * math.ceil(height / factor)


def decode_image(
    data: bytes,
    *,
    source: str | None = None,
    max_bytes: int,
    max_pixels: int,
    min_side: int = 0,
    admit: Callable[[int], AbstractContextManager[object]] | None = None,
) -> Decoded:
    """Decode ``data``; every failure is an ImageError naming ``source``.

    ``min_side`` > 0 allows decoding at reduced size (see the module docstring). ``admit(n)``,
    if given, is entered before the pixels are decoded and left once they are converted, ``n``
    being the pixels decoded (before any ``Image.reduce``): a caller can bound how many pixels
    its threads hold at once."""
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
            raise _bomb(exc, max_pixels, source) from exc
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
            factor = reduction_for(width, height, min_side)
            if factor > 1 and fmt in ("JPEG", "MPO"):
                image.draft(None, (math.ceil(width / factor), math.ceil(height / factor)))
            with admit(image.size[0] * image.size[1]) if admit else contextlib.nullcontext():
                image.load()
                # after load(): a PNG's getexif() would otherwise decode the whole image to look
                # for an eXIf chunk after the pixels, outside ``admit``
                orientation = _orientation(image)
                # what draft() achieved: the DCT scale whose rounded-up size we got
                reduction = 1
                if image.size[0] != width:
                    reduction = next(k for k in (2, 4, 8) if math.ceil(width / k) == image.size[0])
                sixteen_bit = image.mode.startswith("I;16")
                picture: Image.Image = image
                if factor // reduction > 1:
                    picture = _reduce(picture, factor // reduction)
                    reduction *= factor // reduction
                if picture is not image:
                    image.close()  # the full-size pixels go before the copies below
                transpose = _ORIENT.get(orientation)
                if transpose is not None:
                    picture = picture.transpose(transpose)
                pixels = _to_rgb(picture, sixteen_bit)
        except Image.DecompressionBombError as exc:
            raise _bomb(exc, max_pixels, source) from exc
        except (OSError, ValueError, SyntaxError, EOFError) as exc:
            raise CorruptImageError(
                f"cannot decode image (truncated or damaged): {exc}", source
            ) from exc
    size = (height, width) if orientation in (5, 6, 7, 8) else (width, height)
    return Decoded(pixels=pixels, format=fmt, reduction=reduction, size=size)


def check_pixels(pixels: object, max_pixels: int, source: str | None = None) -> Pixels:
    """``pixels`` as a C-contiguous H x W x 3 RGB uint8 array (an image given in memory).

    InputError for anything else (another dtype or shape, an empty array), ImageTooLargeError
    past ``max_pixels``: the checks a decoded file gets, never a crash further down."""
    if not isinstance(pixels, np.ndarray):
        raise InputError(f"an image array must be RGB uint8, not {type(pixels).__name__}")
    if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] != 3 or not pixels.size:
        raise InputError(
            "an image array must be RGB uint8, H x W x 3, not "
            f"{pixels.dtype} {' x '.join(map(str, pixels.shape)) or 'scalar'}"
        )
    count = int(pixels.shape[0]) * int(pixels.shape[1])
    if count > max_pixels:
        raise ImageTooLargeError(
            f"image has {count:,} pixels, over the limit of {max_pixels:,}", source
        )
    return np.ascontiguousarray(pixels)


def encode_png(pixels: Pixels) -> bytes:
    """Lossless PNG bytes of checked pixels (``check_pixels``)."""
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def _bomb(exc: Exception, max_pixels: int, source: str | None) -> ImageTooLargeError:
    return ImageTooLargeError(bomb_message(exc, max_pixels), source)


def bomb_message(exc: Exception, max_pixels: int) -> str:
    """Our message for Pillow's own refusal (DecompressionBombError), stating our limit, not
    Pillow's constant."""
    found = _PILLOW_PIXELS.search(str(exc))
    count = f"{int(found.group(1)):,} pixels" if found else "too many pixels"
    return f"image has {count}, over the limit of {max_pixels:,}"


def _orientation(image: Image.Image) -> int:
    try:
        value = image.getexif().get(0x0112, 1)
    except Exception:  # a damaged EXIF block: show the image as stored
        return 1
    return value if isinstance(value, int) else 1


def _reduce(image: Image.Image, factor: int) -> Image.Image:
    """Box-average by ``factor``; transparency is averaged premultiplied (no colour fringes)."""
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif image.mode == "1":
        image = image.convert("L")
    elif image.mode.startswith("I;16"):
        image = image.convert("I")
    if image.mode in ("RGBA", "LA", "PA"):
        premultiplied = "La" if image.mode == "LA" else "RGBa"
        plain = "LA" if image.mode == "LA" else "RGBA"
        return image.convert(premultiplied).reduce(factor).convert(plain)
    return image.reduce(factor)


def _to_rgb(image: Image.Image, sixteen_bit: bool = False) -> Pixels:
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(image).astype(np.float64)
        sixteen_bit = sixteen_bit or mode.startswith("I;16")
        top = 65535.0 if sixteen_bit else max(float(arr.max()), 1.0)
        if not sixteen_bit and top <= 255.0:
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
