"""The pure part of benchmarks/startup.py: reading ``-X importtime`` reports."""

from __future__ import annotations

import runpy
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "startup.py"

REPORT = """\
import time: self [us] | cumulative | imported package
import time:       100 |        100 |   child
import time:        50 |       1500 | parent
some line the program printed on stderr
import time:      2000 |       2500 | other
"""


@pytest.fixture(scope="module")
def bench() -> dict[str, Any]:
    path, modules = list(sys.path), set(sys.modules)
    try:
        return runpy.run_path(str(BENCH))
    finally:  # leave no benchmarks/ module ("pipeline") importable by name
        sys.path[:] = path
        for name in set(sys.modules) - modules:
            if name == "pipeline":
                del sys.modules[name]


def test_only_top_level_imports_are_summed(bench: dict[str, Any]) -> None:
    assert bench["import_seconds"](REPORT) == pytest.approx(0.004)


def test_a_real_report_is_read(bench: dict[str, Any]) -> None:
    err = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import json"],
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    assert bench["import_seconds"](err) > 0
