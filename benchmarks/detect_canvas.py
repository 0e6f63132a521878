"""Detection canvas: recall, false detections and time per ``detect_max_side`` (issue 11).

    .venv/bin/python benchmarks/detect_canvas.py [--lfw-images 2000] [--per-cell 25]

For each ``detect_max_side`` setting, on

- LFW: a seeded sample of lfw-deepfunneled (250x250); the true face is the central one, its
  box the middle 100x100 (``LFW_FACE``);
- small faces: LFW images downscaled so that the face is 24, 32, 48 or 64 px wide, pasted at a
  seeded random place on a 1920x1080 or 4000x3000 canvas whose background is another LFW
  image, blurred and enlarged, or plain noise (``--per-cell`` composites per size and canvas,
  alternating the two backgrounds), stored as JPEG (quality 95);

it measures recall (a detection whose box centre falls inside the true face's box), false
detections per image (detections whose centre is outside it: on LFW these include real faces
in the background) and the time of detection alone: ``FaceDetector.detect`` on the pixels
the pipeline would hand it (``FacePipeline.decode``, which decodes big images at reduced size
for small settings), in chunks of 16 (same-size images share one batch, as in the pipeline);
warm-up excluded; median of 3 repeats. It also times LFW batched against one image per call at
the default setting. Prints a table and writes benchmarks/results/detect_canvas.json with the
CPU model and instruction sets. Timings drift with the machine's load; compare them side by
side within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from facesearch.models import FaceDetector
from facesearch.pipeline import Decodable, FacePipeline
from facesearch.settings import Settings
from facesearch.types import BBox, Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pipeline import RESULTS, cpu_record

SETTINGS = (160, 192, 224, 256, 320, 384, 512, 640)
FACE_WIDTHS = (24, 32, 48, 64)
CANVASES = ((1920, 1080), (4000, 3000))
LFW_SIDE = 250
LFW_FACE = BBox(x=75.0, y=75.0, w=100.0, h=100.0)  # the central face of a 250x250 LFW image
CHUNK = 16  # images per detect call: the detector's own batch size
REPEATS = 3


@dataclass(frozen=True)
class Sample:
    """One test image: its encoded bytes, its true face box (original pixels) and group."""

    name: str
    data: bytes
    truth: BBox
    group: str  # "lfw" or "<width>px <W>x<H>"
    face_width: int  # 0 for LFW


@dataclass(frozen=True)
class Outcome:
    found: bool  # a detection's centre is inside the true box
    false: int  # detections whose centre is outside it


@dataclass(frozen=True)
class GroupScore:
    images: int
    recall: float  # percent
    false_per_image: float


def centre_inside(box: BBox, truth: BBox) -> bool:
    cx, cy = box.center
    return truth.x <= cx <= truth.x + truth.w and truth.y <= cy <= truth.y + truth.h


def match(boxes: Sequence[BBox], truth: BBox) -> Outcome:
    """Whether the true face was found, and how many detections are elsewhere."""
    inside = [centre_inside(b, truth) for b in boxes]
    return Outcome(found=any(inside), false=inside.count(False))


def score(outcomes: Sequence[Outcome]) -> GroupScore:
    n = len(outcomes)
    return GroupScore(
        images=n,
        recall=100.0 * sum(o.found for o in outcomes) / n if n else 0.0,
        false_per_image=sum(o.false for o in outcomes) / n if n else 0.0,
    )


def blurred_background(photo: Image, width: int, height: int) -> Image:
    """An LFW photo blurred (faces in it unrecognisable) and stretched to width x height."""
    small = cv2.GaussianBlur(photo, (0, 0), sigmaX=8.0)
    return np.asarray(cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR), np.uint8)


def noise_background(rng: np.random.Generator, width: int, height: int) -> Image:
    return rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)


def compose(
    face_photo: Image, face_width: int, background: Image, rng: np.random.Generator
) -> tuple[Image, BBox]:
    """``face_photo`` (a 250x250 LFW image) scaled so its central face is ``face_width`` px
    wide, pasted at a random place wholly inside ``background`` (a copy is returned), and the
    pasted face's box in the result's pixels."""
    scale = face_width / LFW_FACE.w
    side = max(1, round(face_photo.shape[1] * scale))
    patch = cv2.resize(face_photo, (side, side), interpolation=cv2.INTER_AREA)
    height, width = background.shape[:2]
    x0 = int(rng.integers(0, width - side + 1))
    y0 = int(rng.integers(0, height - side + 1))
    out = background.copy()
    out[y0 : y0 + side, x0 : x0 + side] = patch
    s = side / face_photo.shape[1]
    truth = BBox(x=x0 + LFW_FACE.x * s, y=y0 + LFW_FACE.y * s, w=LFW_FACE.w * s, h=LFW_FACE.h * s)
    return out, truth


def jpeg(pixels: Image) -> bytes:
    ok, buf = cv2.imencode(".jpg", pixels[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
    if not ok:
        raise RuntimeError("JPEG encoding failed")
    return buf.tobytes()


def read_rgb(path: Path) -> Image:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise OSError(f"cannot read {path}")
    return np.ascontiguousarray(bgr[:, :, ::-1])


def lfw_files(lfw: Path, n: int, seed: int) -> list[Path]:
    files = sorted((lfw / "lfw-deepfunneled").glob("*/*.jpg"))
    if not files:
        sys.exit(f"no LFW images under {lfw} (set FACESEARCH_LFW_DIR)")
    rng = np.random.default_rng(seed)
    picked = rng.choice(len(files), size=min(n, len(files)), replace=False)
    return [files[i] for i in sorted(picked)]


def lfw_samples(files: Sequence[Path]) -> list[Sample]:
    return [Sample(f.name, f.read_bytes(), LFW_FACE, "lfw", 0) for f in files]


def small_face_samples(files: Sequence[Path], per_cell: int, seed: int) -> list[Sample]:
    rng = np.random.default_rng(seed + 1)
    out = []
    k = 0
    for width, height in CANVASES:
        for face_width in FACE_WIDTHS:
            for i in range(per_cell):
                face = read_rgb(files[k % len(files)])
                other = read_rgb(files[(k + len(files) // 2) % len(files)])
                k += 1
                background = (
                    blurred_background(other, width, height)
                    if i % 2 == 0
                    else noise_background(rng, width, height)
                )
                pixels, truth = compose(face, face_width, background, rng)
                group = f"{face_width}px {width}x{height}"
                out.append(Sample(f"{group} #{i}", jpeg(pixels), truth, group, face_width))
    return out


def timed_detect(
    detector: FaceDetector, images: Sequence[Image], chunk: int
) -> tuple[float, list[list[BBox]]]:
    """Seconds spent in ``detector.detect`` over ``images`` in chunks of ``chunk``, and
    the boxes found (on the given pixels)."""
    seconds = 0.0
    boxes: list[list[BBox]] = []
    for start in range(0, len(images), chunk):
        part = images[start : start + chunk]
        t = time.perf_counter()
        found = detector.detect(part)
        seconds += time.perf_counter() - t
        boxes += [[d.bbox for d in faces] for faces in found]
    return seconds, boxes


def scaled(box: BBox, factor: int) -> BBox:
    return BBox(x=box.x * factor, y=box.y * factor, w=box.w * factor, h=box.h * factor)


@dataclass(frozen=True)
class SettingResult:
    max_side: int
    default: bool
    lfw: GroupScore
    lfw_ms_per_image: float
    small: dict[str, GroupScore]  # by group
    small_by_width: dict[int, GroupScore]  # both canvases together
    small_ms_per_image: float


def run_setting(
    settings: Settings,
    max_side: int,
    lfw: Sequence[Sample],
    small: Sequence[Sample],
    progress: Callable[[str], None],
) -> SettingResult:
    pipeline = FacePipeline(settings.replace(detect_max_side=max_side))
    detector = pipeline.detector
    outcomes: dict[str, list[Outcome]] = {}
    ms: dict[str, float] = {}
    for name, samples in (("lfw", lfw), ("small", small)):
        decoded = [pipeline.decode(Decodable(s.name, s.data)) for s in samples]
        images = [d.pixels for d in decoded]
        firsts = {s.group.partition(" ")[2]: i for i, s in reversed(list(enumerate(samples)))}
        for i in firsts.values():  # warm-up, once per canvas size: load and compile
            detector.detect(images[i : i + CHUNK])
        times = []
        boxes: list[list[BBox]] = []
        for _ in range(REPEATS):
            seconds, boxes = timed_detect(detector, images, CHUNK)
            times.append(seconds)
        ms[name] = 1000.0 * statistics.median(times) / max(1, len(images))
        for s, d, found in zip(samples, decoded, boxes, strict=True):
            got = match([scaled(b, d.reduction) for b in found], s.truth)
            outcomes.setdefault(s.group, []).append(got)
        progress(f"  {name}: {ms[name]:.1f} ms/image")
    pipeline.close()
    by_width: dict[int, list[Outcome]] = {}
    for s in small:
        by_width.setdefault(s.face_width, [])
    for group, members in outcomes.items():
        if group != "lfw":
            by_width[int(group.split("px")[0])] += members
    return SettingResult(
        max_side=max_side,
        default=max_side == settings.models.detect_max_side,
        lfw=score(outcomes["lfw"]),
        lfw_ms_per_image=ms["lfw"],
        small={g: score(o) for g, o in outcomes.items() if g != "lfw"},
        small_by_width={w: score(o) for w, o in sorted(by_width.items())},
        small_ms_per_image=ms["small"],
    )


def batched_vs_single(settings: Settings, lfw: Sequence[Sample]) -> dict[str, float]:
    """LFW at the default setting: ms per image in batches of 16 and one image per call."""
    pipeline = FacePipeline(settings)
    images = [pipeline.decode(Decodable(s.name, s.data)).pixels for s in lfw]
    detector = pipeline.detector
    out = {}
    for label, chunk in (("batched_16_ms_per_image", CHUNK), ("one_by_one_ms_per_image", 1)):
        timed_detect(detector, images[:CHUNK], chunk)
        times = [timed_detect(detector, images, chunk)[0] for _ in range(REPEATS)]
        out[label] = 1000.0 * statistics.median(times) / len(images)
    pipeline.close()
    out["speed_up"] = out["one_by_one_ms_per_image"] / out["batched_16_ms_per_image"]
    return out


def smallest_keeping_recall(results: Sequence[SettingResult], tolerance: float = 0.5) -> int:
    """The smallest setting whose LFW recall and small-face recall (faces of 32 px and up,
    each width) are within ``tolerance`` points of the largest setting's."""
    top = max(results, key=lambda r: r.max_side)

    def keeps(r: SettingResult) -> bool:
        if r.lfw.recall < top.lfw.recall - tolerance:
            return False
        return all(
            r.small_by_width[w].recall >= top.small_by_width[w].recall - tolerance
            for w in top.small_by_width
            if w >= 32
        )

    return min(r.max_side for r in results if keeps(r))


def table(results: Sequence[SettingResult]) -> list[str]:
    widths = sorted(results[0].small_by_width)
    head = (
        f"{'max_side':>9} {'LFW recall':>10} {'LFW false/img':>13} {'LFW ms/img':>10}  "
        + " ".join(f"{f'{w}px rec':>9}" for w in widths)
        + f" {'small false/img':>15} {'small ms/img':>12}"
    )
    lines = [head]
    for r in results:
        false_small = statistics.fmean(g.false_per_image for g in r.small.values())
        mark = "*" if r.default else " "
        lines.append(
            f"{r.max_side:>8}{mark} {r.lfw.recall:>10.2f} {r.lfw.false_per_image:>13.3f} "
            f"{r.lfw_ms_per_image:>10.2f}  "
            + " ".join(f"{r.small_by_width[w].recall:>9.1f}" for w in widths)
            + f" {false_small:>15.3f} {r.small_ms_per_image:>12.1f}"
        )
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--lfw-images", type=int, default=2000)
    ap.add_argument("--per-cell", type=int, default=25, help="composites per face size, canvas")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--out", type=Path, default=RESULTS / "detect_canvas.json")
    args = ap.parse_args()
    settings = Settings.from_env()
    default = settings.models.detect_max_side
    sides = sorted({*SETTINGS, default})

    def progress(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    files = lfw_files(settings.lfw_dir.resolve(), args.lfw_images, args.seed)
    lfw = lfw_samples(files)
    progress(f"composing {args.per_cell * len(FACE_WIDTHS) * len(CANVASES)} small-face images")
    small = small_face_samples(files, args.per_cell, args.seed)
    load_before = os.getloadavg()[0]
    results = []
    for side in sides:
        progress(f"detect_max_side={side}")
        results.append(run_setting(settings, side, lfw, small, progress))
    progress("batched vs one by one (LFW, default)")
    batching = batched_vs_single(settings, lfw)
    best = smallest_keeping_recall(results)
    lines = table(results)
    lines.append("* the current default")
    lines.append(
        f"LFW at the default, batched by 16: {batching['batched_16_ms_per_image']:.2f} ms/img, "
        f"one by one: {batching['one_by_one_ms_per_image']:.2f} ms/img "
        f"({batching['speed_up']:.2f}x)"
    )
    lines.append(f"smallest setting keeping recall (0.5 points, LFW and >= 32 px): {best}")
    print("\n".join(lines))
    report = {
        "machine": {
            **cpu_record(settings),
            "python": platform.python_version(),
            "load_avg_1m_before": load_before,
            "load_avg_1m_after": os.getloadavg()[0],
        },
        "lfw_images": len(lfw),
        "small_face_images": len(small),
        "seed": args.seed,
        "default_detect_max_side": default,
        "settings": [asdict(r) for r in results],
        "batching_lfw_default": batching,
        "smallest_keeping_recall": best,
        "table": lines,
    }
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    print(f"\nwritten {args.out}")


if __name__ == "__main__":
    main()
