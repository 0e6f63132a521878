"""What an erasure "like a photo" costs to select its faces: an exact scan of the catalog's
embeddings (``Catalog.faces_at_least``, what ``Engine.faces_like`` does), side by side with the
vector index's top 10,000 (what it did before: capped, and only as exact as the index).

Builds a catalog of N synthetic 128-d unit faces in a fresh home (real SQLite, real FAISS, flat
and IVF), plus 30 faces of one "person" at cosine 0.6-0.9 to the probe, and times, alternating:

- the scan at threshold 0.5 (every face at or above it, most similar first),
- the index's top 10,000 (flat: exact; IVF: approximate), with the same threshold applied.

    .venv/bin/python benchmarks/erase_like.py --faces 100000 300000

Prints a table and writes benchmarks/results/erase_like.json (with the CPU model and flags).
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

from facesearch.gallery.catalog import Catalog
from facesearch.gallery.collections import IndexSet

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


def one_size(faces: int, repeat: int) -> dict[str, Any]:
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
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--faces", type=int, nargs="+", default=[100_000])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/erase_like.json"))
    args = ap.parse_args()
    rows = [one_size(n, args.repeat) for n in args.faces]
    print(f"threshold {THRESHOLD}; {PERSON} faces of one person at cosine 0.6-0.9", end="; ")
    print(f"median of {args.repeat}")
    print("| faces | catalog scan | found | flat top 10,000 | found | IVF top 10,000 | found |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['faces']:,} | {r['scan_s'] * 1000:.0f} ms | {r['scan_found']} "
            f"| {r['flat_top10000_s'] * 1000:.0f} ms | {r['flat_found']} "
            f"| {r['ivf_top10000_s'] * 1000:.0f} ms | {r['ivf_found']} |"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"cpu": cpu(), "threshold": THRESHOLD, "rows": rows}, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
