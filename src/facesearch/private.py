"""Files that hold biometric data: private modes, and a lock shared between processes.

Everything facesearch creates under a home is readable by its owner alone: folders 0700,
files 0600 (``make_private_dir``, ``private_file``, ``write_private``). ``loose_modes`` lists
what is not, for ``serve`` to warn about at start. ``file_lock`` serialises writers of one
folder across processes (``fcntl.flock``; local file systems).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def make_private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents inside it) as 0700; tighten it if it exists."""
    path = Path(path)
    missing = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):
            folder.mkdir(mode=DIR_MODE)
    _tighten(path, DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """Make an existing regular file 0600 (owner read/write only)."""
    _tighten(Path(path), FILE_MODE)
    return Path(path)


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (unique temp name, fsync, rename), mode 0600."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def fsync_dir(path: Path) -> None:
    """Flush a folder's entries (a file made, renamed or linked in it) to disk; silently
    nothing where the folder is gone or the file system cannot fsync a folder."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _tighten(path: Path, mode: int) -> None:
    """Take group and other bits off a regular file or a folder; anything else (a device
    such as /dev/null given as an output, a pipe) is not ours and keeps its mode."""
    try:
        info = path.stat()
        if not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
            return
        current = stat.S_IMODE(info.st_mode)
        if current & ~mode:
            path.chmod(current & mode)
    except OSError:
        pass  # not ours to change (e.g. a shared parent); loose_modes reports it


def loose_modes(home: Path, limit: int = 20) -> list[str]:
    """Paths under ``home`` (itself included) that group or others can read, write or enter."""
    found: list[str] = []
    home = Path(home)
    if not home.exists():
        return found
    for root, dirs, files in os.walk(home):
        # each folder once: the home itself here, every other one as an entry of its parent
        names = [*dirs, *files] if Path(root) != home else [".", *dirs, *files]
        for name in names:
            path = Path(root) if name == "." else Path(root) / name
            try:
                info = path.lstat()
            except OSError:
                continue
            if stat.S_ISLNK(info.st_mode):
                continue
            if stat.S_IMODE(info.st_mode) & 0o077:
                found.append(f"{path} ({stat.S_IMODE(info.st_mode):04o})")
                if len(found) >= limit:
                    return found
    return found


def tighten_tree(root: Path) -> None:
    """Make ``root`` and everything below it owner-only (folders 0700, files 0600): for
    folders written before this rule (an older facesearch, a umask of 022)."""
    root = Path(root)
    if not root.is_dir():
        return
    _tighten(root, DIR_MODE)
    for folder, dirs, files in os.walk(root):
        for name in dirs:
            _tighten(Path(folder) / name, DIR_MODE)
        for name in files:
            path = Path(folder) / name
            if not path.is_symlink():
                _tighten(path, FILE_MODE)


@contextlib.contextmanager
def file_lock(path: Path, *, shared: bool = False) -> Iterator[None]:
    """Hold an advisory lock on ``path`` (created 0600) across processes and threads."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
    except OSError as exc:
        # A reader on a read-only home (a mounted snapshot, a replica) cannot create or
        # write the lock file; it can still take a shared lock on one that is there, and
        # where there is none, nobody can be writing.
        if not shared or exc.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            yield
            return
    try:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock
