"""The GPU path (issue 11: >= 5,000 faces/s end to end on one H200, LFW accuracy unchanged).

    pip install '.[gpu]'     # onnxruntime-gpu (uninstall the CPU onnxruntime first)
    python benchmarks/gpu.py [--runtime cuda|tensorrt] [--images 5000] [--rounds 3]
    scripts/gpu-check.sh     # the same on the device machine, its JSON copied to $OUT

On ``--images`` LFW photos (a spread sample, read from disk in each round) with
``FACESEARCH_RUNTIME=--runtime``:

- end to end, ingest-style: ``FacePipeline.run`` (decode threads on every core, detect, align,
  embed; the pipeline's GPU batch sizes), faces/s and images/s, best and median of the rounds
  after one warm-up pass (cuDNN's algorithm search and TensorRT's engine builds happen there);
- the embedder alone on aligned crops (GPU batches of 256), faces/s;
- the detector alone on decoded photos, images/s;
- the SFace embeddings on the GPU against ONNX Runtime on the CPU, same crops: cosine min/mean;
- LFW View 2 accuracy through ``evaluation.lfw`` at the GPU runtime, against the CPU figure of
  the README (ONNX Runtime fp32); ``--skip-accuracy`` leaves it out.

Records the GPU (nvidia-smi: name, driver, memory), the CUDA version onnxruntime was built with
and the CPU in benchmarks/results/gpu.json (``--out``); prints a table. Where there is no GPU
path it prints one line, ``skipped: <reason>``, and exits 0.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from facesearch.core.align import align_face
from facesearch.evaluation.lfw import all_images, embed_images, evaluate, read_pairs
from facesearch.models import load_embedder
from facesearch.models.gpu import PROVIDER, missing_providers
from facesearch.models.runtime import onnxruntime_providers
from facesearch.pipeline import Decodable, FacePipeline
from facesearch.settings import Settings
from facesearch.types import ImageFaces
from pipeline import RESULTS, cpu_record, rate, sample_images

# README, "LFW accuracy": SFace on ONNX Runtime fp32 (CPU), LFW View 2
CPU_ACCURACY, CPU_TAR_AT_FAR_1E3 = 0.9938, 0.9893
TARGET_FACES_PER_S = 5000


def why_not(runtime: str) -> str | None:
    """Why the GPU path cannot run here, or None."""
    found = onnxruntime_providers()
    if found is None:
        return "onnxruntime is not installed (pip install '.[gpu]')"
    missing = missing_providers(runtime, found)
    if missing:
        return f"onnxruntime has no {', '.join(missing)} (pip install '.[gpu]')"
    if shutil.which("nvidia-smi") is None:
        return "no NVIDIA driver (nvidia-smi not found)"
    return None


def gpu_record() -> dict[str, Any]:
    """The GPU as nvidia-smi names it, and the CUDA version onnxruntime was built with."""
    query = "name,driver_version,memory.total,compute_cap"
    out = subprocess.run(
        ["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    first = [part.strip() for part in out.splitlines()[0].split(",")] if out else []
    import onnxruntime as ort
    from onnxruntime.capi import onnxruntime_validation as validation

    _, _, cuda = validation.get_package_name_and_version_info()
    return {
        "gpu": dict(zip(query.split(","), first, strict=False)),
        "gpus": len(out.splitlines()),
        "onnxruntime": ort.__version__,
        "onnxruntime_cuda": cuda,
        "providers": ort.get_available_providers(),
    }


def read(files: list[Path]) -> list[Decodable]:
    return [Decodable(str(f), f.read_bytes()) for f in files]


def end_to_end(pipeline: FacePipeline, files: list[Path], rounds: int) -> dict[str, Any]:
    """Warm-up pass, then ``rounds`` timed passes of read + decode + detect + align + embed."""
    list(pipeline.run(read(files)))
    timings, faces = [], 0
    for _ in range(rounds):
        t = time.perf_counter()
        results = list(pipeline.run(Decodable(str(f), f.read_bytes()) for f in files))
        timings.append(time.perf_counter() - t)
        faces = sum(len(r.faces) for r in results if isinstance(r, ImageFaces))
    best, median = min(timings), statistics.median(timings)
    return {
        "images": len(files),
        "faces": faces,
        "seconds": timings,
        "faces_per_s": rate(faces, best),
        "faces_per_s_median": rate(faces, median),
        "images_per_s": rate(len(files), best),
    }


def aligned_crops(pipeline: FacePipeline, files: list[Path]) -> np.ndarray:
    """The main face of each photo, aligned (detected on this pipeline)."""
    crops = []
    for item in read(files):
        decoded = pipeline.decode(item)
        (found,) = pipeline.analyse([(item.source, decoded)], embed=False)
        if isinstance(found, ImageFaces) and found.main is not None:
            marks = found.faces[found.main].detection.landmarks_array()
            crops.append(align_face(decoded.pixels, marks))
    return np.stack(crops)


def embed_only(pipeline: FacePipeline, crops: np.ndarray, rounds: int) -> float:
    batch = np.concatenate([crops] * max(1, 4096 // len(crops)))
    pipeline.embedder.embed(batch)
    best = min(_timed(lambda: pipeline.embedder.embed(batch)) for _ in range(rounds))
    return rate(len(batch), best)


def detect_only(pipeline: FacePipeline, files: list[Path], rounds: int) -> float:
    pixels = [pipeline.decode(item).pixels for item in read(files)]
    pipeline.detector.detect(pixels)
    best = min(_timed(lambda: pipeline.detector.detect(pixels)) for _ in range(rounds))
    return rate(len(pixels), best)


def _timed(work: Any) -> float:
    t = time.perf_counter()
    work()
    return time.perf_counter() - t


def against_cpu(settings: Settings, pipeline: FacePipeline, crops: np.ndarray) -> dict[str, Any]:
    cpu, _ = load_embedder(settings.replace(runtime="onnxruntime"))
    cosine = np.sum(cpu.embed(crops) * pipeline.embedder.embed(crops), axis=1)
    return {
        "faces": len(crops),
        "cosine_min": float(cosine.min()),
        "cosine_mean": float(cosine.mean()),
    }


def lfw_accuracy(pipeline: FacePipeline, lfw: Path) -> dict[str, Any]:
    pairs = read_pairs(lfw / "pairs.txt")
    root = lfw / "lfw-deepfunneled"
    t = time.perf_counter()
    emb = embed_images(pipeline, root, all_images(lfw), progress=False)
    seconds = time.perf_counter() - t
    figures = evaluate(pairs, emb)
    figures.pop("roc")
    figures["seconds"] = seconds
    figures["accuracy_change_vs_cpu"] = figures["accuracy_mean"] - CPU_ACCURACY
    return figures


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runtime", choices=list(PROVIDER), default="cuda")
    ap.add_argument("--images", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--skip-accuracy", action="store_true")
    ap.add_argument("--out", type=Path, default=RESULTS / "gpu.json")
    args = ap.parse_args()
    reason = why_not(args.runtime)
    if reason is not None:
        print(f"skipped: {reason}")
        return 0
    settings = Settings.from_env(runtime=args.runtime, second_embedder="none")
    files = sample_images(settings.lfw_dir, args.images)
    report: dict[str, Any] = {
        "runtime": args.runtime,
        **gpu_record(),
        **cpu_record(settings),
        "batch": {},
    }
    with FacePipeline(settings) as pipeline:
        pipeline.load_models()
        report["batch"] = {
            "embed": pipeline.embedder.config.batch_size,
            "detect": pipeline.detector.config.batch_size,
            "decode_threads": pipeline._pool._max_workers,
        }
        report["end_to_end"] = end_to_end(pipeline, files, args.rounds)
        crops = aligned_crops(pipeline, files[:512])
        report["embed_faces_per_s"] = embed_only(pipeline, crops, args.rounds)
        report["detect_images_per_s"] = detect_only(pipeline, files[:1024], args.rounds)
        report["against_cpu"] = against_cpu(settings, pipeline, crops[:256])
        if not args.skip_accuracy:
            report["lfw"] = lfw_accuracy(pipeline, settings.lfw_dir)
            report["lfw_cpu_reference"] = {
                "accuracy_mean": CPU_ACCURACY,
                "tar_at_far_1e-3": CPU_TAR_AT_FAR_1E3,
                "source": "README (ONNX Runtime fp32 on a CPU)",
            }
    print_table(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    print(f"\nwritten {args.out}")
    return 0


def print_table(r: dict[str, Any]) -> None:
    e = r["end_to_end"]
    gpu = r["gpu"].get("name", "?")
    rows = [
        (
            "GPU / driver / CUDA (ORT build)",
            f"{gpu} / {r['gpu'].get('driver_version')} / {r['onnxruntime_cuda']}",
        ),
        ("CPU", f"{r['cpu_model']} ({r['cpus']} cores)"),
        (
            "runtime, batches (embed/detect/decode threads)",
            f"{r['runtime']}, {r['batch']['embed']}/{r['batch']['detect']}/"
            f"{r['batch']['decode_threads']}",
        ),
        (
            f"end to end, {e['images']} images, {e['faces']} faces",
            f"{e['faces_per_s']:,.0f} faces/s (median {e['faces_per_s_median']:,.0f}; "
            f"{e['images_per_s']:,.0f} images/s; target {TARGET_FACES_PER_S:,})",
        ),
        ("embed only", f"{r['embed_faces_per_s']:,.0f} faces/s"),
        ("detect only", f"{r['detect_images_per_s']:,.0f} images/s"),
        (
            "SFace GPU vs CPU cosine (min / mean)",
            f"{r['against_cpu']['cosine_min']:.5f} / {r['against_cpu']['cosine_mean']:.5f}",
        ),
    ]
    if "lfw" in r:
        lfw = r["lfw"]
        rows.append(
            (
                "LFW View 2 accuracy (CPU: README)",
                f"{100 * lfw['accuracy_mean']:.2f} % ± {100 * lfw['accuracy_std']:.2f} "
                f"(CPU {100 * CPU_ACCURACY:.2f} %), TAR@FAR1e-3 "
                f"{100 * lfw['tar_at_far_1e-3']:.2f} %, {lfw['images_without_face']} "
                "images without a face",
            )
        )
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")


if __name__ == "__main__":
    sys.exit(main())
