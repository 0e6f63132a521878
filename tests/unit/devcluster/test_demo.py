"""The distributed demo's photo list (``devcluster/demo.py``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from facesearch.devcluster.demo import _photos


def test_the_photo_list_names_absolute_paths_when_lfw_is_given_relative(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A fresh clone runs the demo with the default ../shared/data/lfw: the list file lives in
    # another folder, and ingest reads a list's relative paths from the list's own folder.
    for person, n in (("Aaron_X", 1), ("Colin_Powell", 1), ("Colin_Powell", 2)):
        folder = tmp_path / "shared" / "lfw" / "lfw-deepfunneled" / person
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{person}_{n:04d}.jpg").write_bytes(b"x")
    (tmp_path / "repo").mkdir()
    monkeypatch.chdir(tmp_path / "repo")
    base = tmp_path / "repo" / "demo"
    base.mkdir()
    listed = _photos(Path("../shared/lfw"), 2, base).read_text().split()
    assert len(listed) == 3
    for line in listed:
        assert os.path.isabs(line), line
        assert Path(line).is_file()
