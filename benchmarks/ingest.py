"""Ingest throughput: the whole of LFW (13,233 images) into a fresh home, as a user would.

    .venv/bin/python benchmarks/ingest.py [--limit N] [--keep HOME]

Runs ``facesearch ingest LFW/lfw-deepfunneled --label-from-dir --json`` in a fresh process
and home (the model cache is kept, as on any machine after the first run), then reads the
catalog: images/s, faces/s, wall time, faces and subjects stored, failures. Prints a table
and writes benchmarks/results/ingest.json. Target: >= 60 images/s, <= 4 minutes for LFW.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from facesearch.gallery.catalog import Catalog
from facesearch.settings import Settings

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--limit", type=int, help="only the first N images (a list file)")
    ap.add_argument("--keep", type=Path, help="ingest into this home and keep it")
    args = ap.parse_args()
    settings = Settings.from_env()
    root = settings.lfw_dir.resolve() / "lfw-deepfunneled"
    if not root.is_dir():
        sys.exit(f"LFW not found at {root} (set FACESEARCH_LFW_DIR)")
    work = Path(tempfile.mkdtemp(prefix="fs-ingest-"))
    home = args.keep or work / "home"
    target: Path = root
    if args.limit:
        target = work / "list.txt"
        files = sorted(root.glob("*/*.jpg"))[: args.limit]
        target.write_text("\n".join(map(str, files)))
    env = {**os.environ, "FACESEARCH_HOME": str(home)}
    cmd = [sys.executable, "-m", "facesearch", "ingest", str(target), "--label-from-dir", "--json"]
    t = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - t
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    with Catalog.open_home(home) as cat:
        stats = cat.stats()
    report = {
        "images_seen": summary["images_seen"],
        "images_added": summary["images_added"],
        "faces_added": summary["faces_added"],
        "failed": len(summary["failed"]),
        "subjects": stats["subjects"],
        "wall_s": wall,
        "ingest_s": summary["seconds"],
        "images_per_s": summary["images_seen"] / wall,
        "faces_per_s": summary["faces_added"] / wall,
        "load_avg_1m": os.getloadavg()[0],
        "cpus": os.cpu_count(),
    }
    rows = [
        ("images seen / added", f"{report['images_seen']:,} / {report['images_added']:,}"),
        ("faces stored", f"{report['faces_added']:,}"),
        ("subjects", f"{report['subjects']:,}"),
        ("failed", f"{report['failed']:,}"),
        ("wall time (process start to exit)", f"{wall:.1f} s"),
        ("images/s", f"{report['images_per_s']:.1f}"),
        ("faces/s", f"{report['faces_per_s']:.1f}"),
    ]
    for name, value in rows:
        print(f"{name:<36} {value}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ingest.json").write_text(json.dumps(report, indent=1))
    print(f"written {RESULTS / 'ingest.json'}")


if __name__ == "__main__":
    main()
