"""Core time of one probe analysis, as a server's analysis process does it (issue 11: at most
15 ms of core time on an AVX2 CPU).

    .venv/bin/python benchmarks/probe_cost.py [--probes 120] [--rounds 3]

One process, one inference thread (``FACESEARCH_THREADS=1``, as each analysis process of the
server runs): decode, detect, align and embed every face of held-out LFW photos (the third to
fifth photo of the people with the most photos, as ``load.py`` searches them), one photo at a
time. ``core ms``: the process's CPU time (user + system, every thread) per photo; ``wall
ms``: elapsed time per photo. The best of ``--rounds`` rounds after a warm-up, and the
precision each model ran at. Prints a table and writes benchmarks/results/probe_cost.json with
the CPU model and its instruction sets.

``--emulate-avx2`` runs as on a CPU with AVX2 alone, on a bigger one: oneDNN capped at AVX2
(``ONEDNN_MAX_CPU_ISA``, which limits OpenVINO's convolutions but not all of its own kernels)
and the precision chosen for an AVX2 flag set. A figure from it is an emulation, not a
measurement on such a CPU.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from facesearch.app.handles import analyse
from facesearch.pipeline import FacePipeline
from facesearch.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import people, photo
from pipeline import RESULTS, cpu_record, emulate_avx2


def measure(pipeline: FacePipeline, probes: list[bytes]) -> tuple[float, float, int]:
    """(core seconds, wall seconds, faces) of analysing every probe once, one at a time."""
    faces = 0
    cpu, wall = time.process_time(), time.perf_counter()
    for data in probes:
        faces += len(analyse(pipeline, data, "probe").faces)
    return time.process_time() - cpu, time.perf_counter() - wall, faces


def precision(model: object) -> str:
    """The precision a model's session runs at (ONNX Runtime on the CPU: fp32)."""
    return str(getattr(getattr(model, "_session", None), "precision", "fp32"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--probes", type=int, default=120)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--emulate-avx2", action="store_true", help="see above")
    args = ap.parse_args()
    if args.emulate_avx2:
        emulate_avx2()
    settings = Settings.from_env().replace(threads=1)
    who = people(max(1, args.probes // 3), 5)
    probes = [photo(p, 5 + k).read_bytes() for p in who for k in (1, 2, 3)][: args.probes]
    pipeline = FacePipeline(settings)
    pipeline.load_models()
    measure(pipeline, probes[:10])  # warm-up: every shape compiled
    rounds = [measure(pipeline, probes) for _ in range(args.rounds)]
    core, wall, faces = min(rounds)
    n = len(probes)
    embedder = pipeline.embedder
    record = {
        "probes": n,
        "faces": faces,
        "core_ms_per_probe": round(1000 * core / n, 2),
        "wall_ms_per_probe": round(1000 * wall / n, 2),
        "rounds_core_ms": [round(1000 * r[0] / n, 2) for r in rounds],
        "precision": {"detector": precision(pipeline.detector), "embedder": precision(embedder)},
        "runtime": embedder._session.runtime,
        "emulated_avx2": args.emulate_avx2,
        "cpu": cpu_record(settings),
    }
    print("| probes | faces | core ms per probe | wall ms per probe | runtime, precision |")
    print("| --- | --- | --- | --- | --- |")
    print(
        f"| {n} | {faces} | {record['core_ms_per_probe']} | {record['wall_ms_per_probe']} | "
        f"{record['runtime']}: detector {record['precision']['detector']}, embedder "
        f"{record['precision']['embedder']}{', emulated AVX2' if args.emulate_avx2 else ''} |"
    )
    print(f"\nCPU: {record['cpu']}")
    out = RESULTS / "probe_cost.json" if RESULTS.is_dir() else Path("probe_cost.json")
    out.write_text(json.dumps(record, indent=1) + "\n")
    print(f"written {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
