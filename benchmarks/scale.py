"""Milvus standalone against FAISS embedded on the synthetic galleries of benchmarks/search.py.

    python benchmarks/scale.py --real LFW.npz [--sizes 100k,1M] [--probes 1000]

``--real``: LFW embeddings of the main model (SFace, 128-d), either ``embeddings`` and
``labels`` (``facesearch embed --main``) or the evaluation cache's ``embeddings``, ``names``
(``Person/Person_0001.jpg``) and ``found``. The face model of ``synth`` is fitted to them and
galleries of 10^5 and 10^6 faces are drawn from it, as benchmarks/search.py does.

Side by side in one run, on the same gallery and probes (one new face of each of the first
``--probes`` people, their mates in the gallery):

- FAISS embedded: the library's own ``FaissIndex`` as facesearch makes it (``make_index``):
  kind ``flat`` (exact) and ``ivf`` (below 200 000 faces) or ``auto`` (IVF-PQ fast-scan + SQ8
  re-ranking past it). FAISS trains and indexes while adding, so its insert time is its
  build time. Memory: ``FaissIndex.memory_bytes`` per face.
- Milvus standalone: the real server of the ``milvus`` package (Milvus 2.3.5), started in a
  temporary folder, written and searched through facesearch's ``MilvusStore`` /
  ``MilvusIndex`` (filtered on the partition key, as facesearch searches). The vectors are
  inserted once (insert rate, then flush); then for each index type the server builds among
  FLAT, IVF_FLAT, IVF_SQ8, IVF_PQ and HNSW, ``MilvusStore.ensure_index`` rebuilds the index
  (drop, create, wait, load: the build time) and it is searched with facesearch's default
  parameters (nprobe nlist/4, ef 512), then again with cheaper ones (nlist/16, ef 128: a
  search parameter, no rebuild). Memory: resident memory of
  the server's process tree (psutil) with the index loaded, less the tree's before the
  insert, per face.

For each: single-query p50/p99 of a top 10 (ms), and mate recall@1 / @10 against exact
search: of the probes' mates that exact search ranks first (@1) or in its top 10 (@10) at or
above the operating threshold (real impostor score at FMR 1e-3), the share the index ranks
there too. Searches run at Session consistency (Strong waits for the server's time tick).
A table on stdout, JSON in ``--out`` (default benchmarks/results/scale.json) with the CPU
model and flags and the machine's load (other processes slow every row); rewritten after
every row, so a stopped run keeps what it measured. Time on 2 busy cores: ~10 minutes for
10^5, ~1 hour for 10^6 (each IVF build ~10 minutes, HNSW ~15) plus IVF_PQ's build (4 minutes
at 10^5; not waited for at 10^6: docs/scale.md).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
import synth
from facesearch.gallery.vectors import FaissIndex, MilvusIndex, MilvusStore, make_index
from facesearch.gallery.vectors.milvus_index import MilvusIndexChoice
from facesearch.gallery.vectors.milvus_store import FRESH_S
from load import cpu
from search import exact_top_k, parse_size, write_gallery

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]
HERE = Path(__file__).resolve().parent
K = 10
CHUNK = 100_000  # rows per timed insert call into either side
MILVUS_TYPES = "FLAT,IVF_FLAT,IVF_SQ8,IVF_PQ,HNSW"
Search = Callable[[F32, int], tuple[Any, Any]]


@dataclass(frozen=True)
class Row:
    size: int
    engine: str  # faiss or milvus
    index: str  # the index and its parameters
    insert_per_s: float  # vectors inserted per second (FAISS: while building)
    build_s: float  # index build after the insert (FAISS: 0, it builds while adding)
    p50_ms: float
    p99_ms: float
    mate_recall_at_1: float
    mate_recall_at_10: float
    bytes_per_face: float  # FAISS: memory_bytes; Milvus: server RSS growth


@dataclass(frozen=True)
class Truth:
    """What exact search says about the probes: each probe's mate at rank 1 (-1: none at or
    above the threshold) and its mates in the top 10 at or above it."""

    first: I64
    top: list[set[int]]

    def recalls(self, got: I64) -> tuple[float, float]:
        has = self.first >= 0
        at1 = float(np.mean(got[has, 0] == self.first[has])) if has.any() else float("nan")
        n = sum(len(m) for m in self.top)
        found = sum(len(m & set(row.tolist())) for m, row in zip(self.top, got, strict=True))
        return at1, (found / n if n else float("nan"))


def load_real(path: Path) -> tuple[F32, npt.NDArray[np.str_]]:
    """Embeddings and person labels from ``embed --main`` output or the evaluation cache."""
    with np.load(path, allow_pickle=False) as data:
        if "labels" in data.files:
            return synth.load_real(path)
        found = np.asarray(data["found"], dtype=bool)
        emb = np.ascontiguousarray(data["embeddings"][found], dtype=np.float32)
        labels = np.array([str(n).split("/")[0] for n in data["names"][found]])
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    return emb, labels


def tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants."""
    root = psutil.Process(pid)
    total = 0
    for proc in [root, *root.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            total += proc.memory_info().rss
    return total


@contextlib.contextmanager
def milvus_server(base: Path) -> Iterator[tuple[str, int]]:
    """A throwaway Milvus standalone (the ``milvus`` package) in ``base``: (URI, pid)."""
    from milvus import MilvusServer

    logging.getLogger("milvus").setLevel(logging.WARNING)
    server = MilvusServer()
    server.set_base_dir(str(base))
    try:
        server.start()
        yield f"http://127.0.0.1:{server.listen_port}", int(server.server_proc.pid)
    finally:
        server.stop()


def single_latency(search: Search, probes: F32, n: int) -> tuple[float, float]:
    search(probes[:1], K)  # warm up
    times = []
    for i in range(min(n, len(probes))):
        t = time.perf_counter()
        search(probes[i : i + 1], K)
        times.append(time.perf_counter() - t)
    p50, p99 = (float(np.percentile(times, p) * 1e3) for p in (50, 99))
    return round(p50, 2), round(p99, 2)


def measure(
    args: argparse.Namespace, probes: F32, truth: Truth, search: Search
) -> tuple[float, float, float, float]:
    p50, p99 = single_latency(search, probes, args.singles)
    got = np.concatenate([search(probes[s : s + 256], K)[1] for s in range(0, len(probes), 256)])
    at1, at10 = truth.recalls(np.asarray(got))
    return p50, p99, round(at1, 4), round(at10, 4)


def bench_faiss(
    args: argparse.Namespace, gallery: F32, probes: F32, truth: Truth, report: Report
) -> None:
    n = len(gallery)
    ids = np.arange(n, dtype=np.int64)
    for kind in ("flat", "auto" if n >= 200_000 else "ivf"):
        t = time.perf_counter()
        index = make_index(gallery.shape[1], kind, threads=args.threads)
        assert isinstance(index, FaissIndex)
        for s in range(0, n, CHUNK):
            index.add(ids[s : s + CHUNK], gallery[s : s + CHUNK])
        rate = n / (time.perf_counter() - t)
        name = f"{kind} ({index.mode}" + (
            f", nlist={index.lists} nprobe={index.effective_nprobe()})"
            if index.mode == "ivf"
            else ")"
        )
        p50, p99, at1, at10 = measure(args, probes, truth, index.search)
        row = Row(n, "faiss", name, round(rate), 0.0, p50, p99, at1, at10, 0.0)
        report.add(Row(**{**asdict(row), "bytes_per_face": round(index.memory_bytes() / n)}))
        del index


def bench_milvus(
    args: argparse.Namespace,
    server: tuple[str, int],
    gallery: F32,
    probes: F32,
    truth: Truth,
    report: Report,
) -> dict[str, str]:
    uri, pid = server
    n = len(gallery)
    store = MilvusStore(uri, "bench:sface", gallery.shape[1], f"scale-{n}")
    store.drop_all()
    view = MilvusIndex(store, 1)
    before = tree_rss(pid)
    t = time.perf_counter()
    for s in range(0, n, CHUNK):
        store.put(1, np.arange(s, min(n, s + CHUNK), dtype=np.int64), gallery[s : s + CHUNK])
    store.client.flush(store.name)
    rate = round(n / (time.perf_counter() - t))
    time.sleep(FRESH_S)  # reads at Session consistency from here (see MilvusStore)
    skipped: dict[str, str] = {}
    for name in args.types.split(","):
        if name not in store.supported:
            skipped[name] = f"not built by Milvus {store.version}"
            continue
        store.wanted = MilvusIndexChoice(name)
        t = time.perf_counter()
        chosen = store.ensure_index()
        build = round(time.perf_counter() - t, 1)
        cheaper = (  # a less exhaustive search of the same index: no rebuild
            MilvusIndexChoice(name, nprobe=max(1, chosen.nlist // 16))
            if chosen.nlist
            else MilvusIndexChoice(name, ef=128)
            if name.startswith("HNSW")
            else None
        )
        for choice in [None, cheaper] if cheaper else [None]:
            if choice is not None:
                store.wanted = choice
                chosen = store.ensure_index()
            rss = (tree_rss(pid) - before) / n
            p50, p99, at1, at10 = measure(args, probes, truth, view.search)
            row = Row(n, "milvus", str(chosen), rate, build, p50, p99, at1, at10, round(rss))
            report.add(row)
    store.drop_all()
    store.close()
    return skipped


class Report:
    """The results so far, rewritten to ``out`` after every row (a long run that is stopped
    keeps what it measured)."""

    def __init__(self, out: Path, head: dict[str, Any]) -> None:
        self.out, self.head = out, head
        self.runs: list[dict[str, Any]] = []

    def start(self, size: int, truth: Truth) -> None:
        self.runs.append(
            {
                "size": size,
                "probes_with_mate_at_1": int((truth.first >= 0).sum()),
                "mates_in_top_10": sum(len(m) for m in truth.top),
                "rows": [],
            }
        )

    def add(self, row: Row) -> None:
        self.runs[-1]["rows"].append(asdict(row))
        print(fmt_row(row), flush=True)
        self.write()

    def write(self, **extra: Any) -> None:
        if self.runs:
            self.runs[-1].update(extra)
        load = {"load_now": [round(x, 2) for x in os.getloadavg()]}
        result = {**self.head, "machine": {**self.head["machine"], **load}, "runs": self.runs}
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.out.write_text(json.dumps(result, indent=1) + "\n")


HEADER = (
    f"{'faces':>9} {'engine':6} {'index':44} {'insert/s':>9} {'build s':>8} {'p50 ms':>7} "
    f"{'p99 ms':>7} {'mate@1':>7} {'mate@10':>7} {'B/face':>7}"
)


def fmt_row(r: Row) -> str:
    return (
        f"{r.size:>9,} {r.engine:6} {r.index:44} {r.insert_per_s:>9,.0f} {r.build_s:>8.1f} "
        f"{r.p50_ms:>7.2f} {r.p99_ms:>7.2f} {r.mate_recall_at_1:>7.4f} "
        f"{r.mate_recall_at_10:>7.4f} {r.bytes_per_face:>7,.0f}"
    )


def truth_of(gallery: F32, person: I64, probes: F32, threshold: float) -> Truth:
    sims, rows = exact_top_k(gallery, probes, K)
    mate = (person[rows] == np.arange(len(probes))[:, None]) & (sims >= threshold)
    first = np.where(mate[:, 0], rows[:, 0], -1)
    top = [set(rows[p][mate[p]].tolist()) for p in range(len(probes))]
    return Truth(first.astype(np.int64), top)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--real", type=Path, required=True, help="LFW embeddings .npz")
    parser.add_argument("--sizes", default="100k,1M")
    parser.add_argument("--probes", type=int, default=1000)
    parser.add_argument("--singles", type=int, default=200, help="single queries timed")
    parser.add_argument("--types", default=MILVUS_TYPES, help="Milvus index types")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "scale")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "scale.json")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # kill: still stop the server

    t0 = time.time()
    emb, labels = load_real(args.real)
    model, person_real = synth.fit(emb, labels, seed=args.seed)
    rng = np.random.default_rng(args.seed)
    impostor = synth.impostor_scores(emb, person_real, rng, 1_000_000)
    threshold = float(np.quantile(impostor, 1 - 1e-3))
    print(f"fitted the face model in {time.time() - t0:.0f} s; threshold {threshold:.4f}")
    args.workdir.mkdir(parents=True, exist_ok=True)
    import faiss
    import pymilvus

    report = Report(
        args.out,
        {
            "machine": {**cpu(), "load_before": [round(x, 2) for x in os.getloadavg()]},
            "versions": {"faiss": faiss.__version__, "pymilvus": pymilvus.__version__},
            "milvus_server": "milvus 2.3.5 (PyPI 'milvus', standalone)",
            "real": str(args.real),
            "threshold_fmr_1e-3": threshold,
            "k": K,
            "threads": args.threads,
            "probes": args.probes,
        },
    )
    with (
        tempfile.TemporaryDirectory(dir=args.workdir) as base,
        milvus_server(Path(base)) as server,
    ):
        print(f"Milvus server up (pid {server[1]}, {tree_rss(server[1]) / 2**20:.0f} MiB)")
        print(HEADER, flush=True)
        for size in [parse_size(s) for s in args.sizes.split(",")]:
            t = time.time()
            gallery, person = write_gallery(model, size, args.workdir / f"g-{size}.npy", args.seed)
            probes = synth.probes(model, args.probes, seed=args.seed)
            truth = truth_of(gallery, person, probes, threshold)
            report.start(size, truth)
            bench_faiss(args, gallery, probes, truth, report)
            skipped = bench_milvus(args, server, gallery, probes, truth, report)
            report.write(total_s=round(time.time() - t, 1), milvus_types_skipped=skipped)
            del gallery
            (args.workdir / f"g-{size}.npy").unlink()
    print(f"wrote {args.out} (every row above, as it was measured)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
