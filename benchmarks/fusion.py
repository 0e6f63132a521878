"""What the second model (dlib's ResNet, fused with SFace) costs, and what re-ranking buys.

    .venv/bin/python benchmarks/fusion.py [--images 200] [--pairs 30] [--people 1680]

Measures, in one run on LFW (deep-funnelled images, read from disk each time):

- per face: the second model's chip (``core.align.align_for``) and embedding, batched; and
  ingest-style analysis (every face) with and without the second embedding, per image;
- verify latency: ``Engine.verify`` of LFW pairs (two photos from disk, both analysed), with
  the second model fused (the default) and with ``second_embedder = "none"``;
- re-ranking: the cost per search of the top K (``--top``, 10) candidates' second embeddings
  computed from their source images at their stored landmarks (``second_embeddings_at``)
  and fused; and its effect on a 1:N search over LFW: gallery = one photo of each of
  ``--people`` people with two or more photos plus ``--distractors`` people with one; probes =
  another photo of each of the first; rank-1 rate and mates found in the top K, by SFace's
  score alone and after re-ranking the top K by the fused score (``load_fusion``).

Prints a table and writes benchmarks/results/fusion.json with the CPU model and flags.
Absolute numbers drift with the machine's load (recorded); ratios are measured side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from facesearch.core.align import align_for
from facesearch.core.fusion import load_fusion
from facesearch.engine import Engine
from facesearch.pipeline import Decodable, FacePipeline
from facesearch.settings import Settings
from facesearch.types import Face, ImageFaces

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import cpu

RESULTS = Path(__file__).resolve().parent / "results"
IMAGES = "lfw-deepfunneled"


def ms(seconds: float) -> float:
    return round(1000 * seconds, 2)


def read(path: Path) -> Decodable:
    return Decodable(str(path), path.read_bytes())


def people(lfw: Path) -> dict[str, list[Path]]:
    out: dict[str, list[Path]] = {}
    for f in sorted((lfw / IMAGES).glob("*/*.jpg")):
        out.setdefault(f.parent.name, []).append(f)
    if not out:
        sys.exit(f"no LFW images under {lfw} (set FACESEARCH_LFW_DIR)")
    return out


def per_face(settings: Settings, files: list[Path]) -> dict[str, Any]:
    """The second model's cost per face, and ingest-style analysis with and without it."""
    with FacePipeline(settings) as pipeline:
        pipeline.load_models(second=True)
        list(pipeline.run([read(f) for f in files[:8]], second=True))  # warm both models
        timings: dict[bool, float] = {}
        results: list[ImageFaces] = []
        for second in (False, True, False, True):  # interleaved: load drifts alike
            t = time.perf_counter()
            out = list(pipeline.run((read(f) for f in files), second=second))
            timings[second] = min(timings.get(second, 1e9), time.perf_counter() - t)
            results = [r for r in out if isinstance(r, ImageFaces)]
        faces = sum(len(r.faces) for r in results)
        decoded = [pipeline.decode(read(f)) for f in files]
        spec = pipeline.second_spec
        embedder = pipeline.second_embedder
        assert spec is not None and embedder is not None
        t = time.perf_counter()
        chips = [
            align_for(spec, d.pixels, np.asarray(face.detection.landmarks) / d.reduction)
            for d, r in zip(decoded, results, strict=True)
            for face in r.faces
        ]
        t_chip = time.perf_counter() - t
        t = time.perf_counter()
        embedder.embed(np.stack(chips))
        t_embed = time.perf_counter() - t
        first = np.stack(
            [
                align_for(pipeline.embedder_spec, d.pixels, np.asarray(f.detection.landmarks))
                for d, r in zip(decoded, results, strict=True)
                for f in r.faces
                if d.reduction == 1
            ]
        )
        t = time.perf_counter()
        pipeline.embedder.embed(first)
        t_first = time.perf_counter() - t
    n = len(files)
    return {
        "images": n,
        "faces": faces,
        "second_chip_ms_per_face": ms(t_chip / max(faces, 1)),
        "second_embed_ms_per_face": ms(t_embed / max(faces, 1)),
        "first_embed_ms_per_face": ms(t_first / max(len(first), 1)),
        "ingest_analysis_ms_per_image": ms(timings[False] / n),
        "ingest_analysis_with_second_ms_per_image": ms(timings[True] / n),
        "ingest_extra_ms_per_face": ms((timings[True] - timings[False]) / max(faces, 1)),
    }


def lfw_pairs(lfw: Path, n: int) -> list[tuple[Path, Path]]:
    rows = [line.split() for line in (lfw / "pairs.txt").read_text().splitlines()[1:]]
    rows = [r for r in rows if len(r) in (3, 4)]
    pick = rows[:: max(1, len(rows) // n)][:n]

    def image(name: str, k: str) -> Path:
        return lfw / IMAGES / name / f"{name}_{int(k):04d}.jpg"

    return [
        (image(r[0], r[1]), image(r[0], r[2]) if len(r) == 3 else image(r[2], r[3])) for r in pick
    ]


def verify_latency(settings: Settings, pairs: list[tuple[Path, Path]]) -> dict[str, Any]:
    """Engine.verify with both models fused and with the first alone, pair by pair in turn
    (so the machine's load drifts alike for both)."""
    labels = {"fused": settings.models.second_embedder, "first alone": "none"}
    engines = {
        k: Engine(settings.replace(second_embedder=v), open_catalog=False)
        for k, v in labels.items()
    }
    times: dict[str, list[float]] = {k: [] for k in labels}
    try:
        for engine in engines.values():
            engine.verify(*pairs[0])  # models loaded, compiled
        for a, b in pairs:
            for label, engine in engines.items():
                t = time.perf_counter()
                engine.verify(a, b)
                times[label].append(time.perf_counter() - t)
    finally:
        for engine in engines.values():
            engine.close()
    return {
        label: {
            "pairs": len(pairs),
            "median_ms": ms(statistics.median(t)),
            "p90_ms": ms(sorted(t)[int(0.9 * (len(t) - 1))]),
        }
        for label, t in times.items()
    }


def main_faces(pipeline: FacePipeline, files: list[Path]) -> list[Face | None]:
    out: list[Face | None] = []
    for r in pipeline.run((read(f) for f in files), main_only=True, second=True):
        face = None
        if isinstance(r, ImageFaces) and r.main is not None:
            face = next(f for f in r.faces if f.index == r.main)
        out.append(face)
    return out


def rerank(settings: Settings, lfw: Path, n_people: int, distractors: int, top: int) -> Any:
    by_person = people(lfw)
    mated = [p for p, fs in by_person.items() if len(fs) >= 2][:n_people]
    single = [p for p, fs in by_person.items() if len(fs) == 1][:distractors]
    gallery_files = [by_person[p][0] for p in mated + single]
    probe_files = [by_person[p][1] for p in mated]
    with FacePipeline(settings) as pipeline:
        assert pipeline.second_spec is not None
        fusion = load_fusion(pipeline.model_id, pipeline.second_spec.model_id)
        t = time.perf_counter()
        gallery = main_faces(pipeline, gallery_files)
        probes = main_faces(pipeline, probe_files)
        t_embed = time.perf_counter() - t
        keep = [i for i, f in enumerate(gallery) if f is not None]
        g_first = np.stack([gallery[i].embedding for i in keep])  # type: ignore[union-attr]
        g_second = np.stack([gallery[i].second_embedding for i in keep])  # type: ignore[union-attr]
        # the cost per search: the top K candidates' second embeddings from their files
        costs = []
        for start in range(0, min(len(keep), 20 * top), top):
            chosen = keep[start : start + top]
            asked = [(read(gallery_files[i]), gallery[i].detection.landmarks) for i in chosen]  # type: ignore[union-attr]
            t = time.perf_counter()
            pipeline.second_embeddings_at(asked)
            costs.append(time.perf_counter() - t)
    found = {"first alone": [0, 0], "re-ranked": [0, 0]}  # rank 1, in top K
    searched = 0
    for mate, probe in enumerate(probes):
        if probe is None or mate not in keep:
            continue
        searched += 1
        first = g_first @ probe.embedding
        order = np.argsort(-first)[:top]
        fused = fusion.fuse(first[order], g_second[order] @ probe.second_embedding)
        reranked = order[np.argsort(-fused, kind="stable")]
        target = keep.index(mate)
        for label, ranking in (("first alone", order), ("re-ranked", reranked)):
            found[label][0] += int(ranking[0] == target)
            found[label][1] += int(target in ranking)
    return {
        "gallery_faces": len(keep),
        "probes": searched,
        "top": top,
        "analysis_ms_per_image_both_models": ms(t_embed / (len(gallery_files) + len(probes))),
        "rerank_ms_per_search_median": ms(statistics.median(costs)),
        "rerank_ms_per_search_p90": ms(sorted(costs)[int(0.9 * (len(costs) - 1))]),
        "rank1": {k: round(v[0] / max(searched, 1), 4) for k, v in found.items()},
        "in_top": {k: round(v[1] / max(searched, 1), 4) for k, v in found.items()},
        "fusion": fusion.model_id,
        "note": "fusion parameters as shipped; the people searched may overlap the ones they "
        "were fitted on",
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--lfw", type=Path, default=Path(os.environ.get("FACESEARCH_LFW_DIR", "")))
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--pairs", type=int, default=30)
    ap.add_argument("--people", type=int, default=1680)
    ap.add_argument("--distractors", type=int, default=4000)
    ap.add_argument("--top", type=int, default=10)
    ap.add_argument("--out", type=Path, default=RESULTS / "fusion.json")
    args = ap.parse_args()
    settings = Settings.from_env()
    lfw = args.lfw if str(args.lfw) else settings.lfw_dir
    files = [f for fs in people(lfw).values() for f in fs]
    files = files[:: max(1, len(files) // args.images)][: args.images]
    load_before = os.getloadavg()
    report: dict[str, Any] = {
        "per_face": per_face(settings, files),
        "verify": verify_latency(settings, lfw_pairs(lfw, args.pairs)),
        "rerank": rerank(settings, lfw, args.people, args.distractors, args.top),
        "machine": {**cpu(), "load_before": load_before, "load_after": os.getloadavg()},
        "settings": {"threads": settings.models.threads, "runtime": settings.models.runtime},
    }
    pf, v, rr = report["per_face"], report["verify"], report["rerank"]
    print(f"{'what':<52} {'value':>12}")
    rows = [
        ("second model: chip, ms per face", pf["second_chip_ms_per_face"]),
        ("second model: embed, ms per face (batched)", pf["second_embed_ms_per_face"]),
        ("first model: embed, ms per face (batched)", pf["first_embed_ms_per_face"]),
        ("ingest analysis, ms per image", pf["ingest_analysis_ms_per_image"]),
        (
            "ingest analysis + second model, ms per image",
            pf["ingest_analysis_with_second_ms_per_image"],
        ),
        ("ingest extra for the second model, ms per face", pf["ingest_extra_ms_per_face"]),
        ("verify, fused, median ms", v["fused"]["median_ms"]),
        ("verify, first model alone, median ms", v["first alone"]["median_ms"]),
        (f"re-rank top {rr['top']}: ms per search (median)", rr["rerank_ms_per_search_median"]),
        (f"re-rank top {rr['top']}: ms per search (p90)", rr["rerank_ms_per_search_p90"]),
        ("1:N rank-1, first model alone", rr["rank1"]["first alone"]),
        (f"1:N rank-1, top {rr['top']} re-ranked by fused score", rr["rank1"]["re-ranked"]),
        (f"1:N mate in top {rr['top']} (either)", rr["in_top"]["first alone"]),
    ]
    for label, value in rows:
        print(f"{label:<52} {value:>12}")
    print(f"gallery {rr['gallery_faces']} faces, {rr['probes']} probes; load {load_before}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(f"-> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
