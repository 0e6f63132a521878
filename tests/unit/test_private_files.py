"""Issue 7, item 2: everything facesearch creates under a home is 0600 / 0700."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest
from tests.unit.gallery.test_collections import DIM, MODEL, fill

from facesearch.accountability import AccountabilityStore
from facesearch.gallery.catalog import Catalog
from facesearch.gallery.collections import IndexSet
from facesearch.private import loose_modes
from facesearch.settings import Settings


def _modes(home: Path) -> dict[str, int]:
    out = {}
    for root, dirs, files in os.walk(home):
        for name in [*dirs, *files]:
            path = Path(root) / name
            out[str(path.relative_to(home))] = stat.S_IMODE(path.lstat().st_mode)
    return out


def test_catalog_index_and_accounts_are_private(tmp_path: Path) -> None:
    old = os.umask(0o022)  # a usual login umask: what users have
    try:
        home = tmp_path / "home"
        with Catalog.open_home(home) as cat:
            fill(cat, 40)
            indexes = IndexSet(home, cat, MODEL, DIM)
            indexes.ensure_loaded()
            indexes.save()
        AccountabilityStore.open(home).close()
    finally:
        os.umask(old)
    modes = _modes(home)
    assert "catalog.sqlite" in modes and any(k.startswith("index/c") for k in modes)
    loose = {k: oct(v) for k, v in modes.items() if v & 0o077}
    assert loose == {}
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert loose_modes(home) == []


def test_an_existing_loose_home_is_tightened_on_open(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with Catalog.open_home(home) as cat:
        fill(cat, 3)
    home.chmod(0o755)
    (home / "catalog.sqlite").chmod(0o644)
    assert loose_modes(home)
    Catalog.open_home(home).close()
    assert stat.S_IMODE((home / "catalog.sqlite").stat().st_mode) == 0o600
    assert stat.S_IMODE(home.stat().st_mode) == 0o700


def test_serve_warns_about_loose_modes(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from facesearch.server.app import warn_loose_modes

    home = tmp_path / "home"
    home.mkdir()
    (home / "stray.jpg").write_bytes(b"x")
    (home / "stray.jpg").chmod(0o644)
    with caplog.at_level(logging.WARNING):
        warn_loose_modes(Settings.from_env(env={}, home=home))
    assert "stray.jpg" in caplog.text and "0644" in caplog.text


def test_opening_the_catalog_again_keeps_other_connections_locks(tmp_path: Path) -> None:
    """Opening a second Catalog in a process must not touch the file behind SQLite's back:
    closing any descriptor of it drops every POSIX lock the process holds on it, and another
    process may then take the file over while it is in use (seen as a corrupted catalog in
    the concurrent-writers test)."""
    import subprocess
    import sys

    home = tmp_path / "home"
    code = (
        "import sqlite3, sys; c = sqlite3.connect(sys.argv[1], timeout=0);"
        "print(c.execute('PRAGMA journal_mode = DELETE').fetchone()[0])"
    )
    with Catalog.open_home(home) as first:
        fill(first, 2)
        Catalog.open_home(home).close()  # a second catalog in the same process
        other = subprocess.run(
            [sys.executable, "-c", code, str(home / "catalog.sqlite")],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert first.state(MODEL).face_count == 2
    # while `first` is open, no other process may switch the file out of WAL mode
    assert other.stdout.strip() != "delete", other


def test_accounts_first_still_makes_a_private_home(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        AccountabilityStore.open(tmp_path / "fresh" / "home").close()
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "fresh" / "home").stat().st_mode) == 0o700
    assert loose_modes(tmp_path / "fresh" / "home") == []


def test_index_files_of_an_older_facesearch_are_tightened_and_listed_once(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with Catalog.open_home(home) as cat:
        fill(cat, 5)
        IndexSet(home, cat, MODEL, DIM).save()
    for path in [home / "index", *(home / "index").rglob("*")]:  # as an older version left them
        path.chmod(0o755 if path.is_dir() else 0o644)
    listed = loose_modes(home)
    assert len(listed) == len(set(listed))  # each path once
    assert any("index/c" in p for p in listed)
    with Catalog.open_home(home) as cat:
        IndexSet(home, cat, MODEL, DIM).ensure_loaded()
    assert loose_modes(home) == []
