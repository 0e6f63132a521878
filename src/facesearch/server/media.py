"""Image bytes the server shows: gallery source images, face crops, kept probes.

A gallery image is read back from its catalog ``source``: a file path, or
``ARCHIVE!member`` for an image ingested from a zip or tar archive (``sources.py``). Paths
come from the catalog only, never from a request, so no request can name a file to read. A
file uploaded to the server (``HOME/uploads/<job>/...``) whose home has since been moved or
restored to another path is read from the same place under the current home: the catalog
still names the old path.
Crops are JPEGs made by ``report.face_crop_jpeg`` (the face box widened by 30 %, at most
160 px). The content type of anything served is read from its bytes.
"""

from __future__ import annotations

import io
import tarfile
import warnings
import zipfile
from pathlib import Path

from PIL import Image

from facesearch.errors import CorruptImageError, ImageError, NotFoundError
from facesearch.gallery.uploads import moved_upload
from facesearch.reports.html import face_crop_jpeg
from facesearch.server.limits import IMAGE_MIME
from facesearch.settings import Settings
from facesearch.types import BBox

ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")


def read_source(source: str, max_bytes: int, home: Path | None = None) -> bytes:
    """The bytes of a gallery image from its catalog source; NotFoundError if gone.

    With ``home``, an uploaded file no longer where the source says is looked for under
    ``home/uploads/`` (``moved_upload``).
    """
    path = Path(source)
    try:
        if not path.is_file() and home is not None:
            path = moved_upload(source, home) or path
        if path.is_file():
            if path.stat().st_size > max_bytes:
                raise NotFoundError("the source image is over the size limit")
            return path.read_bytes()
        archive, sep, member = source.partition("!")
        if sep and archive.lower().endswith(ARCHIVE_SUFFIXES) and Path(archive).is_file():
            return _member(Path(archive), member, max_bytes)
    except OSError as exc:
        raise NotFoundError(f"the source image cannot be read: {exc.strerror or exc}") from exc
    raise NotFoundError("the source image is no longer available")


def _member(archive: Path, member: str, max_bytes: int) -> bytes:
    try:
        if archive.name.lower().endswith(".zip"):
            with zipfile.ZipFile(archive) as zf:
                info = zf.getinfo(member)
                if info.file_size > max_bytes:
                    raise NotFoundError("the source image is over the size limit")
                with zf.open(info) as fh:
                    return fh.read(max_bytes + 1)
        with tarfile.open(archive, mode="r:*") as tf:
            entry = tf.getmember(member)
            handle = tf.extractfile(entry) if entry.isreg() else None
            if handle is None or entry.size > max_bytes:
                raise NotFoundError("the source image is not available")
            return handle.read(max_bytes + 1)
    except (KeyError, zipfile.BadZipFile, tarfile.TarError, EOFError) as exc:
        raise NotFoundError("the source image is no longer available") from exc


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
