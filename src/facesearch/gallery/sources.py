"""What ingest reads: image files, folders, archives and list files -> ``Source`` items.

``iter_sources(paths, max_file_bytes)`` turns each PATH into sources, in a deterministic order:

- an image file: itself. A file named explicitly is always passed through, whatever its
  extension (decoding will say if it is not an image);
- a folder: every image file below it (by extension, case-insensitive: jpg jpeg png webp bmp
  tif tiff gif), recursively, sorted by name; hidden files and folders (".name") are skipped;
  symbolic links are followed, but a folder already visited in this walk is not entered again
  (no loops);
- a .zip, .tar, .tar.gz/.tgz (or .tar.bz2, .tar.xz) archive: its image members, in archive
  order, read in memory and never extracted to disk. Symbolic and hard links, devices, pipes,
  archives inside the archive, hidden members (".name"), ``__MACOSX`` resource forks and
  files that are not images (by name) are skipped, each reported with its reason to
  ``on_skip(source id, reason)`` when given; only directories pass without a word. A member's
  name is
  only ever a name: ``../x.jpg`` or ``/etc/x.jpg`` never becomes a path that is opened;
- a .txt or .lst file: a list of PATHs, one a line, each handled as if named explicitly;
  blank lines and lines starting with # are skipped, relative paths are taken from the list
  file's folder, and surrounding white space is dropped.

Failures are items, not exceptions. A path that does not exist, a folder that cannot be listed,
an archive or member that cannot be read, or anything over the byte limit still yields a
``Source``: its ``read()`` raises ``ImageError`` (``ImageTooLargeError`` past the limit,
``CorruptImageError`` for a broken archive or member) and, where the problem is known while
listing, ``problem`` says it. So the caller records every failure in one place:

    for source in iter_sources(paths, settings.limits.max_file_bytes):
        try:
            data = source.read()
        except ImageError as exc:
            catalog.record_failure(run_id, source.id, str(exc))
            continue
        ...

A member larger than the limit is refused from its declared size, without reading it; a member
whose data runs past its declared size fails its read (zip bombs). Archive members are read
while the iteration passes them (an archive cannot be re-opened cheaply per member), so a
member's Source holds its bytes: consume sources as they come rather than collecting them all.
Files on disk are read only when ``read()`` is called.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
import tarfile
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path, PurePosixPath

from facesearch.core.text import shown_name
from facesearch.errors import (
    CorruptImageError,
    ImageError,
    ImageTooLargeError,
    InputError,
    NotFoundError,
)
from facesearch.gallery.archives import (
    ARCHIVE_ERRORS,
    TAR_EXTENSIONS,
    ZIP_EXTENSIONS,
    hidden_member,
    member_source,
    read_member,
    split_member,
    tar_member_kind,
    zip_member_kind,
)
from facesearch.gallery.uploads import moved_upload

log = logging.getLogger(__name__)

# The one list of the image file names that a folder walk, an archive and an upload take.
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"})
NESTED_ARCHIVES = (".zip", ".tar", ".tgz", ".gz", ".bz2", ".tbz2", ".xz", ".txz", ".7z", ".rar")
SkipFn = Callable[[str, str], None]  # (source id, reason) of a member skipped on purpose
LIST_EXTENSIONS = (".txt", ".lst")


@dataclass(frozen=True)
class Source:
    """One image to ingest, or one failure to record."""

    id: str  # stable: the resolved file path, or "ARCHIVE!member/name" for an archive member
    label: str | None  # the name of the image's parent folder (for --label-from-dir)
    size: int  # bytes, as listed (a member's declared size); 0 when unknown
    reader: Callable[[], bytes] = field(repr=False, compare=False)
    problem: str | None = None  # why read() will fail, when known while listing

    def read(self) -> bytes:
        """The file's bytes; ImageError (or a subclass) when they cannot be had."""
        return self.reader()


def is_image_name(name: str) -> bool:
    return Path(name).suffix.lower() in IMAGE_EXTENSIONS


def iter_sources(
    paths: Sequence[str | Path], max_file_bytes: int, *, on_skip: SkipFn | None = None
) -> Iterator[Source]:
    """Every source named by ``paths``, in order; archive members skipped on purpose are
    told to ``on_skip`` (see the module docstring)."""
    if isinstance(paths, str | Path):
        raise InputError("iter_sources takes a sequence of paths, not a single path")
    if isinstance(max_file_bytes, bool) or not isinstance(max_file_bytes, int):
        raise InputError(f"max_file_bytes must be an integer, not {max_file_bytes!r}")
    if max_file_bytes <= 0:
        raise InputError("max_file_bytes must be positive")
    lists_read: set[Path] = set()
    told = on_skip or _quiet

    def skip(source_id: str, reason: str) -> None:
        told(shown_name(source_id), reason)

    for path in paths:
        for source in _named(Path(os.path.abspath(path)), max_file_bytes, lists_read, skip):
            yield _with_utf8_name(source)


def _with_utf8_name(source: Source) -> Source:
    """``source``, or a failure if its name (or its folder's) is not valid UTF-8: the catalog
    stores names as UTF-8, and one such name crashed the whole ingest."""
    if shown_name(source.id) == source.id:
        return source
    return _failure(
        shown_name(source.id),
        "its name is not valid UTF-8 (rename the file or folder to ingest it)",
        error=CorruptImageError,
    )


def _quiet(source_id: str, reason: str) -> None:
    log.debug("%s: skipped: %s", source_id, reason)


def _named(path: Path, limit: int, lists_read: set[Path], skip: SkipFn) -> Iterator[Source]:
    """A path named explicitly (on the command line or in a list file); ``path`` is absolute."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        yield _failure(_resolved(path), "not found")
        return
    except OSError as exc:
        yield _failure(_resolved(path), f"cannot access: {exc.strerror or exc}")
        return
    name = path.name.lower()
    if stat.S_ISDIR(mode):
        yield from _walk(path, path.resolve(), limit, set())
    elif not stat.S_ISREG(mode):
        yield _failure(_resolved(path), "not a regular file or folder")
    elif name.endswith(ZIP_EXTENSIONS):
        yield from _zip_members(path, limit, skip)
    elif name.endswith(TAR_EXTENSIONS):
        yield from _tar_members(path, limit, skip)
    elif name.endswith(LIST_EXTENSIONS):
        yield from _listed(path, limit, lists_read, skip)
    else:
        yield _file(path, str(path.resolve()), _label(path.parent.name), limit)


def _walk(folder: Path, real: Path, limit: int, visited: set[tuple[int, int]]) -> Iterator[Source]:
    """Images below ``folder`` (as walked; ``real`` is its resolved path), sorted by name."""
    try:
        info = os.stat(folder)
        key = (info.st_dev, info.st_ino)
        if key in visited:
            log.debug("%s: folder already visited (symbolic link loop?), skipped", folder)
            return
        visited.add(key)
        with os.scandir(folder) as listing:
            entries = sorted(listing, key=lambda entry: entry.name)
    except OSError as exc:
        yield _failure(str(real), f"cannot list folder: {exc.strerror or exc}")
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        path = folder / entry.name
        try:
            linked = entry.is_symlink()
            target = path.resolve() if linked else real / entry.name
            if entry.is_dir():
                yield from _walk(path, target, limit, visited)
            elif entry.is_file() and is_image_name(entry.name):
                yield _file(path, str(target), _label(folder.name), limit, entry.stat().st_size)
        except OSError as exc:
            yield _failure(str(real / entry.name), f"cannot access: {exc.strerror or exc}")
        except RuntimeError:  # pathlib's "Symlink loop" (Python 3.11, 3.12)
            yield _failure(str(real / entry.name), "cannot access: a symbolic link loop")


def _file(path: Path, source_id: str, label: str | None, limit: int, size: int = -1) -> Source:
    if size < 0:
        try:
            size = path.stat().st_size
        except OSError:
            size = 0

    return Source(
        id=source_id, label=label, size=size, reader=lambda: _read_file(path, limit, source_id)
    )


def _read_file(path: Path, limit: int, source_id: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            if os.fstat(handle.fileno()).st_size > limit:
                raise _too_large(source_id, limit)
            data = handle.read(limit + 1)
    except OSError as exc:
        raise ImageError(f"cannot read: {exc.strerror or exc}", source_id) from exc
    if len(data) > limit:
        raise _too_large(source_id, limit)
    return data


def read_source(
    source: str, max_bytes: int, home: Path | None = None, *, sha256: str = ""
) -> bytes:
    """The bytes of an image from its catalog source: a file, or ``ARCHIVE!member``
    (``archives``); NotFoundError, saying why, when it is gone, unreadable or over
    ``max_bytes``. What shows a gallery image (the server, the HTML report) reads it here.

    With ``home``, an uploaded file (or archive) no longer where the source says, because the
    home was moved or restored, is looked for under ``home/uploads/`` (``moved_upload``).
    With ``sha256`` (the catalog's), bytes that are not the image ingested (the file replaced
    or edited since) are refused: a report must never show another photo in its place.
    """
    data = _read_source(source, max_bytes, home)
    if sha256 and hashlib.sha256(data).hexdigest() != sha256.lower():
        log.info("%s: its bytes are no longer those ingested (sha256 differs)", source)
        raise NotFoundError("the source image has changed since it was ingested")
    return data


def _read_source(source: str, max_bytes: int, home: Path | None) -> bytes:
    member = None if Path(source).is_file() else split_member(source)
    path = Path(source if member is None else member[0])
    try:
        if home is not None and not path.is_file():
            path = moved_upload(str(path), home) or path
        if not path.is_file():
            raise NotFoundError("the source image is no longer available")
        if member is not None:
            return read_member(path, member[1], max_bytes)
        return _read_file(path, max_bytes, source)
    except ImageTooLargeError as exc:
        raise NotFoundError("the source image is over the size limit") from exc
    except (ImageError, OSError) as exc:  # the details name paths: logged, not shown
        log.info("%s: %s", source, exc)
        raise NotFoundError("the source image is no longer available") from exc


def _listed(path: Path, limit: int, lists_read: set[Path], skip: SkipFn) -> Iterator[Source]:
    real = path.resolve()
    if real in lists_read:
        yield _failure(str(real), "list file already read (it lists itself?)")
        return
    lists_read.add(real)
    try:
        with open(path, encoding="utf-8-sig", errors="surrogateescape") as lines:
            for line in lines:
                entry = line.strip()
                if entry and not entry.startswith("#"):
                    target = Path(os.path.abspath(path.parent / entry))
                    yield from _named(target, limit, lists_read, skip)
    except OSError as exc:
        yield _failure(str(real), f"cannot read list file: {exc.strerror or exc}")


# -- archives ---------------------------------------------------------------------------------


# An archive member as the listing sees it: name, why its kind is skipped (None for a regular
# file), declared size, and read(n), which reads at most n bytes of it.
_Entry = tuple[str, str | None, int, Callable[[int], bytes]]


def _zip_members(path: Path, limit: int, skip: SkipFn) -> Iterator[Source]:
    archive = str(path.resolve())
    try:
        with zipfile.ZipFile(path) as zf:
            entries = (
                (info.filename, zip_member_kind(info), info.file_size, partial(_zip_read, zf, info))
                for info in zf.infolist()
                if not info.is_dir()
            )
            yield from _members(archive, entries, limit, skip)
    except ARCHIVE_ERRORS as exc:
        yield _failure(archive, f"cannot read zip archive: {exc}", error=CorruptImageError)


def _zip_read(zf: zipfile.ZipFile, info: zipfile.ZipInfo, n: int) -> bytes:
    with zf.open(info) as member:
        return member.read(n)


def _tar_members(path: Path, limit: int, skip: SkipFn) -> Iterator[Source]:
    archive = str(path.resolve())
    try:
        with tarfile.open(path, mode="r:*") as tf:
            yield from _members(archive, _tar_entries(tf), limit, skip)
    except (*ARCHIVE_ERRORS, _StreamBroken) as exc:
        yield _failure(archive, f"cannot read tar archive: {exc}", error=CorruptImageError)


def _tar_entries(tf: tarfile.TarFile) -> Iterator[_Entry]:
    """The members of a tar stream in order; each is read (if at all) before the next."""
    while (member := tf.next()) is not None:
        # TarFile keeps every header it has read; we never look back, so drop them to keep
        # memory flat on archives of millions of members.
        tf.members.clear()  # type: ignore[attr-defined]
        if not member.isdir():
            yield member.name, tar_member_kind(member), member.size, partial(_tar_read, tf, member)


class _StreamBroken(Exception):
    """A member of a tar stream that cannot be read: the rest of the stream cannot be either."""


def _tar_read(tf: tarfile.TarFile, member: tarfile.TarInfo, n: int) -> bytes:
    try:
        handle = tf.extractfile(member)
        return b"" if handle is None else handle.read(n)
    except ARCHIVE_ERRORS as exc:
        raise _StreamBroken(str(exc)) from exc


def _members(archive: str, entries: Iterable[_Entry], limit: int, skip: SkipFn) -> Iterator[Source]:
    """Sources of the image members of one archive; the others told to ``skip``. A member
    named like one before it is skipped: a source names its member by name, and reading it
    back (``read_member``) finds the first; ingesting the second showed the first's photo in
    its place."""
    seen: set[bytes] = set()  # digests of the names read so far (flat on huge archives)
    for name, kind, size, read in entries:
        source_id = member_source(archive, name)
        key = hashlib.blake2b(name.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        if key in seen:
            skip(source_id, "a second member of this name in the archive: only the first is read")
            continue
        seen.add(key)
        why = hidden_member(name) or kind or _not_image(name)
        if why:
            skip(source_id, why)
            continue
        label = _label(PurePosixPath(name).parent.name)
        if size > limit:
            yield _oversized(source_id, label, size, limit)
            continue
        try:
            data = read(limit + 1)
        except ARCHIVE_ERRORS as exc:
            yield _failure(source_id, f"cannot read archive member: {exc}", label=label,
                           error=CorruptImageError)  # fmt: skip
            continue
        yield _member(source_id, label, size, data, limit)


def _not_image(name: str) -> str | None:
    """Why a member is skipped by its name; None for an image name."""
    if is_image_name(name):
        return None
    if name.lower().endswith(NESTED_ARCHIVES):
        return "archive inside an archive: not opened (upload it on its own)"
    return "not an image file (by its name)"


def _member(source_id: str, label: str | None, size: int, data: bytes, limit: int) -> Source:
    if len(data) > limit:
        return _oversized(source_id, label, size, limit)
    return Source(id=source_id, label=label, size=size, reader=lambda: data)


# -- failures -----------------------------------------------------------------------------------


def _too_large(source_id: str, limit: int) -> ImageTooLargeError:
    return ImageTooLargeError(f"larger than the limit of {limit} bytes", source_id)


def _failure(
    source_id: str,
    message: str,
    *,
    error: type[ImageError] = ImageError,
    size: int = 0,
    label: str | None = None,
) -> Source:
    """A Source whose read() raises ``error(message)``."""

    def read() -> bytes:
        raise error(message, source_id)

    return Source(id=source_id, label=label, size=size, reader=read, problem=message)


def _oversized(source_id: str, label: str | None, size: int, limit: int) -> Source:
    message = f"larger than the limit of {limit} bytes"
    return _failure(source_id, message, error=ImageTooLargeError, size=size, label=label)


def _resolved(path: Path) -> str:
    try:
        return str(path.resolve())
    except (OSError, RuntimeError):  # RuntimeError: a symbolic link loop (Python 3.11, 3.12)
        return str(path)


def _label(name: str) -> str | None:
    return name if name not in ("", ".", "..") else None
