"""End-to-end pipeline throughput of this checkout and another, side by side.

    .venv/bin/python benchmarks/end_to_end.py --base /tmp/base/src [--images 1000] [--rounds 5]

``FacePipeline.run`` (read + decode + detect + align + embed, every face) on the same LFW
images as ``pipeline.py``. Each round runs one fresh process per checkout, alternating, so both
see the same load; a process loads its models, warms up on 200 images, then times one pass
over all of them (images/s, and cores busy: the process's CPU time over the wall time). The
table gives the median and every round. ``--base SRC`` is the ``src`` folder of the other
checkout (e.g. a ``git worktree`` of the commit before a change).

Prints a table and writes benchmarks/results/end_to_end.json with the CPU model and its
instruction sets.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from facesearch.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pipeline import RESULTS, cpu_record, sample_images

WARM = 200


def child(images: int) -> None:
    """One timed pass, as a JSON line on stdout (run in a fresh process by ``main``)."""
    from facesearch.pipeline import Decodable, FacePipeline

    settings = Settings.from_env()
    files = sample_images(settings.lfw_dir.resolve(), images)
    data = [(str(f), f.read_bytes()) for f in files]
    pipeline = FacePipeline(settings)
    list(pipeline.run(Decodable(s, d) for s, d in data[:WARM]))
    wall, cpu = time.perf_counter(), time.process_time()
    results = list(pipeline.run(Decodable(s, d) for s, d in data))
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    faces = sum(len(getattr(r, "faces", ())) for r in results)
    print(json.dumps({"images_per_s": len(data) / wall, "faces": faces, "cores_busy": cpu / wall}))


def one_round(src: Path | None, images: int) -> dict[str, Any]:
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(src), env.get("PYTHONPATH", "")]).rstrip(
            os.pathsep
        )
    out = subprocess.run(
        [sys.executable, __file__, "--child", "--images", str(images)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--base", type=Path, help="src folder of the checkout to compare with")
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.images)
        return
    settings = Settings.from_env()
    variants: dict[str, Path | None] = {"this": None}
    if args.base:
        variants["base"] = args.base.resolve()
    runs: dict[str, list[dict[str, Any]]] = {label: [] for label in variants}
    load_before = os.getloadavg()[0]
    for k in range(args.rounds):
        for label, src in variants.items():
            runs[label].append(one_round(src, args.images))
            print(
                f"round {k + 1} {label}: {runs[label][-1]['images_per_s']:.1f} images/s", flush=True
            )
    report: dict[str, Any] = {
        "machine": {**cpu_record(settings), "load_avg_1m_before": load_before},
        "images": args.images,
        "variants": {label: str(src or "this checkout") for label, src in variants.items()},
        "runs": runs,
    }
    print(f"\nend to end on {args.images} LFW images, {args.rounds} alternating rounds")
    print(f"{'checkout':<8}  {'median images/s':>15}  {'cores busy':>10}  every round")
    for label, rounds in runs.items():
        rates = [r["images_per_s"] for r in rounds]
        busy = statistics.median(r["cores_busy"] for r in rounds)
        report[f"{label}_median_images_per_s"] = statistics.median(rates)
        every = ", ".join(f"{r:.0f}" for r in rates)
        print(f"{label:<8}  {statistics.median(rates):>15.1f}  {busy:>10.2f}  {every}")
    if args.base:
        ratio = report["this_median_images_per_s"] / report["base_median_images_per_s"]
        report["ratio_this_over_base"] = ratio
        print(f"this / base: {ratio:.2f}x")
    print(f"CPU: {report['machine']['cpu_model']} ({report['machine']['cpu_kind']})")
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "end_to_end.json"
    out.write_text(json.dumps(report, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
