"""End-to-end throughput of the face pipeline, side by side with ageitgey/face_recognition.

    .venv/bin/pip install '.[bench]'      # face_recognition + dlib (compiles dlib once)
    .venv/bin/python benchmarks/pipeline.py [--images 1000] [--dlib-images 200] [--rounds 3]

Measures, in one run on the same LFW images (read from disk each time):

- facesearch end to end (read + decode + detect + align + embed, all faces), images/s, and
  face_recognition (dlib HOG detector + ResNet encoder, its defaults) on the first
  ``--dlib-images`` of them, alternating for ``--rounds`` rounds so that both see the same
  load: the medians, their ratio, and every round;
- each stage alone (decode, detect, align, embed) to show where the time goes;
- the embedder under each runtime / precision (OpenVINO bf16, OpenVINO fp32, ONNX Runtime);
- start-up: a fresh ``facesearch embed`` process on 3 images, first call and second call
  (compiled models come from the on-disk cache the second time).

``--emulate-avx2`` runs facesearch as on a CPU with AVX2 alone (``emulate_avx2``): end to end
and its stages only, written to pipeline-emulated-avx2.json; an estimate, not a measurement on
such a CPU (face_recognition is skipped: dlib's compiled SIMD cannot be capped).

Prints a table and writes benchmarks/results/pipeline.json with the CPU model and its
instruction sets. Absolute numbers drift with the machine's load; the ratio is measured side
by side in one run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from facesearch.core.align import align_face
from facesearch.models import running_precisions, runtime
from facesearch.models.int8 import cpu_kind
from facesearch.pipeline import Decodable, FacePipeline
from facesearch.settings import Settings

RESULTS = Path(__file__).resolve().parent / "results"


def sample_images(lfw: Path, n: int) -> list[Path]:
    files = sorted((lfw / "lfw-deepfunneled").glob("*/*.jpg"))
    if not files:
        sys.exit(f"no LFW images under {lfw} (set FACESEARCH_LFW_DIR)")
    step = max(1, len(files) // n)
    return files[::step][:n]


def rate(n: int, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("inf")


def bench_stages(settings: Settings, files: list[Path]) -> dict[str, Any]:
    """Each stage alone, on all of ``files``, to show where the time goes."""
    pipeline = FacePipeline(settings)
    list(pipeline.run(Decodable(str(f), f.read_bytes()) for f in files[:16]))
    items_l = [Decodable(str(f), f.read_bytes()) for f in files]
    t = time.perf_counter()
    decoded = [pipeline.decode(i) for i in items_l]
    t_decode = time.perf_counter() - t
    pixels = [d.pixels for d in decoded]
    t = time.perf_counter()
    dets = pipeline.detector.detect(pixels)
    t_detect = time.perf_counter() - t
    t = time.perf_counter()
    crops = np.stack(
        [align_face(p, d[0].landmarks_array()) for p, d in zip(pixels, dets, strict=True) if d]
    )
    t_align = time.perf_counter() - t
    t = time.perf_counter()
    pipeline.embedder.embed(crops)
    t_embed = time.perf_counter() - t
    pipeline.close()
    n = len(files)
    return {
        "images": n,
        "decode_images_per_s": rate(n, t_decode),
        "detect_images_per_s": rate(n, t_detect),
        "align_faces_per_s": rate(len(crops), t_align),
        "embed_faces_per_s": rate(len(crops), t_embed),
        "runtime": pipeline.embedder._session.runtime,
    }


def bench_runtimes(settings: Settings, files: list[Path]) -> dict[str, float]:
    base = FacePipeline(settings)
    pixels = [base.decode(Decodable(str(f), f.read_bytes())).pixels for f in files[:512]]
    dets = base.detector.detect(pixels)
    crops = np.stack(
        [align_face(p, d[0].landmarks_array()) for p, d in zip(pixels, dets, strict=True) if d]
    )
    base.close()
    out = {}
    reference = None
    for label, changes in (
        ("openvino-bf16", {"runtime": "openvino", "precision": "bf16"}),
        ("openvino-fp32", {"runtime": "openvino", "precision": "fp32"}),
        ("onnxruntime-fp32", {"runtime": "onnxruntime"}),
    ):
        p = FacePipeline(settings.replace(**changes))
        p.embedder.embed(crops[:64])
        best = 0.0
        for _ in range(3):  # best of three: the least disturbed by other load
            t = time.perf_counter()
            vectors = p.embedder.embed(crops)
            best = max(best, rate(len(crops), time.perf_counter() - t))
        out[f"{label}_faces_per_s"] = best
        if reference is None and label == "onnxruntime-fp32":
            reference = vectors
        out[f"{label}_vectors"] = vectors  # type: ignore[assignment]
        p.close()
    ref = out.pop("onnxruntime-fp32_vectors")
    for label in ("openvino-bf16", "openvino-fp32"):
        vec = out.pop(f"{label}_vectors")
        out[f"{label}_min_cosine_to_ort_fp32"] = float((vec * ref).sum(axis=1).min())  # type: ignore[operator]
    return out


# the instruction sets that decide the precision (models.int8.choice), for the record
ISA = (
    "avx2",
    "fma",
    "avx512f",
    "avx512bw",
    "avx512_vnni",
    "avx_vnni",
    "avx512_bf16",
    "amx_bf16",
    "amx_int8",
    "avx512_fp16",
)


# the flags of a CPU with AVX2 alone (an AMD EPYC Zen 3, say), as ``emulate_avx2`` reports them
AVX2_FLAGS = frozenset({"sse4_2", "avx", "avx2", "fma", "f16c"})


def emulate_avx2() -> None:
    """Run as on a CPU with AVX2 alone, on a bigger one: oneDNN capped at AVX2
    (``ONEDNN_MAX_CPU_ISA``, read when OpenVINO first loads; it limits OpenVINO's
    convolutions but not all of its own kernels) and the precision chosen for AVX2's flags.
    Call before any model loads. A figure from it is an emulation, not a measurement."""
    os.environ["ONEDNN_MAX_CPU_ISA"] = "AVX2"
    runtime.cpu_flags = lambda: AVX2_FLAGS  # type: ignore[assignment]


def cpu_record(settings: Settings) -> dict[str, Any]:
    """The CPU model, its instruction sets, its kind and the precision each model runs at
    (under ``emulate_avx2``: the emulated ones, and ``emulated`` says so)."""
    model = platform.processor() or platform.machine()
    try:
        names = [ln for ln in Path("/proc/cpuinfo").read_text().splitlines() if "model name" in ln]
        model = names[0].partition(":")[2].strip() if names else model
    except OSError:
        pass
    flags = runtime.cpu_flags()
    return {
        "cpu_model": model,
        "emulated": "avx2" if os.environ.get("ONEDNN_MAX_CPU_ISA") == "AVX2" else None,
        "cpus": os.cpu_count(),
        "instruction_sets": [f for f in ISA if f in flags],
        "cpu_kind": cpu_kind(flags),
        "precision_setting": settings.models.precision,
        "precisions": {
            name: {"precision": c.precision, "reason": c.reason}
            for name, c in running_precisions(settings).items()
        },
    }


def bench_startup(settings: Settings, files: list[Path]) -> dict[str, float]:
    env = {**os.environ, "FACESEARCH_CACHE_DIR": str(settings.cache_dir)}
    args = [sys.executable, "-m", "facesearch", "embed", *map(str, files[:3])]
    out = {}
    for label in ("first_call_s", "second_call_s"):
        t = time.perf_counter()
        subprocess.run(args, check=True, capture_output=True, env=env)
        out[label] = time.perf_counter() - t
    return out


def bench_dlib(files: list[Path]) -> dict[str, Any] | None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import face_recognition
    except ImportError:
        return None
    face_recognition.face_encodings(face_recognition.load_image_file(str(files[0])))
    t = time.perf_counter()
    faces = 0
    for f in files:
        img = face_recognition.load_image_file(str(f))
        boxes = face_recognition.face_locations(img)
        faces += len(face_recognition.face_encodings(img, boxes))
    seconds = time.perf_counter() - t
    return {"images": len(files), "faces": faces, "images_per_s": rate(len(files), seconds)}


def side_by_side(
    settings: Settings, files: list[Path], dlib_files: list[Path] | None, rounds: int
) -> dict[str, Any]:
    """facesearch end to end (read + decode + detect + align + embed, every face) on ``files``
    and face_recognition on ``dlib_files``, alternating for ``rounds`` rounds, so that both
    see the same load; medians and every round."""
    pipeline = FacePipeline(settings)
    list(pipeline.run(Decodable(str(f), f.read_bytes()) for f in files[:200]))  # warm-up
    ours: list[float] = []
    theirs: list[float] = []
    faces = 0
    for _ in range(rounds):
        t = time.perf_counter()
        results = list(pipeline.run(Decodable(str(f), f.read_bytes()) for f in files))
        ours.append(rate(len(files), time.perf_counter() - t))
        faces = sum(len(getattr(r, "faces", ())) for r in results)
        dlib = bench_dlib(dlib_files) if dlib_files else None
        if dlib is not None:
            theirs.append(dlib["images_per_s"])
    pipeline.close()
    out: dict[str, Any] = {
        "rounds": rounds,
        "images": len(files),
        "faces": faces,
        "end_to_end_images_per_s": statistics.median(ours),
        "end_to_end_faces_per_s": statistics.median(ours) * faces / len(files),
        "end_to_end_rounds": ours,
        "runtime": pipeline.embedder._session.runtime,
    }
    if theirs:
        out["face_recognition"] = {
            "images": len(dlib_files or ()),
            "images_per_s": statistics.median(theirs),
            "rounds": theirs,
        }
        out["ratio_of_medians"] = statistics.median(ours) / statistics.median(theirs)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--dlib-images", type=int, default=200)
    ap.add_argument("--skip-dlib", action="store_true")
    ap.add_argument("--rounds", type=int, default=3, help="alternating end-to-end rounds")
    ap.add_argument(
        "--emulate-avx2",
        action="store_true",
        help="as on an AVX2-only CPU (emulate_avx2): facesearch end to end and its stages only;"
        " face_recognition (dlib's own compiled SIMD), the runtimes and start-up are skipped",
    )
    args = ap.parse_args()
    if args.emulate_avx2:
        emulate_avx2()
        args.skip_dlib = True
    settings = Settings.from_env()
    lfw = settings.lfw_dir.resolve()
    files = sample_images(lfw, args.images)
    report: dict[str, Any] = {
        "machine": {
            **cpu_record(settings),
            "python": platform.python_version(),
            "load_avg_1m": os.getloadavg()[0],
        },
    }
    dlib_files = None if args.skip_dlib else files[: args.dlib_images]
    print(
        f"{args.rounds} rounds: facesearch on {len(files)} LFW images"
        + (f", face_recognition on {len(dlib_files)}" if dlib_files else "")
        + " ...",
        flush=True,
    )
    report["side_by_side"] = both = side_by_side(settings, files, dlib_files, args.rounds)
    print("stages ...", flush=True)
    report["facesearch"] = fs = bench_stages(settings, files)
    if not args.emulate_avx2:
        print("runtimes ...", flush=True)
        report["runtimes"] = bench_runtimes(settings, files)
        print("start-up ...", flush=True)
        report["startup"] = bench_startup(settings, files)
    dlib = both.get("face_recognition")
    every = ", ".join(f"{r:.0f}" for r in both["end_to_end_rounds"])
    rows = [
        (
            f"facesearch end to end (median of {args.rounds})",
            f"{both['end_to_end_images_per_s']:.1f} images/s",
            f"{both['end_to_end_faces_per_s']:.1f} faces/s; rounds {every}",
        ),
        ("  decode", f"{fs['decode_images_per_s']:.0f} images/s", ""),
        ("  detect (YuNet)", f"{fs['detect_images_per_s']:.0f} images/s", ""),
        ("  align", f"{fs['align_faces_per_s']:.0f} faces/s", ""),
        (f"  embed (SFace, {fs['runtime']})", f"{fs['embed_faces_per_s']:.0f} faces/s", ""),
    ]
    rt = report.get("runtimes", {})
    for label in ("openvino-bf16", "openvino-fp32", "onnxruntime-fp32") if rt else ():
        extra = rt.get(f"{label}_min_cosine_to_ort_fp32")
        rows.append(
            (
                f"  embed {label}",
                f"{rt[f'{label}_faces_per_s']:.0f} faces/s",
                f"min cos to ORT fp32 {extra:.5f}" if extra is not None else "reference",
            )
        )
    st = report.get("startup")
    if st:
        rows.append(
            (
                "start-up, embed 3 images",
                f"{st['first_call_s']:.2f} s first",
                f"{st['second_call_s']:.2f} s second",
            )
        )
    precisions = report["machine"]["precisions"]
    ran = ", ".join(f"{m} {c['precision']}" for m, c in precisions.items())
    kind = report["machine"]["cpu_kind"]
    rows.append(("precisions", kind + (" (EMULATED)" if args.emulate_avx2 else ""), ran))
    if dlib:
        ratio = both["ratio_of_medians"]
        report["ratio_facesearch_over_face_recognition"] = ratio
        theirs = ", ".join(f"{r:.1f}" for r in dlib["rounds"])
        rows.append(
            (
                "face_recognition (dlib HOG)",
                f"{dlib['images_per_s']:.1f} images/s",
                f"facesearch is {ratio:.1f}x faster (medians); rounds {theirs}",
            )
        )
    width = max(len(r[0]) for r in rows)
    print()
    for r in rows:
        print(f"{r[0]:<{width}}  {r[1]:>18}  {r[2]}")
    RESULTS.mkdir(exist_ok=True)
    name = "pipeline-emulated-avx2.json" if args.emulate_avx2 else "pipeline.json"
    (RESULTS / name).write_text(json.dumps(report, indent=1))
    print(f"\nwritten {RESULTS / name}")


if __name__ == "__main__":
    main()
