"""The overhead of Ray on one node: 2,000 LFW images ingested by the plain ingest, and with
``--ray auto`` (a local cluster of every core) by 1 and by 2 actors, side by side.

    .venv/bin/python benchmarks/ray_ingest.py [--limit 2000] [--actors 1 2]

Each run is ``facesearch ingest LIST --label-from-dir --json [--ray --ray-actors N]`` in a
fresh process and home (the model cache is kept, as on any machine after the first run). The
wall time runs from process start to exit, so a Ray run pays for starting its cluster and
its actors (models loaded once per actor) there. Prints a table and writes
benchmarks/results/ray_ingest.json with the CPU model and flags (``load.cpu``).
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
    args = ap.parse_args()
    root = Settings.from_env().lfw_dir.resolve() / "lfw-deepfunneled"
    if not root.is_dir():
        sys.exit(f"LFW not found at {root} (set FACESEARCH_LFW_DIR)")
    work = Path(tempfile.mkdtemp(prefix="fs-ray-ingest-"))
    listing = work / "list.txt"
    listing.write_text("\n".join(map(str, sorted(root.glob("*/*.jpg"))[: args.limit])))
    rows = [run(listing, work / "plain")]
    for n in args.actors:
        rows.append(run(listing, work / f"ray{n}", "--ray", "auto", "--ray-actors", str(n)))
    plain = rows[0]["wall_s"]
    for row in rows:
        row["wall_vs_plain"] = round(row["wall_s"] / plain, 3)
    print(f"{'run':<30} {'images':>7} {'faces':>7} {'wall s':>8} {'img/s':>7} {'vs plain':>9}")
    for r in rows:
        print(
            f"{r['how']:<30} {r['images_seen']:>7,} {r['faces_added']:>7,} {r['wall_s']:>8.1f} "
            f"{r['images_per_s']:>7.1f} {r['wall_vs_plain']:>8.2f}x"
        )
    if len({(r["images_added"], r["faces_added"]) for r in rows}) != 1:
        print("WARNING: the runs stored different counts", file=sys.stderr)
    report = {"limit": args.limit, "machine": cpu(), "runs": rows}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ray_ingest.json").write_text(json.dumps(report, indent=1))
    print(f"written {RESULTS / 'ray_ingest.json'}")


if __name__ == "__main__":
    main()
