"""dlib's people clustering on LFW: the peer that benchmarks/people.py compares against.

    /work/venv-dlib/bin/python benchmarks/people_dlib.py [--limit N] [--workers 2]

Runs in its own virtualenv with ``face-recognition==1.3.0`` (which builds dlib); it does not
import facesearch. For every image of LFW/lfw-deepfunneled (sorted), with face_recognition's
documented defaults: ``face_locations`` (HOG detector, upsample 1), ``face_encodings`` (5-point
landmarks, 1 jitter) for every face found; then ``dlib.chinese_whispers_clustering`` over all
descriptors at 0.5, dlib's documented threshold (Euclidean distance). No LFW label is used.

Writes benchmarks/results/lfw-dlib.npz, one row per face:
    path        str (n,)          relative to lfw-deepfunneled ("AJ_Cook/AJ_Cook_0001.jpg")
    face_index  int32 (n,)        the face's rank in face_locations' order for its image
    is_main     bool (n,)         the largest box of its image (first one on a tie)
    box         int32 (n, 4)      face_recognition's (top, right, bottom, left) in pixels
    descriptor  float32 (n, 128)  dlib's ResNet descriptor (not normalised; compare by L2)
    cw_label    int64 (n,)        Chinese whispers label
and per image, sorted: ``images`` (str) and ``faces_per_image`` (int32, 0 = no face found).
A summary goes to benchmarks/results/lfw-dlib.json and stdout; progress to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from importlib.metadata import version
from multiprocessing import Pool
from pathlib import Path

# One thread per worker process: the workers are the parallelism (set before dlib loads).
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import dlib  # noqa: E402
import face_recognition  # noqa: E402
import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"
THRESHOLD = 0.5  # dlib's documented Chinese whispers threshold for its face descriptors
UPSAMPLE = 1  # face_locations' default number_of_times_to_upsample
PROGRESS_EVERY = 500

Box = tuple[int, int, int, int]


def default_lfw() -> Path:
    """FACESEARCH_LFW_DIR, else ../shared/data/lfw next to the repository (as tests/conftest.py)."""
    configured = os.environ.get("FACESEARCH_LFW_DIR")
    return Path(configured) if configured else REPO.parent / "shared" / "data" / "lfw"


def describe(path: str) -> tuple[list[Box], np.ndarray]:
    """The boxes and (k, 128) float32 descriptors of every face face_recognition finds."""
    image = face_recognition.load_image_file(path)
    boxes = face_recognition.face_locations(image, number_of_times_to_upsample=UPSAMPLE)
    if not boxes:
        return [], np.zeros((0, 128), np.float32)
    encodings = face_recognition.face_encodings(image, known_face_locations=boxes)
    found = [(int(top), int(right), int(bottom), int(left)) for top, right, bottom, left in boxes]
    return found, np.asarray(encodings, np.float32)


def largest(boxes: list[Box]) -> int:
    """Index of the largest (top, right, bottom, left) box; the first one on a tie."""
    areas = [(bottom - top) * (right - left) for top, right, bottom, left in boxes]
    return areas.index(max(areas))


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--lfw", type=Path, default=default_lfw(), help="LFW folder")
    ap.add_argument("--limit", type=int, help="only the first N images (sorted)")
    ap.add_argument("--workers", type=int, default=2, help="processes (default 2)")
    ap.add_argument("--out", type=Path, default=RESULTS / "lfw-dlib.npz", help="output .npz")
    args = ap.parse_args()
    root = args.lfw.resolve() / "lfw-deepfunneled"
    if not root.is_dir():
        sys.exit(f"LFW not found at {root} (set FACESEARCH_LFW_DIR or pass --lfw)")
    images = sorted(p.relative_to(root).as_posix() for p in root.glob("*/*.jpg"))
    if args.limit:
        images = images[: args.limit]

    paths: list[str] = []
    face_index: list[int] = []
    is_main: list[bool] = []
    boxes_all: list[Box] = []
    descriptors: list[np.ndarray] = []
    faces_per_image: list[int] = []
    start = time.perf_counter()
    with Pool(args.workers) as pool:
        found = pool.imap(describe, [str(root / rel) for rel in images], chunksize=4)
        for done, (rel, (boxes, desc)) in enumerate(zip(images, found, strict=True), 1):
            faces_per_image.append(len(boxes))
            main_face = largest(boxes) if boxes else -1
            for i, box in enumerate(boxes):
                paths.append(rel)
                face_index.append(i)
                is_main.append(i == main_face)
                boxes_all.append(box)
            descriptors.append(desc)
            if done % PROGRESS_EVERY == 0 or done == len(images):
                elapsed = time.perf_counter() - start
                rate = done / elapsed
                print(
                    f"{done}/{len(images)} images, {len(paths)} faces, {rate:.2f} images/s, "
                    f"ETA {(len(images) - done) / rate / 60:.1f} min",
                    file=sys.stderr,
                    flush=True,
                )
    seconds = time.perf_counter() - start

    descriptor = np.concatenate(descriptors) if descriptors else np.zeros((0, 128), np.float32)
    t = time.perf_counter()
    labels = dlib.chinese_whispers_clustering(
        [dlib.vector(d.tolist()) for d in descriptor], THRESHOLD
    )
    cw_seconds = time.perf_counter() - t
    cw_label = np.asarray(labels, np.int64)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(args.out.name + ".tmp.npz")  # written whole, then renamed
    np.savez_compressed(
        tmp,
        path=np.asarray(paths, dtype=str),
        face_index=np.asarray(face_index, np.int32),
        is_main=np.asarray(is_main, bool),
        box=np.asarray(boxes_all, np.int32).reshape(-1, 4),
        descriptor=descriptor,
        cw_label=cw_label,
        images=np.asarray(images, dtype=str),
        faces_per_image=np.asarray(faces_per_image, np.int32),
    )
    tmp.replace(args.out)

    summary = {
        "images": len(images),
        "faces": len(paths),
        "images_without_face": faces_per_image.count(0),
        "seconds": round(seconds, 1),
        "images_per_s": round(len(images) / seconds, 2),
        "cw_threshold": THRESHOLD,
        "cw_seconds": round(cw_seconds, 2),
        "clusters": len(np.unique(cw_label)),
        "upsample": UPSAMPLE,
        "workers": args.workers,
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "dlib": dlib.__version__,
        "face_recognition": version("face-recognition"),  # its __version__ says 1.2.3
        "npz": str(args.out),
    }
    args.out.with_suffix(".json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
