"""Private modes (``facesearch.private``): what facesearch writes is owner-only, and what it
is pointed at but does not own as a file (a device, a pipe) keeps its mode."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from facesearch.private import make_private_dir, private_file


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_file_and_a_folder_are_made_owner_only(tmp_path: Path) -> None:
    file = tmp_path / "export.csv"
    file.write_text("x")
    file.chmod(0o644)
    assert mode(private_file(file)) == 0o600
    folder = tmp_path / "a" / "b"
    assert mode(make_private_dir(folder)) == 0o700 and mode(folder.parent) == 0o700


def test_a_pipe_or_device_written_to_keeps_its_mode(tmp_path: Path) -> None:
    """``audit export --out /dev/null`` as root made /dev/null 0600 for the whole machine
    (every other user's ``> /dev/null`` then failed): only regular files are tightened."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo, 0o666)
    fifo.chmod(0o666)
    private_file(fifo)
    assert mode(fifo) == 0o666
