"""What keeps the audit trail honest beyond its own file: a secret key and an anchor file.

Anyone who can write ``accountability.sqlite`` can recompute a plain hash chain, so every
entry also carries an HMAC-SHA256 (``chain.entry_mac``) made with a key that lives outside the
home, and every new head of the chain is appended to an anchor file that also lives outside
the home. ``audit verify`` checks both, so an entry appended, rewritten or cut off in the
database shows without a manually written-down head.

The key: ``settings.audit.key_file`` (``FACESEARCH_AUDIT_KEY_FILE``), by default
``$XDG_CONFIG_HOME/facesearch/audit.key`` -- one key per user, shared by every home of that
user. Its name does not depend on anything inside a home (a per-home name read from the home
would let whoever edits the home point facesearch at a fresh key) nor on the home's path
(moving the home would orphan the key). It is made on first use: 32 random bytes, mode 0600,
folder 0700. A key file that the group or others may read or write, or that holds fewer
than 32 bytes, is refused. A trail that already has keyed entries never gets a new key: if
the key file is gone, opening the home fails until it is restored from a backup. The trail
records its key's id (``key_id``); a home opened with another key file is refused at once
(``Keyring.check``), before any command could change data it cannot log.

The anchor: ``settings.audit.anchor_file`` (``FACESEARCH_AUDIT_ANCHOR_FILE``), by default
``$XDG_STATE_HOME/facesearch/audit-anchor-<digest of the home's path>.jsonl``: one file per
home, named after where the home is, not after anything an intruder could edit in it. It is
opened with ``O_APPEND``, mode 0600, and fsynced after every line. Its first line is a start
record (the head when anchoring began, and the seq keying began at); then one line per write
transaction that appended entries, naming the new head (seq, hash, MAC). An appender holds an
exclusive ``flock`` on it from just before its COMMIT until its line is written; ``verify``
holds a shared one while it reads, so the chain and the anchor it compares are one state.

Replicas (``database_url`` = PostgreSQL: one trail shared by processes on several machines).
Appends queue on the store's advisory lock, so the chain never forks; each machine keeps its
own anchor file (the default name follows its home's path; an anchor cannot be shared
between machines), and all of them must use the same key file (copy it to every machine: a
replica with another key is refused at open). A replica's anchor names only the heads *it*
committed, so it is a lower bound of the shared head: the other replicas append beyond it, and
it starts (its start record) at the head of the first time this replica appended. ``verify``
on a shared trail therefore

- accepts an anchor behind the head, a start record after keying began, and a missing anchor
  file (a replica that has not appended yet), each reported as a warning, not a failure;
- still refuses a trail shorter than the anchor (TRUNCATED: entries it anchored are gone) or
  different at an anchored head (ANCHOR: the chain was rewritten or forked there), and every
  MAC, hash and link as on SQLite.

What a deleted anchor file would have caught on SQLite, the anchors of the other replicas
still catch on their machines: run ``audit verify`` on each. On SQLite (one home, one
machine) a late start record, a missing anchor and entries beyond its head are failures.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import logging
import os
import secrets
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from facesearch.errors import ConfigError
from facesearch.private import fsync_dir, make_private_dir, write_private

log = logging.getLogger(__name__)

KEY_BYTES = 32
KEY_FILENAME = "audit.key"
_KEY_ID_LABEL = b"facesearch audit key id"
MAX_ANCHOR_LINE = 4096


def _xdg(variable: str, fallback: str) -> Path:
    return Path(os.environ.get(variable) or str(Path.home() / fallback))


def default_key_file() -> Path:
    """``$XDG_CONFIG_HOME/facesearch/audit.key`` (``~/.config`` when unset)."""
    return _xdg("XDG_CONFIG_HOME", ".config") / "facesearch" / KEY_FILENAME


def default_anchor_file(home: Path) -> Path:
    """``$XDG_STATE_HOME/facesearch/audit-anchor-<16 hex of sha256(home path)>.jsonl``.

    Copy a home to a new place together with its anchor: copy this file of the old home to
    this name of the new one.
    """
    where = str(Path(home).expanduser().resolve())
    digest = hashlib.sha256(where.encode("utf-8")).hexdigest()[:16]
    return _xdg("XDG_STATE_HOME", ".local/state") / "facesearch" / f"audit-anchor-{digest}.jsonl"


def key_id(key: bytes) -> str:
    """A short public name of a key (recorded in the trail to tell a wrong key file)."""
    return hmac.new(key, _KEY_ID_LABEL, hashlib.sha256).hexdigest()[:16]


def _private_folder(folder: Path) -> None:
    """Make ``folder`` (and missing parents) 0700; an existing one is left as it is (it may be
    a folder the user shares with other programs, or the home folder itself)."""
    if not folder.is_dir():
        make_private_dir(folder)


def read_key(path: Path) -> bytes:
    """Read and check a key file; ConfigError if it is loose, short, or not a file."""
    try:
        info = os.stat(path)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the audit key: {exc.strerror or exc}") from exc
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"{path}: the audit key is not a regular file")
    if info.st_mode & 0o077:
        raise ConfigError(
            f"{path}: the audit key may be read or written by others "
            f"(mode {stat.S_IMODE(info.st_mode):04o}); make it owner-only: chmod 600 {path}"
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the audit key: {exc.strerror or exc}") from exc
    if len(data) < KEY_BYTES:
        raise ConfigError(
            f"{path}: the audit key holds {len(data)} bytes; it needs at least {KEY_BYTES} "
            "random bytes (head -c 32 /dev/urandom)"
        )
    return data


def create_key(path: Path) -> bytes:
    """Make a new key file (32 random bytes, 0600) unless one appeared meanwhile; read it."""
    try:
        _private_folder(path.parent)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.new")
        write_private(tmp, secrets.token_bytes(KEY_BYTES))
        try:
            os.link(tmp, path)  # never replaces a key another process just made
            log.warning("made a new audit key %s: back it up, verify needs it", path)
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
        fsync_dir(path.parent)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot create the audit key: {exc.strerror or exc}") from exc
    return read_key(path)


# --- the anchor file --------------------------------------------------------------------------


@dataclass(frozen=True)
class AnchorRecord:
    """One line of the anchor file: a head (seq, hash, mac) of one trail."""

    line: int
    trail: str
    seq: int
    hash: str
    mac: str | None
    start: bool = False  # the first line: the head when anchoring began
    keyed_from: int | None = None  # start records: the seq keying began at

    @classmethod
    def parse(cls, line: int, text: str) -> AnchorRecord:
        value = json.loads(text)
        if not isinstance(value, dict):
            raise ValueError("not an object")
        seq, digest, mac = value["seq"], value["hash"], value.get("mac")
        keyed = value.get("keyed_from")
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 0:
            raise ValueError("bad seq")
        if not isinstance(digest, str) or not isinstance(value["trail"], str):
            raise ValueError("bad hash or trail")
        if mac is not None and not isinstance(mac, str):
            raise ValueError("bad mac")
        if keyed is not None and (not isinstance(keyed, int) or isinstance(keyed, bool)):
            raise ValueError("bad keyed_from")
        return cls(line, value["trail"], seq, digest, mac, bool(value.get("start")), keyed)


@dataclass(frozen=True)
class AnchorReading:
    """What verify needs from the anchor file: its start record, its highest head, problems.

    Only these are kept, not every line: the highest anchored head pins every entry up to it
    (each entry's hash and MAC cover its predecessor's), and the file may be long.
    """

    path: Path
    exists: bool
    start: AnchorRecord | None = None  # the first line, if it is a start record
    latest: AnchorRecord | None = None  # the record with the highest seq
    bad_lines: tuple[int, ...] = ()  # lines that are not anchor records
    foreign_lines: tuple[int, ...] = ()  # records of another trail
    lines: int = 0
    # (first, last, line): the first record of this trail that went back: line ``line``
    # anchors entry ``first`` (again, or with another hash) after an earlier line anchored
    # ``last``. Heads are appended in commit order, so entries first..last were cut and
    # written again (an older copy of the file put back, or its tail deleted, then used).
    rewound: tuple[int, int, int] | None = None


class AnchorFile:
    def __init__(self, path: Path) -> None:
        self.path = path

    def exists(self) -> bool:
        return self.path.exists()

    def ensure(self, start: dict[str, Any]) -> None:
        """Create the file with its start record if it does not exist (call it holding the
        database's write lock, so that the start record names a committed head)."""
        if self.path.exists():
            return
        try:
            _private_folder(self.path.parent)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return
        except OSError as exc:
            raise ConfigError(
                f"{self.path}: cannot create the audit anchor file: {exc.strerror or exc}"
            ) from exc
        try:
            os.write(fd, _line({**start, "start": True}))
            os.fsync(fd)
        except OSError as exc:
            raise ConfigError(f"{self.path}: cannot write the audit anchor: {exc}") from exc
        finally:
            os.close(fd)
        fsync_dir(self.path.parent)
        log.info("started the audit anchor file %s", self.path)

    def check_writable(self) -> None:
        """ConfigError if a head line could not be appended now (checked before a change
        that must not happen unlogged: an erasure, an ingest)."""
        try:
            if self.path.exists():
                os.close(os.open(self.path, os.O_WRONLY | os.O_APPEND))
                return
            folder = self.path.parent
            while not folder.exists() and folder.parent != folder:
                folder = folder.parent
            if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
                raise OSError(f"{folder} is not a folder this process may write in")
        except OSError as exc:
            raise ConfigError(
                f"{self.path}: cannot write the audit anchor file: {exc.strerror or exc}; "
                "set FACESEARCH_AUDIT_ANCHOR_FILE (setting audit_anchor_file) to a file this "
                "process may write. Nothing was done"
            ) from exc

    @contextmanager
    def shared(self) -> Iterator[None]:
        """Hold a shared lock on the file (if it exists): no appender commits meanwhile."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            yield
            return
        except OSError as exc:
            raise ConfigError(f"{self.path}: cannot read the audit anchor: {exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)  # releases the lock

    def read(self, trail: str) -> AnchorReading:
        try:
            handle = self.path.open("rb")
        except FileNotFoundError:
            return AnchorReading(self.path, exists=False)
        except OSError as exc:
            raise ConfigError(f"{self.path}: cannot read the audit anchor: {exc}") from exc
        start = latest = None
        rewound: tuple[int, int, int] | None = None
        bad: list[int] = []
        foreign: list[int] = []
        count = 0
        with handle:
            for count, raw in enumerate(handle, start=1):
                try:
                    if len(raw) > MAX_ANCHOR_LINE or not raw.endswith(b"\n"):
                        raise ValueError("too long or cut")
                    record = AnchorRecord.parse(count, raw.decode("utf-8"))
                except (ValueError, KeyError, UnicodeDecodeError):
                    if len(bad) < 10:
                        bad.append(count)
                    continue
                if count == 1 and record.start:
                    start = record
                if record.trail != trail:
                    if len(foreign) < 10:
                        foreign.append(count)
                    continue
                if latest is not None and rewound is None and _went_back(record, latest):
                    rewound = (record.seq, latest.seq, count)
                if latest is None or record.seq >= latest.seq:
                    latest = record
        return AnchorReading(
            self.path, True, start, latest, tuple(bad), tuple(foreign), count, rewound
        )


def _went_back(record: AnchorRecord, highest: AnchorRecord) -> bool:
    """Whether ``record``, read after ``highest``, anchors an entry at or below it anew (the
    same head written twice is not going back)."""
    if record.seq < highest.seq:
        return True
    return record.seq == highest.seq and record.hash != highest.hash


class AnchorWriter:
    """One head line of one write transaction: lock before COMMIT, write after it."""

    def __init__(self, anchor: AnchorFile) -> None:
        self.anchor = anchor
        self.record: dict[str, Any] | None = None
        self._fd: int | None = None

    def prepare(self) -> None:
        try:
            self._fd = os.open(self.anchor.path, os.O_WRONLY | os.O_APPEND)
        except OSError as exc:
            raise ConfigError(
                f"{self.anchor.path}: cannot open the audit anchor: {exc.strerror or exc}"
            ) from exc
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def committed(self) -> None:
        fd, record = self._fd, self.record
        self._fd, self.record = None, None
        if fd is None or record is None:
            return
        try:
            os.write(fd, _line(record))
            os.fsync(fd)
        except OSError:
            log.exception(
                "audit entry %s is committed but could not be anchored in %s; "
                "'audit verify' will report it as not anchored",
                record.get("seq"),
                self.anchor.path,
            )
        finally:
            os.close(fd)

    def aborted(self) -> None:
        fd = self._fd
        self._fd, self.record = None, None
        if fd is not None:
            os.close(fd)


def _line(record: dict[str, Any]) -> bytes:
    text = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return (text + "\n").encode("ascii")


class Keyring:
    """The key and the anchor file of one open store (the key is read once and kept)."""

    def __init__(self, key_path: Path, anchor_path: Path) -> None:
        self.key_path = key_path
        self.anchor = AnchorFile(anchor_path)
        self.writer = AnchorWriter(self.anchor)
        self._key: bytes | None = None
        if key_path.exists():
            self._key = read_key(key_path)  # a loose or short key is refused at open

    def key(self, *, create: bool) -> bytes | None:
        """The key; made on first use only if ``create`` (the trail has no keyed entry yet)."""
        if self._key is None:
            if self.key_path.exists():
                self._key = read_key(self.key_path)
            elif create:
                self._key = create_key(self.key_path)
        return self._key

    def check(self, recorded_id: str | None, keyed_from: int, head: int) -> None:
        """Refuse the key file if the trail's keyed entries were written with another key
        (``recorded_id``), or if it is gone while they need it."""
        if head < keyed_from and recorded_id is None:
            return  # nothing keyed yet: the first keyed entry makes or reads the key
        key = self.key(create=False)
        if key is None:
            if head >= keyed_from:
                raise self.missing_key_error(keyed_from, head)
            return
        if recorded_id is not None and key_id(key) != recorded_id:
            raise self.wrong_key_error(key_id(key), recorded_id)

    def wrong_key_error(self, found: str, recorded: str) -> ConfigError:
        return ConfigError(
            f"the audit key {self.key_path} (id {found}) is not the key this trail was written "
            f"with (id {recorded}): set FACESEARCH_AUDIT_KEY_FILE (setting audit_key_file) to "
            "the key file this home's trail was written with. The CLI and the server of one "
            "home must use the same key file, whichever user runs them. Nothing was done"
        )

    def missing_key_error(self, keyed_from: int, head: int) -> ConfigError:
        return ConfigError(
            f"the audit key {self.key_path} is missing, but entries {keyed_from}..{head} of "
            "this trail were keyed with it: restore it from your backup (or set "
            "FACESEARCH_AUDIT_KEY_FILE to it). A new key would make those entries unverifiable, "
            "so none is made"
        )
