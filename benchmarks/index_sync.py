"""What keeping an index in step with other writers costs (issue 7, item 1).

Builds a catalog of N synthetic 128-d faces in a fresh home (real SQLite, real FAISS), opens
one IndexSet on it as a long-lived reader (the server's), and times:

- ``sync`` when nothing changed (paid by every search),
- catching up after another writer committed a batch of 128 faces,
- repairing after another writer erased one face (ids compared with one snapshot),
- opening the saved index (load + check), saving it (sync + write, under the lock), and
  rebuilding it from the catalog.

    .venv/bin/python benchmarks/index_sync.py --faces 100000

Prints a table and writes benchmarks/results/index_sync.json (with the CPU model and flags).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from facesearch.gallery.catalog import Catalog, NewFace, NewImage
from facesearch.gallery.collections import IndexSet
from facesearch.types import BBox

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import cpu

MODEL, DIM = "synthetic:bench", 128


def add_faces(
    cat: Catalog, n: int, start: int, rng: np.random.Generator, vectors: np.ndarray | None = None
) -> None:
    """``n`` faces (random unit vectors, or ``vectors``), image names from ``start`` on."""
    box, points = BBox(10, 10, 50, 50), ((1.0, 1.0),) * 5
    for lo in range(0, n, 5000):
        if vectors is None:
            vecs = rng.normal(size=(min(5000, n - lo), DIM)).astype(np.float32)
            vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        else:
            vecs = vectors[lo : lo + 5000]
        items = [
            NewImage(
                sha256=f"{start + lo + i:064x}",
                source=f"img{start + lo + i}.jpg",
                size_bytes=1,
                width=100,
                height=100,
                faces=(NewFace(0, box, points, 0.9, {"size": 50.0}, MODEL, v),),
            )
            for i, v in enumerate(vecs)
        ]
        cat.add_images("bench", items)


def timed(fn: Callable[[], Any], repeat: int, before: Callable[[], Any] = lambda: None) -> float:
    """Median seconds of ``repeat`` runs of ``fn``, each after an untimed ``before()``."""
    out = []
    for _ in range(repeat):
        before()
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return statistics.median(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--faces", type=int, default=100_000)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/index_sync.json"))
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    rows: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        with Catalog.open_home(home) as writer, Catalog.open_home(home) as reader_cat:
            add_faces(writer, args.faces, 0, rng)
            reader = IndexSet(home, reader_cat, MODEL, DIM, kind="flat")
            reader.ensure_loaded()
            rows["sync, nothing changed (per search)"] = timed(reader.sync, 200)
            added = iter(range(args.faces, args.faces + 10 * 128, 128))
            rows["catch up 128 faces another writer added"] = timed(
                reader.sync, 10, before=lambda: add_faces(writer, 128, next(added), rng)
            )
            victims = iter(range(1, 100))
            rows["catch up after another writer erased 1 face"] = timed(
                reader.sync, 5, before=lambda: writer.delete_faces([next(victims)])
            )
            rows["save (sync + write, exclusive lock)"] = timed(reader.save, 3)

            def reopen() -> None:
                IndexSet(home, reader_cat, MODEL, DIM, kind="flat").ensure_loaded()

            rows["open the saved index (load + count check + sync)"] = timed(reopen, 3)
            rows["rebuild from the catalog (reindex)"] = timed(reader.rebuild, 1)
            assert reader.size() == reader_cat.state(MODEL).face_count
    print(f"faces: {args.faces:,}  (flat FAISS index, 128-d)")
    print("| operation | median |")
    print("|---|---|")
    for name, seconds in rows.items():
        print(f"| {name} | {seconds * 1000:.2f} ms |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "faces": args.faces,
                "cpu": cpu(),
                "median_ms": {k: v * 1000 for k, v in rows.items()},
            },
            indent=2,
        )
    )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
