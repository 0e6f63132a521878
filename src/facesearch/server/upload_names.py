"""What the server calls an uploaded file, and the names it stores uploads under.

An upload of an ingest job is saved as ``incoming/NNNNNN-<stem><ext>`` (``incoming_name``):
its number keeps the upload order, its extension comes from its bytes; ``original_name``
gives the name back without the number. No client file name ever becomes a path: only a
``safe_name`` of it, a plain name without separators or a leading dot.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

from fastapi import UploadFile

from facesearch.app import UPLOADED_PHOTO
from facesearch.app.checks import check_name
from facesearch.errors import InputError

__all__ = ["incoming_name", "original_name", "safe_name", "upload_label"]

_UNSAFE = re.compile(r"[^\w.\- ]+")
_NUMBER = re.compile(r"^\d{6}-")


MAX_NAME_CHARS = 80
# of a safe name in UTF-8: with a number in front ("000001-") and an archive's suffix after
# it, it stays under the 255 bytes a file name may have
MAX_NAME_BYTES = 200
_MAX_EXT_CHARS = 10  # a longer last suffix is no extension, and is cut like the rest


def safe_name(name: str, fallback: str = "file") -> str:
    """A file or folder name that is only ever a name: no separators, no leading dot, at most
    MAX_NAME_CHARS characters and MAX_NAME_BYTES bytes, its extension kept when it is cut.
    (It was cut to 80 characters: a photo with a longer name lost its ".jpg", and with it
    its image ("no image file found"), and 80 characters of 4 bytes each made a name too
    long for the file system: a 500, or the whole job failed.)"""
    base = PurePosixPath(name.replace("\\", "/")).name
    return _shortened(_UNSAFE.sub("_", base).strip(" .")) or fallback


def _shortened(name: str) -> str:
    if len(name) <= MAX_NAME_CHARS and len(name.encode("utf-8")) <= MAX_NAME_BYTES:
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem or len(ext) > _MAX_EXT_CHARS:
        stem, ext = name, ""
    else:
        ext = dot + ext
    room = MAX_NAME_BYTES - len(ext.encode("utf-8"))  # a character cut in two is dropped
    stem = stem[: MAX_NAME_CHARS - len(ext)].encode("utf-8")[:room].decode("utf-8", "ignore")
    return stem.rstrip(" .") + ext  # its first character is neither (safe_name strips them)


def label_folder(label: str) -> str:
    """The folder an uploaded photo goes in under its label, from which ``--label-from-dir``
    reads the label back: the label itself when it can be a subject name and is a plain
    folder name (no separator, not hidden, no edge spaces, at most 255 bytes), else
    ``safe_name``'s cut-down form. (Every label went through ``safe_name``: "Ana 😀" became
    "Ana _", Persian lost its ZWNJ, and different names fell into one subject.)"""
    try:
        check_name(label, "subject")
    except InputError:
        return safe_name(label, "unnamed")
    plain = (
        "/" not in label
        and "\\" not in label
        and not label.startswith(".")
        and label.strip() == label
        and len(label.encode("utf-8")) <= 255
    )
    return label if plain else safe_name(label, "unnamed")


def upload_label(upload: UploadFile | None) -> str:
    """What messages call an uploaded file: its client file name cut down to a plain name,
    or "the uploaded photo" when it has none."""
    name = upload.filename if upload is not None else None
    return safe_name(name, UPLOADED_PHOTO) if name else UPLOADED_PHOTO


_ARCHIVE_SUFFIXES = (".zip", ".tar", ".gz", ".tgz", ".bz2", ".xz")


def upload_stem(filename: str | None, ext: str) -> str:
    """An uploaded file's safe name without its archive suffixes and ``ext``, the extension
    of what it holds, which ``incoming_name`` adds back: "photos.tar.gz" gives "photos".
    Suffixes go until none is left ("also.tar.gz" gave "also.tar", stored and shown as
    "also.tar.tar.gz")."""
    stem = safe_name(filename or "upload")
    suffixes = (*_ARCHIVE_SUFFIXES, ext.lower())
    while True:
        cut = next((s for s in suffixes if stem.lower().endswith(s)), "")
        if not cut or len(cut) == len(stem):
            return stem
        stem = stem[: -len(cut)]


def incoming_name(number: int, stem: str, ext: str) -> str:
    return f"{number:06d}-{stem}{ext}"


def original_name(path: Path) -> str:
    """The name an incoming upload was saved under, without its number."""
    return _NUMBER.sub("", path.name, count=1)
