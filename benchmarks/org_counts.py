"""What an organisation's gallery page costs to count: the subjects labelling a face in its
collections (``Catalog.subject_count``) and the ingest runs into them with their failed and
blocklisted files (``Catalog.run_counts``), against the whole catalog's counters.

Builds a catalog of N synthetic faces (random 512-d unit vectors, one face an image) in a
fresh home (real SQLite), spread over 10 collections, every face labelled with one of N/10
subjects (each subject's faces in one collection, a seventh of them in a second one too), and
100 ingest runs with a failure each. Times, median of ``--repeat``:

- ``subject_count`` for 1 and for 3 of the collections (``count(DISTINCT subject_id)`` over
  the faces of those collections, each of them read: what the page runs);
- the alternative, each subject of the catalog looked up through ``faces_by_subject`` until
  one of its faces is in one of them (``EXISTS``);
- ``run_counts`` for 1 collection; ``stats()`` (the whole catalog's counters).

    .venv/bin/python benchmarks/org_counts.py --faces 100000

Prints a table and writes benchmarks/results/org_counts.json (with the CPU model).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from facesearch.gallery.catalog import Catalog, NewFace, NewImage
from facesearch.types import BBox

sys.path.insert(0, str(Path(__file__).resolve().parent))
from index_sync import timed
from load import cpu

MODEL, DIM = "synthetic:bench", 512
COLLECTIONS = 10
EXISTS = (
    "SELECT count(*) FROM subjects s WHERE EXISTS (SELECT 1 FROM faces f "
    "JOIN images i ON i.id = f.image_id WHERE f.subject_id = s.id AND i.collection_id IN "
    "(SELECT id FROM collections WHERE name IN ({marks})))"
)


def build(cat: Catalog, faces: int, rng: np.random.Generator) -> None:
    """``faces`` faces over ``COLLECTIONS`` collections; subject k's faces in collection
    k % COLLECTIONS, and every seventh subject's last face in the next collection."""
    box, points = BBox(10, 10, 50, 50), ((1.0, 1.0),) * 5
    subjects = max(1, faces // 10)
    for lo in range(0, faces, 5000):
        vecs = rng.normal(size=(min(5000, faces - lo), DIM)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        by_collection: dict[str, list[NewImage]] = {}
        for i, v in enumerate(vecs):
            n = lo + i
            subject = n % subjects
            home = subject % COLLECTIONS
            if subject % 7 == 0 and n // subjects == 9:  # its last face: in the next one
                home = (home + 1) % COLLECTIONS
            by_collection.setdefault(f"c{home}", []).append(
                NewImage(
                    sha256=f"{n:064x}",
                    source=f"img{n}.jpg",
                    size_bytes=1,
                    width=100,
                    height=100,
                    subject=f"person {subject}",
                    faces=(NewFace(0, box, points, 0.9, {"size": 50.0}, MODEL, v),),
                )
            )
        for name, items in by_collection.items():
            cat.add_images(name, items)
    for r in range(100):
        run = cat.start_run({"collection": f"c{r % COLLECTIONS}", "paths": ["/photos"]})
        cat.record_failure(run, f"broken{r}.jpg", "cannot decode the image")
        cat.finish_run(run, {})


def exists(cat: Catalog, names: list[str]) -> int:
    with cat._reading() as conn:  # the alternative, as SQL: not part of the catalog's API
        sql = EXISTS.format(marks=", ".join("?" * len(names)))
        return int(conn.execute(sql, names).fetchone()[0])


def one_size(faces: int, repeat: int) -> dict[str, Any]:
    rng = np.random.default_rng(faces)
    out: dict[str, Any] = {"faces": faces, "subjects": max(1, faces // 10)}
    with tempfile.TemporaryDirectory() as tmp, Catalog.open_home(Path(tmp)) as cat:
        t = time.perf_counter()
        build(cat, faces, rng)
        out["build_s"] = round(time.perf_counter() - t, 1)
        one, three = ["c0"], ["c0", "c1", "c2"]
        assert cat.subject_count(one) == exists(cat, one)
        assert cat.subject_count(three) == exists(cat, three)
        out["subjects_in_1"] = cat.subject_count(one)
        cases: dict[str, Callable[[], Any]] = {
            "subject_count_1_s": lambda: cat.subject_count(one),
            "subject_count_3_s": lambda: cat.subject_count(three),
            "exists_1_s": lambda: exists(cat, one),
            "exists_3_s": lambda: exists(cat, three),
            "run_counts_1_s": lambda: cat.run_counts(one),
            "stats_s": cat.stats,
        }
        for key, fn in cases.items():
            fn()  # warm
            out[key] = float(f"{timed(fn, repeat):.3g}")  # 3 figures: 40 µs is not 0.0
    return out


def table(rows: list[dict[str, Any]]) -> str:
    keys = [k for k in rows[0] if k != "faces"]
    lines = [f"{'faces':>8} " + " ".join(f"{k:>18}" for k in keys)]
    for row in rows:
        lines.append(f"{row['faces']:>8,} " + " ".join(f"{row[k]:>18}" for k in keys))
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--faces", type=int, nargs="+", default=[100_000])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/org_counts.json"))
    args = ap.parse_args()
    rows = [one_size(n, args.repeat) for n in args.faces]
    print(table(rows))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"cpu": cpu(), "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
