"""scripts/demo.sh, README's first command, run again after a user closed the demo's case or
opened cases of their own: it serves whatever was done in between.

The script runs as written, in a copy of the repository's layout whose ``.venv/bin/facesearch``
is the CLI on the fake pipeline (``models``, ``eval`` and ``serve`` only say they ran)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tests.fakes import face_photo

REPO = Path(__file__).resolve().parents[2]

FAKE_CLI = """#!{python}
import sys
sys.path.insert(0, {repo!r})
args = sys.argv[1:]
if args[:1] in (["models"], ["eval"], ["serve"]):
    print("STUB", *args)
    sys.exit(0)
from facesearch.cli import main
from tests.fakes import FakePipeline
sys.exit(main(args, pipelines=FakePipeline))
"""


@pytest.fixture()
def demo(tmp_path: Path) -> Path:
    """A copy of the layout demo.sh runs in, with a three-photo LFW beside it."""
    root = tmp_path / "repo"
    (root / "scripts").mkdir(parents=True)
    shutil.copy(REPO / "scripts" / "demo.sh", root / "scripts" / "demo.sh")
    bin_dir = root / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "facesearch").write_text(FAKE_CLI.format(python=sys.executable, repo=str(REPO)))
    (bin_dir / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    for exe in ("facesearch", "python"):
        (bin_dir / exe).chmod(0o755)
    images = tmp_path / "lfw" / "lfw-deepfunneled"
    for person, name, n in (
        (0, "Aaron_Peirsol", 1),
        (0, "Aaron_Peirsol", 2),
        (1, "Colin_Powell", 1),
    ):
        (images / name).mkdir(parents=True, exist_ok=True)
        (images / name / f"{name}_{n:04d}.jpg").write_bytes(face_photo(person, n))
    return root


def run_demo(root: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "FACESEARCH_HOME": str(root / "demo-home"),
        "FACESEARCH_LFW_DIR": str(root.parent / "lfw"),
    }
    return subprocess.run(
        ["bash", "scripts/demo.sh"], cwd=root, env=env, capture_output=True, text=True, timeout=300
    )


def fs(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FACESEARCH_HOME": str(root / "demo-home")}
    return subprocess.run(
        [str(root / ".venv" / "bin" / "facesearch"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def cases(root: Path) -> dict[str, str]:
    listed = fs(root, "cases", "list", "--json").stdout.splitlines()
    return {c["number"]: c["status"] for c in map(json.loads, listed)}


def searched_under(root: Path) -> list[str | None]:
    out = fs(root, "audit", "export", "--format", "jsonl", "--action", "search").stdout
    return [json.loads(line)["case"] for line in out.splitlines()]


def test_the_demo_serves_again_after_its_case_was_closed_or_never_opened(demo: Path) -> None:
    """Run once, then a case of the user's own (DEMO-1 never opened), then DEMO-1 closed: the
    second and third runs stopped at "there is no case DEMO-1" / "case DEMO-1 is closed",
    exit 2, and never served."""
    first = run_demo(demo)
    assert first.returncode == 0, first.stderr
    assert "STUB serve" in first.stdout and cases(demo) == {}  # no case started for it
    assert searched_under(demo) == ["DEMO-1"]

    assert fs(demo, "cases", "open", "K-7", "--title", "the user's own").returncode == 0
    second = run_demo(demo)
    assert second.returncode == 0, second.stderr
    assert "STUB serve" in second.stdout and "skipped" not in second.stderr
    assert cases(demo) == {"K-7": "open", "DEMO-1": "open"}

    assert fs(demo, "cases", "close", "DEMO-1").returncode == 0
    third = run_demo(demo)
    assert third.returncode == 0, third.stderr
    assert "STUB serve" in third.stdout and "skipped" not in third.stderr
    assert cases(demo) == {"K-7": "open", "DEMO-1": "closed", "DEMO-2": "open"}
    assert searched_under(demo) == ["DEMO-1", "DEMO-1", "DEMO-2"]
