"""Archive members as catalog sources: ``ARCHIVE!member``.

An image ingested from a zip or tar archive (``sources.iter_sources``) is stored with the
source ``<archive path>!<member name>`` (``member_source``). ``split_member`` finds the archive
and the member in such a source again, and ``read_member`` reads the member back, in memory,
never extracting anything to disk. ``zip_member_kind``, ``tar_member_kind`` and
``hidden_member`` say why a member is not read at all (a link, a device, a hidden file).
"""

from __future__ import annotations

import lzma
import stat
import tarfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath

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


# -- why a member is skipped ----------------------------------------------------------------


def zip_member_kind(info: zipfile.ZipInfo) -> str | None:
    """Why a member that a Unix zip marks as a link, device or pipe is skipped; None for a
    regular file."""
    kind = stat.S_IFMT(info.external_attr >> 16)
    if kind in (0, stat.S_IFREG):
        return None
    if kind == stat.S_IFLNK:
        return "symbolic link: links are not followed"
    return _special(kind)


def _special(kind: int) -> str:
    if kind in (stat.S_IFCHR, stat.S_IFBLK):
        return "device file: only regular files are read"
    if kind == stat.S_IFIFO:
        return "named pipe: only regular files are read"
    return "not a regular file: only regular files are read"


def tar_member_kind(member: tarfile.TarInfo) -> str | None:
    if member.isreg():
        return None
    if member.issym():
        return f"symbolic link (to {member.linkname}): links are not followed"
    if member.islnk():
        return f"hard link (to {member.linkname}): links are not followed"
    if member.ischr():
        return _special(stat.S_IFCHR)
    if member.isblk():
        return _special(stat.S_IFBLK)
    if member.isfifo():
        return _special(stat.S_IFIFO)
    return _special(0)


def hidden_member(name: str) -> str | None:
    """Why a hidden member (a part of its name starts with '.', or a macOS resource fork) is
    skipped; None for a visible one."""
    parts = PurePosixPath(name).parts
    if "__MACOSX" in parts:
        return "macOS resource fork (__MACOSX): not a photo"
    if any(p.startswith(".") and p not in (".", "..") for p in parts):
        return "hidden file or folder (a name part starts with '.'): not read"
    return None


# -- reading a member back ------------------------------------------------------------------


def read_member(archive: Path, member: str, limit: int) -> bytes:
    """The bytes of ``member`` of the zip or tar archive at ``archive``.

    ImageTooLargeError past ``limit`` bytes (declared or read); CorruptImageError when the
    archive cannot be read, has no such member, or the member is not a regular file.
    """
    source = member_source(str(archive), member)
    try:
        if archive.name.lower().endswith(ZIP_EXTENSIONS):
            with zipfile.ZipFile(archive) as zf:
                # the first of that name, as ingest read it (getinfo gives the last)
                info = next(i for i in zf.infolist() if i.filename == member and not i.is_dir())
                if info.file_size > limit:
                    raise _too_large(source, limit)
                with zf.open(info) as member_file:
                    data = member_file.read(limit + 1)
        else:
            with tarfile.open(archive, mode="r:*") as tf:
                # the first file of that name, as ingest listed it (getmember: the last entry)
                entry = next(m for m in tf if m.name == member and not m.isdir())
                handle = tf.extractfile(entry) if entry.isreg() else None
                if handle is None:
                    raise CorruptImageError("not a regular file in its archive", source)
                if entry.size > limit:
                    raise _too_large(source, limit)
                data = handle.read(limit + 1)
    except (KeyError, StopIteration) as exc:
        raise CorruptImageError("no such member in the archive", source) from exc
    except ARCHIVE_ERRORS as exc:
        raise CorruptImageError(f"cannot read archive member: {exc}", source) from exc
    if len(data) > limit:
        raise _too_large(source, limit)
    return data


def _too_large(source: str, limit: int) -> ImageTooLargeError:
    return ImageTooLargeError(f"larger than the limit of {limit} bytes", source)
