"""YuNet-compatible face detection: boxes, five landmarks and a score for every face.

Images are scaled so that the longer side fits ``detect_max_side`` and pasted (top-left) onto
a square canvas whose side is one of a few buckets (128 to 1024 in steps of 128). Same-bucket
images are detected in one batch, and the few canvas shapes keep compiled models reusable.
Results are mapped back to the original pixel grid.

Tight crops (ID photos, 112x112 thumbnails) give the detector no context around the face, so
an image with no face is tried once more centred on a canvas twice its size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from facesearch.models.runtime import InferenceSession
from facesearch.types import BBox, Detection, Image

BUCKETS = (128, 256, 384, 512, 640, 768, 896, 1024)
STRIDES = (8, 16, 32)


@dataclass(frozen=True)
class DetectorConfig:
    max_side: int
    score_threshold: float
    nms_threshold: float
    min_face_size: int
    channel_order: str = "bgr"
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    top_k: int = 200
    batch_size: int = 16  # same-size canvases per call (larger on a GPU: models.gpu)


@dataclass(frozen=True)
class _Placement:
    scale: float  # canvas pixels per original pixel
    offset_x: float  # where the original's (0, 0) lands on the canvas
    offset_y: float
    side: int


class FaceDetector:
    def __init__(self, session: InferenceSession, config: DetectorConfig) -> None:
        self._session = session
        self.config = config

    def detect(self, images: Sequence[Image]) -> list[list[Detection]]:
        """Faces of every image, best score first. Images are H x W x 3 RGB uint8."""
        results = self._detect_pass(images, pad=False)
        retry = [i for i, found in enumerate(results) if not found]
        if retry:
            again = self._detect_pass([images[i] for i in retry], pad=True)
            for i, found in zip(retry, again, strict=True):
                results[i] = found
        return results

    def _detect_pass(self, images: Sequence[Image], pad: bool) -> list[list[Detection]]:
        placements = [self._place(img.shape[1], img.shape[0], pad) for img in images]
        results: list[list[Detection]] = [[] for _ in images]
        by_side: dict[int, list[int]] = {}
        for i, placement in enumerate(placements):
            by_side.setdefault(placement.side, []).append(i)
        step = self.config.batch_size
        for side, members in by_side.items():
            for start in range(0, len(members), step):
                chunk = members[start : start + step]
                bucket = next(b for b in _powers_of_two(step) if b >= len(chunk))
                # one batch array, painted in place (padding slots stay black): no per-image
                # canvas, transpose and stack to copy
                batch = np.zeros((bucket, 3, side, side), dtype=np.float32)
                for j, i in enumerate(chunk):
                    self._paint(batch[j], images[i], placements[i])
                outputs = self._session.run(batch)
                for j, i in enumerate(chunk):
                    results[i] = self._decode(outputs, j, bucket, side, placements[i])
        return results

    def _place(self, width: int, height: int, pad: bool) -> _Placement:
        frame_w, frame_h = (width * 2.0, height * 2.0) if pad else (float(width), float(height))
        longest = max(frame_w, frame_h)
        limit = min(self.config.max_side, BUCKETS[-1])
        scale = min(1.0, limit / longest)
        if pad and longest * scale < 128:  # upscale tiny crops so the face reaches ~64 px
            scale = 128.0 / longest
        side = next((b for b in BUCKETS if b >= longest * scale - 1e-6), BUCKETS[-1])
        scale = min(scale, side / longest)
        off_x = (frame_w - width) / 2.0 * scale
        off_y = (frame_h - height) / 2.0 * scale
        return _Placement(scale=scale, offset_x=off_x, offset_y=off_y, side=side)

    def _paint(self, canvas: npt.NDArray[np.float32], image: Image, placement: _Placement) -> None:
        """Paint ``image`` onto ``canvas`` (3 x side x side, zeros), scaled and placed as
        ``placement`` says, in the model's channel order, mean and scale."""
        cfg = self.config
        h, w = image.shape[:2]
        new_w = max(1, round(w * placement.scale))
        new_h = max(1, round(h * placement.scale))
        if (new_w, new_h) != (w, h):
            interp = cv2.INTER_AREA if placement.scale < 1 else cv2.INTER_LINEAR
            image = np.asarray(cv2.resize(image, (new_w, new_h), interpolation=interp), np.uint8)
        x0, y0 = round(placement.offset_x), round(placement.offset_y)
        fit_h, fit_w = min(new_h, placement.side - y0), min(new_w, placement.side - x0)
        pixels = image[:fit_h, :fit_w]
        if cfg.channel_order == "bgr":
            pixels = pixels[:, :, ::-1]
        area = canvas[:, y0 : y0 + fit_h, x0 : x0 + fit_w]
        area[...] = pixels.transpose(2, 0, 1)
        if cfg.mean != (0.0, 0.0, 0.0) or cfg.std != (1.0, 1.0, 1.0):
            mean, std = np.asarray(cfg.mean, np.float32), np.asarray(cfg.std, np.float32)
            canvas -= mean[:, None, None]
            canvas /= std[:, None, None]

    def _decode(
        self,
        outputs: list[npt.NDArray[np.float32]],
        j: int,
        n: int,
        side: int,
        placement: _Placement,
    ) -> list[Detection]:
        cfg = self.config
        boxes, scores, marks = [], [], []
        for k, stride in enumerate(STRIDES):
            cells = (side // stride) ** 2
            cls = outputs[k].reshape(n, cells)[j]
            obj = outputs[3 + k].reshape(n, cells)[j]
            score = np.sqrt(np.clip(cls, 0, 1) * np.clip(obj, 0, 1))
            keep = np.nonzero(score >= cfg.score_threshold)[0]
            if keep.size == 0:
                continue
            bbox = outputs[6 + k].reshape(n, cells, 4)[j][keep]
            kps = outputs[9 + k].reshape(n, cells, 10)[j][keep]
            cols = side // stride
            gx = (keep % cols).astype(np.float32)
            gy = (keep // cols).astype(np.float32)
            cx = (gx + bbox[:, 0]) * stride
            cy = (gy + bbox[:, 1]) * stride
            bw = np.exp(bbox[:, 2]) * stride
            bh = np.exp(bbox[:, 3]) * stride
            boxes.append(np.stack([cx - bw / 2, cy - bh / 2, bw, bh], axis=1))
            pts = kps.reshape(-1, 5, 2).copy()
            pts[:, :, 0] = (pts[:, :, 0] + gx[:, None]) * stride
            pts[:, :, 1] = (pts[:, :, 1] + gy[:, None]) * stride
            marks.append(pts)
            scores.append(score[keep])
        if not boxes:
            return []
        all_boxes = np.concatenate(boxes)
        all_scores = np.concatenate(scores)
        all_marks = np.concatenate(marks)
        keep_idx = nms(all_boxes, all_scores, cfg.nms_threshold)[: cfg.top_k]
        found = []
        for i in keep_idx:
            x, y, w, h = all_boxes[i]
            s = placement.scale
            box = BBox(
                x=float((x - placement.offset_x) / s),
                y=float((y - placement.offset_y) / s),
                w=float(w / s),
                h=float(h / s),
            )
            if min(box.w, box.h) < cfg.min_face_size:
                continue
            pts = all_marks[i]
            landmarks = tuple(
                (float((px - placement.offset_x) / s), float((py - placement.offset_y) / s))
                for px, py in pts
            )
            found.append(Detection(bbox=box, landmarks=landmarks, score=float(all_scores[i])))
        return found


def _powers_of_two(limit: int) -> list[int]:
    """Batch buckets 1, 2, 4 ... up to ``limit`` (itself the last, a power of two or not)."""
    out = [1]
    while out[-1] * 2 < limit:
        out.append(out[-1] * 2)
    return [*out, limit] if limit > 1 else out


def nms(boxes: npt.NDArray[np.float32], scores: npt.NDArray[np.float32], iou: float) -> list[int]:
    """Greedy non-maximum suppression on (x, y, w, h) boxes; indices best first."""
    order = np.argsort(-scores, kind="stable")
    x1, y1 = boxes[:, 0], boxes[:, 1]
    x2, y2 = x1 + boxes[:, 2], y1 + boxes[:, 3]
    areas = np.maximum(boxes[:, 2], 0) * np.maximum(boxes[:, 3], 0)
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        ix1 = np.maximum(x1[i], x1[rest])
        iy1 = np.maximum(y1[i], y1[rest])
        ix2 = np.minimum(x2[i], x2[rest])
        iy2 = np.minimum(y2[i], y2[rest])
        inter = np.maximum(ix2 - ix1, 0) * np.maximum(iy2 - iy1, 0)
        union = areas[i] + areas[rest] - inter
        overlap = np.where(union > 0, inter / np.maximum(union, 1e-9), 0)
        order = rest[overlap <= iou]
    return keep
