"""The overhead of Ray on one node: 2,000 LFW images ingested by the plain ingest, and with
``--ray auto`` (a local cluster of every core) by 1 and by 2 actors, side by side.

    .venv/bin/python benchmarks/ray_ingest.py [--limit 2000] [--actors 1 2] [--repeat 3]

Each run is ``facesearch ingest LIST --label-from-dir --json [--ray --ray-actors N]`` in a
fresh process and home (the model cache is kept, as on any machine after the first run). The
wall time runs from process start to exit, so a Ray run pays for starting its cluster and
its actors (models loaded once per actor) there. With ``--repeat``, the three kinds of run
take turns, and the table gives each kind's median. Prints a table and writes
benchmarks/results/ray_ingest.json with every run and the CPU model and flags (``load.cpu``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from facesearch.settings import Settings
from load import cpu

RESULTS = Path(__file__).resolve().parent / "results"


def run(listing: Path, home: Path, *extra: str) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "facesearch", "ingest", str(listing), "--label-from-dir"]
    env = {**os.environ, "FACESEARCH_HOME": str(home)}
    load_before = os.getloadavg()[0]
    t = time.perf_counter()
    done = subprocess.run([*cmd, "--json", *extra], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if done.returncode != 0:
        sys.exit(f"{' '.join(extra) or 'plain'} failed:\n{done.stderr[-3000:]}")
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    return {
        "how": " ".join(extra) or "plain",
        "images_seen": summary["images_seen"],
        "images_added": summary["images_added"],
        "faces_added": summary["faces_added"],
        "failed": len(summary["failed"]),
        "wall_s": round(wall, 2),
        "ingest_s": summary["seconds"],
        "images_per_s": round(summary["images_seen"] / wall, 2),
        "load_avg_1m_before": load_before,
        "load_avg_1m_after": os.getloadavg()[0],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--limit", type=int, default=2000, help="the first N LFW images (2000)")
    ap.add_argument("--actors", type=int, nargs="+", default=[1, 2], help="pool sizes (1 2)")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each kind, taking turns")
    args = ap.parse_args()
    root = Settings.from_env().lfw_dir.resolve() / "lfw-deepfunneled"
    if not root.is_dir():
        sys.exit(f"LFW not found at {root} (set FACESEARCH_LFW_DIR)")
    work = Path(tempfile.mkdtemp(prefix="fs-ray-ingest-"))
    listing = work / "list.txt"
    listing.write_text("\n".join(map(str, sorted(root.glob("*/*.jpg"))[: args.limit])))
    kinds = [()] + [("--ray", "auto", "--ray-actors", str(n)) for n in args.actors]
    rows = [
        run(listing, work / f"{turn}-{k}", *extra)
        for turn in range(args.repeat)
        for k, extra in enumerate(kinds)
    ]
    medians = {
        how: statistics.median(r["wall_s"] for r in rows if r["how"] == how)
        for how in dict.fromkeys(r["how"] for r in rows)
    }
    plain = medians["plain"]
    print(f"{'run (median of ' + str(args.repeat) + ')':<30} {'images':>7} {'faces':>7} "
          f"{'wall s':>8} {'img/s':>7} {'vs plain':>9}  every wall s")  # fmt: skip
    for how, wall in medians.items():
        r = next(r for r in rows if r["how"] == how)
        walls = " ".join(f"{x['wall_s']:.1f}" for x in rows if x["how"] == how)
        print(
            f"{how:<30} {r['images_seen']:>7,} {r['faces_added']:>7,} {wall:>8.1f} "
            f"{r['images_seen'] / wall:>7.1f} {wall / plain:>8.2f}x  {walls}"
        )
    if len({(r["images_added"], r["faces_added"]) for r in rows}) != 1:
        print("WARNING: the runs stored different counts", file=sys.stderr)
    report = {
        "limit": args.limit,
        "machine": cpu(),
        "median_wall_s": medians,
        "median_vs_plain": {how: round(wall / plain, 3) for how, wall in medians.items()},
        "runs": rows,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ray_ingest.json").write_text(json.dumps(report, indent=1))
    shutil.rmtree(work)
    print(f"written {RESULTS / 'ray_ingest.json'}")


if __name__ == "__main__":
    main()
