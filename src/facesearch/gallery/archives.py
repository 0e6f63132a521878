"""Archive members as catalog sources: ``ARCHIVE!member``.

An image ingested from a zip or tar archive (``sources.iter_sources``) is stored with the
source ``<archive path>!<member name>`` (``member_source``). ``split_member`` finds the archive
and the member in such a source again, and ``read_member`` reads the member back, in memory,
never extracting anything to disk.
"""

from __future__ import annotations

import lzma
import tarfile
import zipfile
import zlib
from pathlib import Path

from facesearch.errors import CorruptImageError, ImageTooLargeError

ZIP_EXTENSIONS = (".zip",)
TAR_EXTENSIONS = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
ARCHIVE_EXTENSIONS = ZIP_EXTENSIONS + TAR_EXTENSIONS
SEPARATOR = "!"

ARCHIVE_ERRORS = (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError, zlib.error,
                  lzma.LZMAError, RuntimeError, NotImplementedError, ValueError)  # fmt: skip


def member_source(archive: str, member: str) -> str:
    """The source of member ``member`` of the archive at ``archive`` (an absolute path)."""
    return f"{archive}{SEPARATOR}{member}"


def split_member(source: str) -> tuple[str, str] | None:
    """(archive path, member name) of an archive member's source; None for any other source.

    The archive is the part before the first ``!`` that follows an archive's name, so a ``!``
    in a member's name (or in a folder name that is not an archive's) is kept where it is.
    """
    at = source.find(SEPARATOR)
    while at >= 0:
        if source[:at].lower().endswith(ARCHIVE_EXTENSIONS):
            return source[:at], source[at + 1 :]
        at = source.find(SEPARATOR, at + 1)
    return None


def read_member(archive: Path, member: str, limit: int) -> bytes:
    """The bytes of ``member`` of the zip or tar archive at ``archive``.

    ImageTooLargeError past ``limit`` bytes (declared or read); CorruptImageError when the
    archive cannot be read, has no such member, or the member is not a regular file.
    """
    source = member_source(str(archive), member)
    try:
        if archive.name.lower().endswith(ZIP_EXTENSIONS):
            with zipfile.ZipFile(archive) as zf:
                info = zf.getinfo(member)
                if info.file_size > limit:
                    raise _too_large(source, limit)
                with zf.open(info) as member_file:
                    data = member_file.read(limit + 1)
        else:
            with tarfile.open(archive, mode="r:*") as tf:
                entry = tf.getmember(member)
                handle = tf.extractfile(entry) if entry.isreg() else None
                if handle is None:
                    raise CorruptImageError("not a regular file in its archive", source)
                if entry.size > limit:
                    raise _too_large(source, limit)
                data = handle.read(limit + 1)
    except KeyError as exc:
        raise CorruptImageError("no such member in the archive", source) from exc
    except ARCHIVE_ERRORS as exc:
        raise CorruptImageError(f"cannot read archive member: {exc}", source) from exc
    if len(data) > limit:
        raise _too_large(source, limit)
    return data


def _too_large(source: str, limit: int) -> ImageTooLargeError:
    return ImageTooLargeError(f"larger than the limit of {limit} bytes", source)
