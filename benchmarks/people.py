"""People (clustering faces into persons) on LFW, against dlib's and Immich's clustering.

    .venv/bin/python benchmarks/people.py [--home HOME]
    .venv/bin/python benchmarks/people.py --home HOME --synth 100000

Without ``--home`` all 13,233 LFW images are ingested into a fresh temporary home WITHOUT
labels (``Engine.ingest``, label_from_dir=False: the SFace pipeline, every face found). The
embeddings of every face are read back from the catalog. The truth is the LFW folder (person)
of a face's image, and only an image's main face (the largest) is scored: the other faces of
an image are unlabelled, so they are clustered but left out of the scores (issue 13).

Rows: facesearch's ``cluster`` (Chinese whispers and connected components) over a grid of
thresholds (the calibration table's at FMR 1e-3, 1e-4, 1e-5, 5e-6, 2e-6) and k (10, 20,
30); Immich's defaults (``dbscan_immich``) on the same embeddings; dlib's Chinese whispers
at 0.5 on dlib's own descriptors (``cw_label`` in benchmarks/results/lfw-dlib.npz, made by
benchmarks/people_dlib.py) when that file exists. Each row: pairwise and BCubed
precision/recall/F, persons found (LFW has 5,749), singletons, seconds. Writes
benchmarks/results/people.json with the CPU model and flags.

``--synth N`` times ``knn_graph`` + ``cluster`` (the defaults) on N synthetic faces drawn from
a model fitted to the home's LFW embeddings (benchmarks/synth.py) and reports the process's
peak RSS; up to 200,000 faces the k-NN search is exact (FAISS flat), past that it is the
gallery's own approximate index (``make_index(kind="ivf")``: IVF-PQ fast-scan + SQ8
re-ranking, probing 1/8 of the lists). Writes benchmarks/results/people-synth-N.json.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from facesearch.core import clustering
from facesearch.engine import Engine
from facesearch.evaluation.clustering import bcubed, pairwise
from facesearch.settings import Settings
from load import cpu

RESULTS = Path(__file__).resolve().parent / "results"
FMRS = (1e-3, 1e-4, 1e-5, 5e-6, 2e-6)
KS = (10, 20, 30)
LFW_PEOPLE = 5749


@dataclass(frozen=True)
class Faces:
    """Every face of the home, in id order (ingest order)."""

    embeddings: npt.NDArray[np.float32]
    image_ids: npt.NDArray[np.int64]
    person: npt.NDArray[np.str_]  # LFW folder of the face's image
    main: npt.NDArray[np.bool_]  # the largest face of its image
    image: npt.NDArray[np.str_]  # "Folder/file.jpg", as in lfw-dlib.npz


def ingest(home: Path, lfw: Path) -> float:
    t = time.perf_counter()
    engine = Engine(home)
    try:
        summary = engine.ingest([lfw], label_from_dir=False)
    finally:
        engine.close()
    print(f"ingested {summary.images_seen:,} images, {summary.faces_added:,} faces", flush=True)
    return time.perf_counter() - t


def read_faces(engine: Engine) -> Faces:
    parts = list(engine.catalog.face_vectors(None, engine.pipeline.model_id))
    ids = np.concatenate([p[0] for p in parts])
    emb = np.concatenate([p[1] for p in parts])
    records = {f.id: f for f in engine.catalog.faces(ids.tolist())}
    faces = [records[int(i)] for i in ids]
    image_ids = np.array([f.image_id for f in faces], dtype=np.int64)
    area = np.array([f.bbox.w * f.bbox.h for f in faces])
    main = np.zeros(len(faces), dtype=bool)
    order = np.lexsort((-area, image_ids))
    first = np.r_[True, image_ids[order][1:] != image_ids[order][:-1]]
    main[order[first]] = True
    person = np.array([Path(f.source).parent.name for f in faces])
    image = np.array([f"{Path(f.source).parent.name}/{Path(f.source).name}" for f in faces])
    return Faces(emb, image_ids, person, main, image)


def row(
    method: str, params: str, pred: npt.NDArray[np.int64], truth: npt.NDArray[Any], seconds: float
) -> dict[str, Any]:
    """Scores of ``pred`` against ``truth`` (both over the scored faces only)."""
    pw, b3 = pairwise(pred, truth), bcubed(pred, truth)
    _, sizes = np.unique(pred, return_counts=True)
    return {
        "method": method,
        "params": params,
        "pairwise": {"p": pw.precision, "r": pw.recall, "f": pw.f},
        "bcubed": {"p": b3.precision, "r": b3.recall, "f": b3.f},
        "persons": len(sizes),
        "singletons": int((sizes == 1).sum()),
        "scored": len(pred),
        "seconds": seconds,
    }


def lfw_rows(engine: Engine, faces: Faces) -> list[dict[str, Any]]:
    truth = faces.person[faces.main]
    rows = []
    for fmr in FMRS:
        threshold = engine.calibration.threshold_for_fmr(fmr)
        for k in KS:
            t = time.perf_counter()
            graph = clustering.knn_graph(faces.embeddings, k, threshold)
            graph_s = time.perf_counter() - t
            methods: tuple[clustering.Method, ...] = ("chinese_whispers", "components")
            for method in methods:
                t = time.perf_counter()
                labels = clustering.cluster(
                    faces.embeddings,
                    faces.image_ids,
                    threshold=threshold,
                    method=method,
                    graph=graph,
                )
                s = time.perf_counter() - t + graph_s
                params = f"FMR {fmr:g} (t={threshold:.4f}), k={k}"
                rows.append(row(f"facesearch {method}", params, labels[faces.main], truth, s))
                print(_line(rows[-1]), flush=True)
    t = time.perf_counter()
    labels = clustering.dbscan_immich(faces.embeddings)
    s = time.perf_counter() - t
    rows.append(row("Immich defaults", "cosine dist <= 0.5, min 3", labels[faces.main], truth, s))
    print(_line(rows[-1]), flush=True)
    return rows


def dlib_rows(path: Path, engine: Engine, faces: Faces) -> list[dict[str, Any]]:
    """dlib's row, and facesearch's default scored on the same images (those in which dlib
    found a face), when ``path`` exists."""
    if not path.exists():
        return []
    with np.load(path, allow_pickle=False) as data:
        main = np.asarray(data["is_main"], dtype=bool)
        labels = np.asarray(data["cw_label"], dtype=np.int64)
        images = np.asarray(data["path"]).astype(str)
    truth = np.array([Path(p).parent.name for p in images])
    dlib = row("dlib chinese_whispers", "dlib descriptors, 0.5", labels[main], truth[main], 0.0)
    dlib["seconds"] = None  # clustering time not recorded in the file
    threshold = engine.calibration.threshold_for_fmr(clustering.DEFAULT_MAX_FMR)
    t = time.perf_counter()
    ours = clustering.cluster(faces.embeddings, faces.image_ids, threshold=threshold)
    seconds = time.perf_counter() - t
    same = faces.main & np.isin(faces.image, images[main])
    params = f"default, the {int(same.sum()):,} images dlib found"
    return [dlib, row("facesearch default", params, ours[same], faces.person[same], seconds)]


def _line(r: dict[str, Any]) -> str:
    pw, b3 = r["pairwise"], r["bcubed"]
    return (
        f"{r['method']:<29} {r['params']:<30} {pw['p']:6.3f} {pw['r']:6.3f} {pw['f']:6.3f}  "
        f"{b3['p']:6.3f} {b3['r']:6.3f} {b3['f']:6.3f}  {r['persons']:>7,} {r['singletons']:>7,} "
        f"{r['seconds'] or float('nan'):7.2f}"
    )


HEADER = (
    f"{'method':<29} {'params':<30} {'pw P':>6} {'pw R':>6} {'pw F':>6}  {'B3 P':>6} {'B3 R':>6} "
    f"{'B3 F':>6}  {'persons':>7} {'single':>7} {'seconds':>7}"
)


def synth_run(engine: Engine, faces: Faces, n: int, seed: int) -> dict[str, Any]:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import synth
    from facesearch.gallery.vectors.factory import make_index

    model, _ = synth.fit(faces.embeddings[faces.main], faces.person[faces.main], seed=seed)
    chunks = list(synth.gallery(model, n, seed=seed))
    emb = np.concatenate([e for e, _ in chunks])
    person = np.concatenate([p for _, p in chunks])
    del chunks
    threshold = engine.calibration.threshold_for_fmr(clustering.DEFAULT_MAX_FMR)
    t0 = time.perf_counter()
    search = None
    index_kind = "exact (FAISS flat)"
    if n > 200_000:
        index = make_index(emb.shape[1], kind="ivf", probe_fraction=0.125)
        index.add(np.arange(n, dtype=np.int64), emb)
        search = index.search
        index_kind = "gallery index kind=ivf (IVF-PQ fast-scan + SQ8 rerank), probe 1/8"
    t1 = time.perf_counter()
    graph = clustering.knn_graph(emb, clustering.DEFAULT_K, threshold, search)
    t2 = time.perf_counter()
    labels = clustering.cluster(emb, np.arange(n), threshold=threshold, graph=graph, seed=seed)
    t3 = time.perf_counter()
    scores = row("facesearch default", f"n={n}", labels, person, t3 - t0)
    return {
        "faces": n,
        "index": index_kind,
        "threshold": threshold,
        "k": clustering.DEFAULT_K,
        "method": clustering.DEFAULT_METHOD,
        "index_build_s": t1 - t0,
        "knn_graph_s": t2 - t1,
        "cluster_s": t3 - t2,
        "edges": len(graph.src),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "scores": scores,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--home", type=Path, help="reuse this home (LFW ingested without labels)")
    ap.add_argument("--synth", type=int, help="time the defaults on N synthetic faces instead")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    lfw = Settings.from_env().lfw_dir.resolve() / "lfw-deepfunneled"
    ingest_s = None
    home = args.home
    if home is None:
        if not lfw.is_dir():
            sys.exit(f"LFW not found at {lfw} (set FACESEARCH_LFW_DIR)")
        home = Path(tempfile.mkdtemp(prefix="fs-people-")) / "home"
        ingest_s = ingest(home, lfw)
    RESULTS.mkdir(exist_ok=True)
    engine = Engine(home)
    try:
        faces = read_faces(engine)
        print(
            f"{len(faces.embeddings):,} faces of {len(np.unique(faces.image_ids)):,} images, "
            f"{int(faces.main.sum()):,} main faces scored ({engine.pipeline.model_id})",
            flush=True,
        )
        if args.synth:
            report = synth_run(engine, faces, args.synth, args.seed)
            report["machine"] = cpu()
            out = RESULTS / f"people-synth-{args.synth}.json"
            out.write_text(json.dumps(report, indent=1))
            print(json.dumps({k: v for k, v in report.items() if k != "machine"}, indent=1))
            print(f"written {out}")
            return
        print(HEADER)
        rows = lfw_rows(engine, faces)
        rows.extend(dlib_rows(RESULTS / "lfw-dlib.npz", engine, faces))
        print("\n" + HEADER)
        for r in sorted(rows, key=lambda r: -r["bcubed"]["f"]):
            print(_line(r))
        report = {
            "model": engine.pipeline.model_id,
            "faces": len(faces.embeddings),
            "images": len(np.unique(faces.image_ids)),
            "scored_main_faces": int(faces.main.sum()),
            "true_persons": len(np.unique(faces.person[faces.main])),
            "ingest_s": ingest_s,
            "rows": rows,
            "machine": cpu(),
        }
    finally:
        engine.close()
    (RESULTS / "people.json").write_text(json.dumps(report, indent=1))
    print(f"written {RESULTS / 'people.json'}")


if __name__ == "__main__":
    main()
