"""Benchmark of the vector index on synthetic galleries of 10^5 - 10^7 faces.

Run by hand (not part of the test suite):

    python benchmarks/search.py --real /tmp/lfw_embeddings.npz --sizes 100k,1M --compare
    python benchmarks/search.py --real /tmp/lfw_embeddings.npz --sizes 10M --no-exact

``--real`` is an ``.npz`` with ``embeddings`` (N, d) float32 and ``labels`` (N,) str: the
embeddings of the main face of every LFW image, as written by ``facesearch embed --main``
over LFW. Real galleries this large are not available, so ``synth.py`` fits a generator
to those embeddings (person centres and within-person spread; see its docstring) and the
benchmark first prints the real and synthetic score distributions side by side.

For each size it writes a synthetic gallery (float32, in chunks, to a memory-mapped file in
``--workdir``: 5 GB at 10 M x 128), draws ``--probes`` probe faces of gallery people (new
images, not in the gallery), finds the exact top ``k`` by brute force, then builds and
measures each index:

- build: seconds to build, adding the gallery in chunks of 1 M as ``reindex`` would;
- latency (``--threads`` threads, default 2): p50 / p99 of one query, and of one batch of
  64 queries (milliseconds);
- mate recall: of the probes' true mates that exact search ranks in the top ``k`` with a
  similarity at or above the operating threshold, the share the index returns in its top
  ``k`` (exact search = 1.0 by construction). Threshold: ``--threshold``, by default the
  score at false-match rate 1e-3 on the real impostor distribution;
- recall@k: overlap of the index's top ``k`` with the exact top ``k`` (reported, not a
  target: at 10^6 faces most of an exact top 10 are impostors below any threshold);
- bytes per face in RAM (vectors or codes, ids and centroids; the numbers of
  ``FaissIndex.memory_bytes``, or the serialised size for raw FAISS indexes) and on disk.

Indexes: ``exact`` (FAISS flat, the reference), ``auto`` (``make_index(dim, "auto")``: exact
below 200 000 faces, IVF-PQ fast-scan + SQ8 re-ranking above; below 200 000 the benchmark
uses kind ``ivf`` instead so the approximate index is measured there too) swept over
``probe_fraction``, and, with ``--compare``, raw FAISS IVF-SQ8 (same lists, no re-ranking)
and HNSW32 on float32 over efSearch (sizes <= 1 M; HNSW is not offered by the library, see
``facesearch.gallery.vectors.faiss_index``). Machine load is recorded: other processes on the
machine make the latencies worse, never better. Results: a table on stdout, JSON in ``--out``
(default ``benchmarks/results/search.json``; sizes already there are kept unless re-run).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, cast

import faiss
import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent))
import synth
from facesearch.gallery.vectors import FaissIndex, make_index
from facesearch.gallery.vectors.faiss_index import auto_nlist

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]
HERE = Path(__file__).resolve().parent
ADD_CHUNK = 1_000_000
BATCH = 64


@dataclass
class Row:
    size: int
    index: str
    params: str
    build_s: float
    p50_ms: float
    p99_ms: float
    batch_p50_ms: float
    batch_p99_ms: float
    mate_recall: float
    recall_at_k: float
    ram_bytes_per_face: float
    disk_bytes_per_face: float


# --- data ------------------------------------------------------------------------------------


def parse_fraction(text: str) -> float:
    num, _, den = text.partition("/")
    return float(num) / float(den or 1)


def parse_size(text: str) -> int:
    text = text.strip().lower()
    factor = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    return int(float(text.rstrip("km")) * factor)


def write_gallery(
    model: synth.FaceModel, n: int, path: Path, seed: int
) -> tuple[np.memmap[Any, np.dtype[np.float32]], I64]:
    """The synthetic gallery as a memory-mapped (n, d) float32 file, and each row's person."""
    gallery = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(n, model.dim))
    person = np.empty(n, dtype=np.int64)
    done = 0
    for emb, who in synth.gallery(model, n, seed=seed):
        gallery[done : done + len(emb)] = emb
        person[done : done + len(emb)] = who
        done += len(emb)
    gallery.flush()
    return gallery, person


def exact_top_k(gallery: F32, queries: F32, k: int) -> tuple[F32, I64]:
    """Brute-force top k (similarity, row), in gallery chunks to bound memory."""
    best_s = np.full((len(queries), 0), -np.inf, dtype=np.float32)
    best_i = np.zeros((len(queries), 0), dtype=np.int64)
    for start in range(0, len(gallery), ADD_CHUNK):
        flat = faiss.IndexFlatIP(gallery.shape[1])
        flat.add(np.ascontiguousarray(gallery[start : start + ADD_CHUNK]))
        s, i = flat.search(queries, k)
        best_s = np.concatenate([best_s, s], axis=1)
        best_i = np.concatenate([best_i, np.where(i >= 0, i + start, -1)], axis=1)
        order = np.argsort(-best_s, axis=1, kind="stable")[:, :k]
        best_s = np.take_along_axis(best_s, order, 1)
        best_i = np.take_along_axis(best_i, order, 1)
    return best_s, best_i


# --- measurement -------------------------------------------------------------------------------


Search = Callable[[F32, int], tuple[Any, Any]]


def latencies(search: Search, queries: F32, k: int, single: int, batches: int) -> list[float]:
    """[p50, p99] of single queries and [p50, p99] of batches of 64, in milliseconds."""
    search(queries[:BATCH], k)  # warm up
    one = []
    for i in range(min(single, len(queries))):
        t = time.perf_counter()
        search(queries[i : i + 1], k)
        one.append(time.perf_counter() - t)
    many = []
    for b in range(batches):
        rows = np.arange(b * BATCH, (b + 1) * BATCH) % len(queries)
        chunk = np.ascontiguousarray(queries[rows])
        t = time.perf_counter()
        search(chunk, k)
        many.append(time.perf_counter() - t)
    q = [float(np.percentile(x, p) * 1e3) for x in (one, many) for p in (50, 99)]
    return q


def recalls(got: I64, truth_i: I64, mates: list[set[int]], k: int) -> tuple[float, float]:
    n_mates = sum(len(m) for m in mates)
    found = sum(len(m & set(row.tolist())) for m, row in zip(mates, got, strict=True))
    overlap = np.mean(
        [len(set(a.tolist()) & set(b.tolist())) for a, b in zip(got, truth_i, strict=True)]
    )
    return (found / n_mates if n_mates else float("nan")), float(overlap / k)


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.iterdir())


# --- one size ------------------------------------------------------------------------------


def bench_size(
    model: synth.FaceModel, n: int, args: argparse.Namespace, threshold: float
) -> tuple[list[Row], dict[str, Any]]:
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    gallery, person = write_gallery(model, n, work / f"gallery-{n}.npy", args.seed)
    probes = synth.probes(model, args.probes, seed=args.seed)
    t_gen = time.time() - t0
    t0 = time.time()
    truth_s, truth_i = exact_top_k(gallery, probes, args.k)
    t_truth = time.time() - t0
    mates = [
        set(truth_i[p][(person[truth_i[p]] == p) & (truth_s[p] >= threshold)].tolist())
        for p in range(len(probes))
    ]
    all_mates = int(np.isin(person, np.arange(len(probes))).sum())
    info: dict[str, Any] = {
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
        "generate_s": round(t_gen, 1),
        "exact_truth_s": round(t_truth, 1),
        "probes": len(probes),
        "mates_in_gallery": all_mates,
        "mates_counted": sum(len(m) for m in mates),
        "probes_with_counted_mates": sum(1 for m in mates if m),
    }
    print(
        f"\n== {n:,} faces: generated in {t_gen:.0f} s, exact top-{args.k} in {t_truth:.0f} s; "
        f"{info['mates_counted']} of {all_mates} mates are in an exact top {args.k} at or "
        f"above {threshold:.3f}",
        flush=True,
    )
    rows: list[Row] = []
    ids = np.arange(n, dtype=np.int64)

    def measure(
        name: str,
        params: str,
        build_s: float,
        search: Search,
        ram: float,
        disk: float,
        single: int,
        batches: int,
    ) -> None:
        lat = latencies(search, probes, args.k, single, batches)
        _, got = search(probes, args.k)
        mate, rk = recalls(np.asarray(got), truth_i, mates, args.k)
        p50, p99, b50, b99 = (round(x, 3) for x in lat)
        row = Row(
            n,
            name,
            params,
            round(build_s, 1),
            p50,
            p99,
            b50,
            b99,
            round(mate, 4),
            round(rk, 4),
            round(ram, 1),
            round(disk, 1),
        )
        rows.append(row)
        print(fmt_row(row), flush=True)

    print(HEADER)
    if not args.no_exact and n <= 2_000_000:
        t = time.time()
        flat = cast(FaissIndex, make_index(model.dim, "flat", threads=args.threads))
        for start in range(0, n, ADD_CHUNK):
            flat.add(ids[start : start + ADD_CHUNK], gallery[start : start + ADD_CHUNK])
        build = time.time() - t
        measure(
            "exact",
            "flat",
            build,
            flat.search,
            flat.memory_bytes() / n,
            saved_bytes(flat, work) / n,
            100,
            10,
        )
        del flat

    # "auto" below its 200 000 threshold is the exact index above: force IVF there.
    for kind in ["auto"] if n >= 200_000 else ["ivf"]:
        t = time.time()
        index = cast(FaissIndex, make_index(model.dim, kind, threads=args.threads))
        for start in range(0, n, ADD_CHUNK):
            index.add(ids[start : start + ADD_CHUNK], gallery[start : start + ADD_CHUNK])
        build = time.time() - t
        disk = saved_bytes(index, work) / n
        for fraction in args.fractions:
            for rerank in args.reranks:
                index.probe_fraction, index.rerank = fraction, rerank
                params = (
                    f"nlist={index.lists} nprobe={index.effective_nprobe()} "
                    f"({fraction_text(fraction)}) rerank={rerank}"
                )
                ram = index.memory_bytes() / n
                measure(kind, params, build, index.search, ram, disk, 300, 20)
        del index

    if args.compare:
        # IVF with 8-bit codes and no re-ranking (what the library used first), same lists.
        nlist = auto_nlist(n)
        t = time.time()
        sq8 = faiss.IndexIVFScalarQuantizer(
            faiss.IndexFlatIP(model.dim),
            model.dim,
            nlist,
            faiss.ScalarQuantizer.QT_8bit,
            faiss.METRIC_INNER_PRODUCT,
            False,
        )
        sq8.cp.spherical = True
        sq8.cp.niter = 10
        sq8.cp.max_points_per_centroid = 1 << 30
        sample = np.random.default_rng(args.seed).choice(n, min(n, 40 * nlist), replace=False)
        sq8.train(np.ascontiguousarray(gallery[np.sort(sample)]))
        for start in range(0, n, ADD_CHUNK):
            sq8.add(np.ascontiguousarray(gallery[start : start + ADD_CHUNK]))
        build = time.time() - t
        size = len(faiss.serialize_index(sq8)) / n
        for fraction in args.fractions:
            sq8.nprobe = max(1, round(nlist * fraction))
            sq8.parallel_mode = 1
            params = f"nlist={nlist} nprobe={sq8.nprobe} ({fraction_text(fraction)})"
            measure("ivfsq8", params, build, sq8.search, size, size, 300, 20)
        del sq8

    if args.compare and n <= 1_000_000:
        t = time.time()
        hnsw = faiss.IndexHNSWFlat(model.dim, 32, faiss.METRIC_INNER_PRODUCT)
        hnsw.hnsw.efConstruction = 40
        for start in range(0, n, ADD_CHUNK):
            hnsw.add(np.ascontiguousarray(gallery[start : start + ADD_CHUNK]))
        build = time.time() - t
        size = len(faiss.serialize_index(hnsw)) / n
        for ef in (64, 128, 256, 512):
            hnsw.hnsw.efSearch = ef
            measure("hnsw32", f"efSearch={ef} (float32)", build, hnsw.search, size, size, 300, 20)
        del hnsw

    info["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    del gallery
    if not args.keep:
        (work / f"gallery-{n}.npy").unlink()
    return rows, info


def fraction_text(fraction: float) -> str:
    inverse = 1.0 / fraction
    if abs(inverse - round(inverse)) < 1e-6:
        return f"1/{round(inverse)}"
    return (
        f"{round(fraction * 8)}/8"
        if abs(fraction * 8 - round(fraction * 8)) < 1e-6
        else f"{fraction:.3g}"
    )


def saved_bytes(index: FaissIndex, work: Path) -> int:
    target = work / "saved-index"
    index.save(target)
    size = dir_bytes(target)
    shutil.rmtree(target)
    return size


# --- output --------------------------------------------------------------------------------

HEADER = (
    f"{'faces':>10} {'index':7} {'parameters':32} {'build s':>8} {'p50 ms':>7} {'p99 ms':>7} "
    f"{'b64 p50':>8} {'b64 p99':>8} {'mate rec':>8} {'rec@k':>6} {'RAM B':>6} {'disk B':>6}"
)


def fmt_row(r: Row) -> str:
    return (
        f"{r.size:>10,} {r.index:7} {r.params:32} {r.build_s:>8.1f} {r.p50_ms:>7.2f} "
        f"{r.p99_ms:>7.2f} {r.batch_p50_ms:>8.1f} {r.batch_p99_ms:>8.1f} {r.mate_recall:>8.4f} "
        f"{r.recall_at_k:>6.3f} {r.ram_bytes_per_face:>6.0f} {r.disk_bytes_per_face:>6.0f}"
    )


def print_distributions(
    real: dict[str, dict[str, float]], syn: dict[str, dict[str, float]]
) -> None:
    print("score distributions, real LFW vs synthetic LFW-shaped set (same people and counts)")
    print(f"{'':9} {'statistic':10} {'real':>9} {'synthetic':>10} {'diff':>8}")
    for kind in ("mated", "impostor"):
        for key, value in real[kind].items():
            other = syn[kind][key]
            print(f"{kind:9} {key:10} {value:>9.4f} {other:>10.4f} {other - value:>+8.4f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--real", type=Path, required=True, help="LFW embeddings .npz")
    parser.add_argument("--sizes", default="100k,1M", help="gallery sizes, e.g. 100k,1M,10M")
    parser.add_argument("--probes", type=int, default=1000)
    parser.add_argument("-k", "--k", type=int, default=10)
    parser.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="operating threshold (default: real impostor score at FMR 1e-3)",
    )
    parser.add_argument("--fractions", default="1/8,1/4,1/2", help="IVF probe fractions to sweep")
    parser.add_argument("--reranks", default="20", help="re-ranking factors to sweep")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--compare",
        action="store_true",
        help="also raw FAISS IVF-SQ8 and (sizes <= 1 M) HNSW32, for comparison",
    )
    parser.add_argument("--no-exact", action="store_true", help="skip the exact index rows")
    parser.add_argument("--workdir", default="/tmp/facesearch-bench")
    parser.add_argument("--keep", action="store_true", help="keep the gallery files")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "search.json")
    args = parser.parse_args(argv)
    args.fractions = [parse_fraction(f) for f in args.fractions.split(",")]
    args.reranks = [int(r) for r in args.reranks.split(",")]
    faiss.omp_set_num_threads(args.threads)

    t0 = time.time()
    emb, labels = synth.load_real(args.real)
    model, person = synth.fit(emb, labels, seed=args.seed)
    rng = np.random.default_rng(args.seed)
    real = synth.distributions(emb, person, rng)
    syn_emb = synth.synthetic_like(model, person, rng)
    syn = synth.distributions(syn_emb, person, rng)
    threshold = args.threshold if args.threshold is not None else real["impostor"]["fmr1e-3"]
    print(
        f"fitted {model.dim}-d model to {len(emb)} real embeddings of {person.max() + 1} "
        f"people in {time.time() - t0:.0f} s (within x{model.within_scale:.3f}, between "
        f"x{model.between_scale:.3f}, spread sigma {model.spread_sigma:.3f})"
    )
    print_distributions(real, syn)
    nprobes = (1, 2, 4, 8)
    shares = {
        "real": synth.mates_in_probed_cells(emb, person, threshold, 64, nprobes),
        "synthetic": synth.mates_in_probed_cells(syn_emb, person, threshold, 64, nprobes),
    }
    hardness: dict[str, Any] = {"nlist": 64, "nprobe": list(nprobes), **shares}
    print("IVF hardness: share of mated pairs (>= threshold) whose second face is in one of the")
    print("nprobe cells nearest the first (64 cells, k-means on each set)")
    for key, values in shares.items():
        cells = "  ".join(f"nprobe {p}: {v:.3f}" for p, v in zip(nprobes, values, strict=True))
        print(f"  {key:9} {cells}")
    print(f"operating threshold {threshold:.4f}; k = {args.k}; threads = {args.threads}")

    results: dict[str, Any] = {}
    if args.out.exists():
        results = json.loads(args.out.read_text())
    runs = {int(r["size"]): r for r in results.get("runs", [])}
    for size in [parse_size(s) for s in args.sizes.split(",")]:
        t = time.time()
        rows, info = bench_size(model, size, args, threshold)
        info["total_s"] = round(time.time() - t, 1)
        runs[size] = {"size": size, **info, "rows": [asdict(r) for r in rows]}
        print(f"({size:,} faces took {info['total_s']:.0f} s)")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"peak RSS {peak:.1f} GiB")
    results = {
        "machine": {
            "cpus": os.cpu_count(),
            "threads": args.threads,
            "platform": platform.platform(),
            "faiss": faiss.__version__,
            "numpy": np.__version__,
        },
        "real": str(args.real),
        "model": {
            "within_scale": model.within_scale,
            "between_scale": model.between_scale,
            "spread_sigma": model.spread_sigma,
        },
        "distributions": {"real": real, "synthetic": syn},
        "ivf_hardness": hardness,
        "threshold": threshold,
        "k": args.k,
        "peak_rss_gib": round(peak, 2),
        "runs": [runs[s] for s in sorted(runs)],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    print("\nall sizes:\n" + HEADER)
    for run in results["runs"]:
        for r in run["rows"]:
            print(fmt_row(Row(**r)))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
