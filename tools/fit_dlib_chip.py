"""Fit where facesearch's five YuNet landmarks fall on dlib's 150x150 face chip (offline).

For LFW people who appear nowhere in pairs.txt (so the evaluation on View 2 never sees them),
dlib's HOG detector and its licence-clean five-point shape predictor (from
``face_recognition_models``) give dlib's own chip transform, ``get_face_chip_details(shape,
150, 0.25)``; our YuNet detector gives five landmarks on the same image; the landmarks mapped
into chip coordinates, averaged over the faces, give a fitted template: the alternative to
``core.align.TEMPLATE_DLIB_150`` (derived from dlib's mean face; see the comment there for why
it is kept). The 68-point model is never used. dlib is needed here only
(``pip install dlib-bin``)::

    .venv/bin/python tools/fit_dlib_chip.py --lfw /work/shared/data/lfw --people 400

Prints the fitted template, the spread of the mapped points, and how close chips made from it
and from ``TEMPLATE_DLIB_150`` come to dlib's own (descriptor cosine, faces not used in the fit).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from facesearch.core.align import DLIB_CHIP_SIZE, TEMPLATE_DLIB_150, similarity_transform
from facesearch.models import load_detector, load_embedder
from facesearch.settings import Settings

PADDING = 0.25
# dlib's five-point chip template (interpolation.h, get_face_chip_details), unit square
DLIB_FIVE = np.array(
    [
        [0.8595674595992, 0.2134981538014],
        [0.6460604764104, 0.2289674387677],
        [0.1205750620789, 0.2137274526848],
        [0.3340850613712, 0.2290642403242],
        [0.4901123135679, 0.6277975316475],
    ]
)


def people_outside_pairs(lfw: Path) -> list[str]:
    in_pairs: set[str] = set()
    for line in (lfw / "pairs.txt").read_text().splitlines()[1:]:
        fields = line.split()
        in_pairs.add(fields[0])
        if len(fields) == 4:
            in_pairs.add(fields[2])
    folders = sorted(p.name for p in (lfw / "lfw-deepfunneled").iterdir() if p.is_dir())
    return [name for name in folders if name not in in_pairs]


def dlib_image_to_chip(parts: np.ndarray) -> np.ndarray:
    """dlib's chip transform as a 3x3 image -> chip matrix: dlib fits chip -> image (least
    squares, ``find_similarity_transform``) and samples; we invert that."""
    chip = (PADDING + DLIB_FIVE) / (2 * PADDING + 1) * DLIB_CHIP_SIZE
    to_image = np.vstack([similarity_transform(chip, parts), [0, 0, 1]])
    return np.linalg.inv(to_image)


def nearest(candidates: list[np.ndarray], centre: np.ndarray) -> np.ndarray | None:
    if not candidates:
        return None
    return min(candidates, key=lambda pts: float(np.linalg.norm(pts.mean(axis=0) - centre)))


def main() -> None:
    import dlib
    import face_recognition_models as frm

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lfw", type=Path, required=True)
    parser.add_argument("--people", type=int, default=400, help="faces to fit on")
    parser.add_argument("--check", type=int, default=100, help="held-out faces to compare")
    parser.add_argument("--cache-dir", type=Path, default=Path("/tmp/facesearch-fit"))
    args = parser.parse_args()

    hog = dlib.get_frontal_face_detector()
    five = dlib.shape_predictor(frm.pose_predictor_five_point_model_location())
    rec = dlib.face_recognition_model_v1(frm.face_recognition_model_location())
    settings = Settings.from_env(env={}, cache_dir=args.cache_dir)
    detector = load_detector(settings)
    embedder, _ = load_embedder(settings, name="dlib_resnet")

    names = people_outside_pairs(args.lfw)
    mapped, held_out = [], []
    for name in names[:: max(1, len(names) // (args.people + args.check))]:
        image = np.asarray(
            Image.open(args.lfw / "lfw-deepfunneled" / name / f"{name}_0001.jpg").convert("RGB")
        )
        centre = np.array([image.shape[1], image.shape[0]]) / 2
        rects = hog(image, 1)
        shapes = [np.array([(p.x, p.y) for p in five(image, r).parts()], float) for r in rects]
        ours = [np.asarray(d.landmarks, float) for d in detector.detect([image])[0]]
        parts, landmarks = nearest(shapes, centre), nearest(ours, centre)
        if parts is None or landmarks is None:
            continue
        to_chip = dlib_image_to_chip(parts)
        points = (to_chip @ np.hstack([landmarks, np.ones((5, 1))]).T).T[:, :2]
        if len(mapped) < args.people:
            mapped.append(points)
        elif len(held_out) < args.check:
            shape = five(image, min(rects, key=lambda r: abs(r.center().x - centre[0])))
            held_out.append((image, landmarks, dlib.get_face_chip(image, shape, 150, PADDING), rec))
    stack = np.stack(mapped)
    template = stack.mean(axis=0)
    print(f"fitted on {len(stack)} faces of LFW people outside pairs.txt")
    print("TEMPLATE_DLIB_150 =", np.array2string(template, precision=3, separator=", "))
    print("spread (std, px):", np.array2string(stack.std(axis=0), precision=2))
    compare("fitted", template, held_out, embedder)
    compare("in align.py", TEMPLATE_DLIB_150, held_out, embedder)


def compare(label: str, template: np.ndarray, held_out: list, embedder) -> None:  # type: ignore[no-untyped-def,type-arg]
    import cv2

    ours, theirs = [], []
    for image, landmarks, dlib_chip, rec in held_out:
        matrix = similarity_transform(landmarks, template)
        ours.append(
            cv2.warpAffine(image, matrix, (DLIB_CHIP_SIZE, DLIB_CHIP_SIZE), flags=cv2.INTER_LINEAR)
        )
        ref = np.asarray(rec.compute_face_descriptor(dlib_chip))
        theirs.append(ref / np.linalg.norm(ref))
    cos = (embedder.embed(np.stack(ours)) * np.stack(theirs)).sum(axis=1)
    print(
        f"{label}: descriptor cosine, our chip vs dlib's chip, {len(cos)} held-out faces: "
        f"mean {cos.mean():.4f}, min {cos.min():.4f}"
    )


if __name__ == "__main__":
    main()
