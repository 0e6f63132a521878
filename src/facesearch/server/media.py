"""Image bytes the server shows: face crops, and the type and size of gallery images.

A gallery image is read back from its catalog ``source`` by ``gallery.sources.read_source``
(a file, or ``ARCHIVE!member``; an upload of a home moved since is found under the current
home). Paths come from the catalog only, never from a request, so no request can name a file
to read.
Crops are JPEGs made by ``reports.html.face_crop_jpeg`` (the face box widened by 30 %, at most
160 px). The content type of anything served is read from its bytes.
"""

from __future__ import annotations

import io
import warnings

from PIL import Image

from facesearch.errors import CorruptImageError, ImageError
from facesearch.reports.html import face_crop_jpeg
from facesearch.server.limits import IMAGE_MIME
from facesearch.settings import Settings
from facesearch.types import BBox


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


def crop(data: bytes, bbox: BBox, settings: Settings) -> bytes:
    """A JPEG of the face at ``bbox``; ImageError if the image cannot be decoded."""
    try:
        return face_crop_jpeg(
            data, bbox, settings.limits.max_file_bytes, settings.limits.max_pixels
        )
    except ImageError:
        raise
    except (OSError, ValueError) as exc:
        raise CorruptImageError(f"cannot crop the face: {exc}") from exc


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
