"""benchmarks/org_counts.py on a small catalog: the page's subject count and the lookup
through each subject agree, and every figure is timed."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "org_counts.py"


def test_the_subject_count_of_some_collections_agrees_with_the_lookup_by_subject() -> None:
    path, modules = list(sys.path), set(sys.modules)
    spec = importlib.util.spec_from_file_location("org_counts_bench", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
        row = module.one_size(1_000, 1)  # asserts the two counts agree
    finally:  # leave no benchmarks/ modules ("load", "index_sync") importable by name
        sys.path[:] = path
        for name in set(sys.modules) - modules:
            if name in ("load", "index_sync", "load_ingest", spec.name):
                del sys.modules[name]
    # subjects 0..99, each in collection k % 10; every seventh one's last face in the next
    assert (row["faces"], row["subjects"], row["subjects_in_1"]) == (1_000, 100, 11)
    assert all(row[k] > 0 for k in row if k.endswith("_s") and k != "build_s")
    assert "1,000" in module.table([row])
