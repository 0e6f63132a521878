"""Saving an index directory atomically, and reading its manifest.

An index directory holds ``manifest.json`` and the data files it names. Every save writes
a new *generation*: data files with fresh names (``ROLE-GENERATION.EXT``), each written to a
hidden temporary name, flushed to disk (fsync) and renamed. Only then is ``manifest.json``
replaced (temporary file + fsync + ``os.replace`` + fsync of the directory): that rename is
the commit. A crash or error before it leaves the previous manifest and its files intact; a
crash after it leaves the new save complete. Finally the files of earlier generations, and
stray temporary files, are deleted -- this is what makes an erased face leave the disk
(deleting a file does not scrub the blocks underneath: use full-disk encryption where that
matters).

Manifest fields: ``format`` (this module's version), ``kind`` (which class reads it), ``dim``,
``count`` (vectors held; checked on load), ``params`` (the backend's parameters, JSON
values) and ``files`` (role -> file name in the directory).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from facesearch.errors import VectorIndexError
from facesearch.private import fsync_dir, make_private_dir, private_file

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
FORMAT = 1
_GENERATION_FILE = re.compile(r"^[a-z_]+-[0-9a-f]{24}\.[a-z0-9]+$")
_TEMP_FILE = re.compile(r"^\..+\.tmp$")

Writer = Callable[[Path], None]


@dataclass(frozen=True)
class Manifest:
    kind: str
    dim: int
    count: int
    params: dict[str, Any] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)

    def path(self, directory: Path, role: str) -> Path:
        """Path of the data file of ``role``; VectorIndexError when it is not named."""
        name = self.files.get(role)
        if name is None:
            raise VectorIndexError(f"{directory}: manifest names no {role!r} file")
        return directory / name


def read_manifest(directory: Path) -> Manifest:
    path = Path(directory) / MANIFEST
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise VectorIndexError(f"{directory}: no saved index ({MANIFEST} missing)") from exc
    except (OSError, ValueError) as exc:
        raise VectorIndexError(f"{path}: cannot read the manifest: {exc}") from exc
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise VectorIndexError(f"{path}: not a format-{FORMAT} index manifest")
    try:
        return Manifest(
            kind=str(raw["kind"]),
            dim=int(raw["dim"]),
            count=int(raw["count"]),
            params=dict(raw.get("params", {})),
            files={str(k): str(v) for k, v in dict(raw["files"]).items()},
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise VectorIndexError(f"{path}: malformed manifest: {exc}") from exc


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def save_generation(
    directory: Path, manifest: Manifest, writers: Mapping[str, tuple[str, Writer]]
) -> None:
    """Write a new generation of data files and commit it by replacing the manifest.

    ``writers`` maps a role to (file extension, function writing that file at a given path).
    ``manifest.files`` is filled in here. On any failure nothing visible changes."""
    directory = Path(directory)
    try:
        make_private_dir(directory)
    except OSError as exc:
        raise VectorIndexError(f"{directory}: cannot create the index folder: {exc}") from exc
    generation = f"{time.time_ns():016x}"[-16:] + secrets.token_hex(4)
    written: list[Path] = []
    files: dict[str, str] = {}
    try:
        for role, (ext, write) in writers.items():
            name = f"{role}-{generation}.{ext}"
            tmp = directory / f".{name}.{os.getpid()}.tmp"
            written.append(tmp)
            write(tmp)
            private_file(tmp)
            _fsync_file(tmp)
            os.replace(tmp, directory / name)
            written.append(directory / name)
            files[role] = name
        fsync_dir(directory)
        body = {
            "format": FORMAT,
            "kind": manifest.kind,
            "dim": manifest.dim,
            "count": manifest.count,
            "params": manifest.params,
            "files": files,
        }
        tmp = directory / f".{MANIFEST}.{generation}.tmp"
        written.append(tmp)
        tmp.write_text(json.dumps(body, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        private_file(tmp)
        _fsync_file(tmp)
        os.replace(tmp, directory / MANIFEST)  # the commit
        fsync_dir(directory)
    except BaseException as exc:
        for path in written:
            with contextlib.suppress(OSError):
                path.unlink()
        if isinstance(exc, OSError):
            raise VectorIndexError(f"{directory}: cannot save the index: {exc}") from exc
        raise
    remove_stale(directory, keep=set(files.values()))


def remove_stale(directory: Path, keep: set[str]) -> None:
    """Delete data files of other generations and leftover temporary files."""
    for path in Path(directory).iterdir():
        name = path.name
        if name in keep or name == MANIFEST:
            continue
        if _GENERATION_FILE.match(name) or _TEMP_FILE.match(name):
            try:
                path.unlink()
            except OSError as exc:  # the new save is committed; say so, don't fail it
                log.warning("could not delete old index file %s: %s", path, exc)
