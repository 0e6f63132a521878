"""What an erasure "like a photo" costs to select its faces: an exact scan of the catalog's
embeddings (``Catalog.faces_at_least``, what ``Engine.faces_like`` does), side by side with the
vector index's top 10,000 (what it did before: capped, and only as exact as the index).

Builds a catalog of N synthetic 128-d unit faces in a fresh home (real SQLite, real FAISS, flat
and IVF), plus 30 faces of one "person" at cosine 0.6-0.9 to the probe, and times, alternating:

- the scan at threshold 0.5 (every face at or above it, most similar first),
- the index's top 10,000 (flat: exact; IVF: approximate), with the same threshold applied;
- with ``--ray``, the same scan split into face-id ranges on Ray (``gallery.ray_scan``, what
  ``forget --like PHOTO --ray`` runs), checked to return the very list of the scan: its median
  on a cluster already up (as ``--ray ADDRESS`` finds one; one untimed run first, which starts
  the workers), and, with ``--ray`` alone, one run that starts a local cluster and stops it
  (what ``--ray`` without an address costs).

    .venv/bin/python benchmarks/erase_like.py --faces 100000 300000 [--ray [ADDRESS]]

Prints a table and writes benchmarks/results/erase_like.json (with the CPU model and flags).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from facesearch.gallery.catalog import Catalog
from facesearch.gallery.collections import IndexSet
from facesearch.gallery.ray_cluster import AUTO
from facesearch.gallery.ray_scan import RayScan, faces_at_least_on_ray
from facesearch.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parent))
from index_sync import DIM, MODEL, add_faces
from load import cpu

THRESHOLD = 0.5
PERSON = 30


def person_faces(cat: Catalog, probe: np.ndarray, start: int, rng: np.random.Generator) -> None:
    """``PERSON`` faces at cosine 0.6 to 0.9 to ``probe``, each in its own direction."""
    away = rng.normal(size=(PERSON, DIM))
    away -= np.outer(away @ probe, probe)
    away /= np.linalg.norm(away, axis=1, keepdims=True)
    cos = np.linspace(0.6, 0.9, PERSON)[:, None]
    vectors = (cos * probe + np.sqrt(1 - cos**2) * away).astype(np.float32)
    add_faces(cat, PERSON, start, rng, vectors=vectors)


def median_s(fn: Callable[[], Any], repeat: int) -> float:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return statistics.median(out)


def on_ray(
    out: dict[str, Any], home: Path, cat: Catalog, probe: np.ndarray, repeat: int, address: str
) -> None:
    """The Ray scan's columns of ``out``: a cold run when ``address`` is "auto" (starts and
    stops a local cluster of every core), then runs on a cluster that is up."""
    import ray

    settings = Settings.from_env(env={}, home=home)
    cpus = os.cpu_count() or 1

    def scan(options: RayScan) -> list[int]:
        return faces_at_least_on_ray(options, settings, cat, None, MODEL, probe, THRESHOLD)

    want = cat.faces_at_least(None, MODEL, probe, THRESHOLD)
    if address == AUTO:
        t = time.perf_counter()
        same = scan(RayScan(AUTO, cpus=cpus)) == want
        out["ray_cold_s"] = time.perf_counter() - t
        ray.init(num_cpus=cpus, include_dashboard=False, logging_level=logging.ERROR)
    else:
        same = True
        ray.init(address=address, logging_level=logging.ERROR)
    try:
        out["ray_cpus"] = int(ray.cluster_resources().get("CPU", 0))
        same = same and scan(RayScan(address)) == want  # starts the workers, untimed
        out["ray_s"] = median_s(lambda: scan(RayScan(address)), repeat)
    finally:
        ray.shutdown()
    out["ray_same_list"] = same


def one_size(faces: int, repeat: int, ray: str | None = None) -> dict[str, Any]:
    rng = np.random.default_rng(faces)
    probe = rng.normal(size=DIM).astype(np.float32)
    probe /= np.linalg.norm(probe)
    out: dict[str, Any] = {"faces": faces + PERSON}
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        with Catalog.open_home(home) as cat:
            add_faces(cat, faces, 0, rng)
            person_faces(cat, probe, faces, rng)
            found = cat.faces_at_least(None, MODEL, probe, THRESHOLD)
            out["scan_found"] = len(found)
            out["scan_s"] = median_s(
                lambda: cat.faces_at_least(None, MODEL, probe, THRESHOLD), repeat
            )
            for kind in ("flat", "ivf"):
                index = IndexSet(home / kind, cat, MODEL, DIM, kind=kind)
                index.ensure_loaded()

                def top(index: IndexSet = index) -> list[int]:
                    sims, ids = index.search(probe[None, :], 10_000, None)
                    return [int(i) for s, i in zip(sims[0], ids[0], strict=True) if s >= THRESHOLD]

                out[f"{kind}_found"] = len(top())
                out[f"{kind}_top10000_s"] = median_s(top, repeat)
            if ray is not None:
                on_ray(out, home, cat, probe, repeat, ray)
    return out


def table(rows: list[dict[str, Any]]) -> str:
    """The rows as a Markdown table, with the Ray columns when they were measured."""
    ray = any("ray_s" in r for r in rows)
    head = "| faces | catalog scan | found |"
    head += " Ray scan, cluster up | Ray, start + scan + stop | same list |" if ray else ""
    head += " flat top 10,000 | found | IVF top 10,000 | found |"
    lines = [head, "|" + "---|" * head.count(" |")]
    for r in rows:
        line = f"| {r['faces']:,} | {r['scan_s'] * 1000:.0f} ms | {r['scan_found']} |"
        if ray:
            cold = f"{r['ray_cold_s']:.1f} s" if "ray_cold_s" in r else "-"
            line += f" {r['ray_s'] * 1000:.0f} ms ({r['ray_cpus']} CPUs) | {cold} |"
            line += f" {'yes' if r['ray_same_list'] else 'NO'} |"
        line += (
            f" {r['flat_top10000_s'] * 1000:.0f} ms | {r['flat_found']} "
            f"| {r['ivf_top10000_s'] * 1000:.0f} ms | {r['ivf_found']} |"
        )
        lines.append(line)
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--faces", type=int, nargs="+", default=[100_000])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/erase_like.json"))
    ap.add_argument(
        "--ray", nargs="?", const=AUTO, metavar="auto|ADDRESS",
        help="also the scan on Ray: 'auto' (no value) starts a local cluster; or its address",
    )  # fmt: skip
    args = ap.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    rows = [one_size(n, args.repeat, args.ray) for n in args.faces]
    print(f"threshold {THRESHOLD}; {PERSON} faces of one person at cosine 0.6-0.9", end="; ")
    print(f"median of {args.repeat}; {cpu()['model']}")
    print(table(rows))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = {"cpu": cpu(), "threshold": THRESHOLD, "ray": args.ray, "rows": rows}
    args.out.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
