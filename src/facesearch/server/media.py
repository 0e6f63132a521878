"""What the server needs to know about image bytes it serves: their type and displayed size.

Gallery images are read back from their catalog ``source`` by ``gallery.sources.read_source``
and face crops are made by ``app.gallery.crop``; the content type of anything served is read
from its bytes (``image_type``).
"""

from __future__ import annotations

import io
import warnings

from PIL import Image

from facesearch.errors import CorruptImageError
from facesearch.server.limits import IMAGE_MIME


def image_type(data: bytes) -> str:
    """The MIME type of image bytes, from the bytes."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as image:
                fmt = str(image.format)
        except Exception as exc:
            raise CorruptImageError("not a readable image") from exc
    mime = IMAGE_MIME.get(fmt)
    if mime is None:
        raise CorruptImageError(f"unsupported image format {fmt}")
    return mime


EXIF_ORIENTATION = 0x0112
ROTATED = (5, 6, 7, 8)  # EXIF orientations that swap width and height


def display_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) of an image as displayed (EXIF orientation applied); None if unreadable.

    Face boxes are in these coordinates (see ``types.py``).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                orientation = image.getexif().get(EXIF_ORIENTATION, 1)
        except Exception:
            return None
    return (height, width) if orientation in ROTATED else (width, height)
