"""benchmarks/erase_like.py on a small catalog: the scan finds the person's faces, and the flat
index's top 10,000 (exact at this size) finds the same ones."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "erase_like.py"


def test_the_scan_and_an_exact_index_select_the_same_faces() -> None:
    path, modules = list(sys.path), set(sys.modules)
    spec = importlib.util.spec_from_file_location("erase_like_bench", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
        row = module.one_size(3_000, 1)
    finally:  # leave no benchmarks/ modules ("load", "index_sync") importable by name
        sys.path[:] = path
        for name in set(sys.modules) - modules:
            if name in ("load", "index_sync", "load_ingest", spec.name):
                del sys.modules[name]
    assert row["faces"] == 3_000 + module.PERSON
    assert row["scan_found"] == row["flat_found"] == module.PERSON
    assert row["scan_s"] > 0 and row["ivf_top10000_s"] > 0
    assert "| 3,030 | " in module.table([row]) and "Ray" not in module.table([row])
