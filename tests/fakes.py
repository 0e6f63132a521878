"""A fake face pipeline for fast tests of everything above ``Engine``: no model weights, no LFW.

``FakePipeline`` is a real ``FacePipeline`` (the real decode with every image limit, the real
alignment, quality and batching) whose detector and embedder are fakes that understand the
synthetic photos made here:

- ``face_photo(person, shot)`` draws, per face, a panel on a white background holding a
  square "face": an 8 x 8 grid of colours chosen by ``person``, plus a little noise chosen by
  ``shot``. ``faces=2`` puts two panels side by side; ``blur=True`` blurs the photo so the
  probe quality gate refuses it.
- ``no_face_photo()`` is one uniform colour.

``FakeDetector`` finds every textured non-white blob of 16 pixels or more and gives it a box
and five landmarks placed where the ArcFace template expects them (a frontal face), so the
real alignment maps the box onto the 112 x 112 crop. ``FakeEmbedder`` shrinks the crop to
8 x 8 x 3, centres it and projects it onto 128 dimensions with a fixed random matrix: two
shots of one person score about 0.99, two people about 0 (well past the shipped SFace
table's thresholds). The embedder spec is the real SFace ``ModelSpec`` from the registry, so
``model_id`` matches the shipped calibration table; looking a spec up loads no weights.
``FakeSecondEmbedder`` stands for the second model (dlib's ResNet, whose real spec it gets, so
the shipped fusion and fused table apply): the same idea on the second model's chip with
another projection, so its scores differ from the first's but keep people apart as well.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image as PILImage
from PIL import ImageFilter

from facesearch.core.align import TEMPLATE_112
from facesearch.models.registry import ModelRegistry
from facesearch.pipeline import FacePipeline
from facesearch.settings import Settings
from facesearch.types import BBox, Detection, Image

GRID = 8
BACKGROUND = 255
PANEL = 160  # default panel side; the face is the middle FACE_SHARE of it
FACE_SHARE = 0.75
DIM = 128  # SFace's embedding size
_PROJECTION = np.random.default_rng(20261130).standard_normal((GRID * GRID * 3, DIM))
_SECOND_PROJECTION = np.random.default_rng(20261201).standard_normal((GRID * GRID * 3, DIM))
SECOND_MODEL = "dlib_resnet"


def person_grid(person: int) -> npt.NDArray[np.uint8]:
    """The 8 x 8 colours of ``person``'s face; channels in 20..200, never background."""
    rng = np.random.default_rng(1000 + person)
    return rng.integers(20, 200, size=(GRID, GRID, 3), dtype=np.uint8)


def face_pixels(
    person: int, shot: int, *, faces: int = 1, blur: bool = False, size: int = PANEL
) -> Image:
    """The RGB pixels of ``face_photo`` (H x W x 3 uint8)."""
    side = int(size * FACE_SHARE) // GRID * GRID
    margin = (size - side) // 2
    pixels = np.full((size, size * faces, 3), BACKGROUND, dtype=np.uint8)
    noise = np.random.default_rng((person, shot))
    for k in range(faces):
        face = np.kron(person_grid(person + k), np.ones((side // GRID, side // GRID, 1)))
        face = face + noise.normal(0.0, 6.0, face.shape)
        x0 = k * size + margin
        pixels[margin : margin + side, x0 : x0 + side] = np.clip(face, 0, 210).astype(np.uint8)
    if blur:
        blurred = PILImage.fromarray(pixels).filter(ImageFilter.GaussianBlur(size / 12))
        pixels = np.asarray(blurred, dtype=np.uint8)
    return pixels


def encode(pixels: Image, fmt: str = "PNG") -> bytes:
    buf = io.BytesIO()
    PILImage.fromarray(pixels).save(buf, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
    return buf.getvalue()


def face_photo(
    person: int,
    shot: int,
    *,
    faces: int = 1,
    blur: bool = False,
    size: int = PANEL,
    fmt: str = "PNG",
) -> bytes:
    """An encoded photo of ``person`` (shot ``shot``); with ``faces=2`` the second face is
    person ``person + 1``."""
    return encode(face_pixels(person, shot, faces=faces, blur=blur, size=size), fmt)


def no_face_photo(size: tuple[int, int] = (160, 120), fmt: str = "PNG") -> bytes:
    """A photo of one uniform colour (a clear sky): no face."""
    return encode(np.full((size[1], size[0], 3), (100, 150, 220), dtype=np.uint8), fmt)


def landmarks_for(box: BBox) -> tuple[tuple[float, float], ...]:
    """Five landmarks where the ArcFace template puts them in a crop of ``box``."""
    return tuple(
        (box.x + float(tx) * box.w / 112.0, box.y + float(ty) * box.h / 112.0)
        for tx, ty in TEMPLATE_112
    )


class FakeDetector:
    """Every textured blob that is not white background is a frontal face."""

    min_side = 16

    def detect(self, images: Sequence[Image]) -> list[list[Detection]]:
        return [self._faces(image) for image in images]

    def _faces(self, image: Image) -> list[Detection]:
        mask = (image.min(axis=2) < 230).astype(np.uint8)
        count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        grey = image.mean(axis=2)
        found: list[Detection] = []
        for x, y, w, h, _area in stats[1:count]:
            if min(w, h) < self.min_side or float(grey[y : y + h, x : x + w].std()) < 5.0:
                continue  # a speck, or a uniform colour: no face
            box = BBox(float(x), float(y), float(w), float(h))
            found.append(Detection(bbox=box, landmarks=landmarks_for(box), score=0.95))
        found.sort(key=lambda d: -d.bbox.w * d.bbox.h)
        return found


class FakeEmbedder:
    """Aligned crops -> 128-d unit vectors that depend on the colour layout only."""

    projection = _PROJECTION

    def __init__(self) -> None:
        self.calls = 0  # how many batches it embedded

    def embed(self, crops: Sequence[Image] | npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        self.calls += 1
        stack = [np.asarray(crop, dtype=np.uint8) for crop in crops]  # sizes may differ
        out = np.empty((len(stack), DIM), dtype=np.float32)
        for i, crop in enumerate(stack):
            small = cv2.resize(crop, (GRID, GRID), interpolation=cv2.INTER_AREA)
            flat = small.astype(np.float64).ravel()
            vector = (flat - flat.mean()) @ self.projection
            out[i] = vector / max(float(np.linalg.norm(vector)), 1e-12)
        return out


class FakeSecondEmbedder(FakeEmbedder):
    """The second model's chips -> 128-d unit vectors, by another projection, of the chip cut
    to its face (dlib's chip leaves some background below a fake face, shared by everyone)."""

    projection = _SECOND_PROJECTION

    def embed(self, crops: Sequence[Image] | npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        return super().embed([_cut_to_face(np.asarray(c, dtype=np.uint8)) for c in crops])


def _cut_to_face(chip: Image) -> Image:
    rows, cols = np.nonzero(chip.min(axis=2) < 230)
    if len(rows) == 0:
        return chip
    return chip[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]


def install_fakes(pipeline: FacePipeline) -> None:
    """Give ``pipeline`` the fake detector and embedders and the real SFace and second-model
    specs, where its lazy properties would otherwise load the models (the second only serves
    while ``settings.models.second_embedder`` names it)."""
    registry = ModelRegistry(pipeline.settings)
    pipeline._detector = FakeDetector()  # type: ignore[assignment]
    pipeline._embedder = FakeEmbedder()  # type: ignore[assignment]
    pipeline._embedder_spec = registry.get("sface", "embedder")
    pipeline._second_embedder = FakeSecondEmbedder()  # type: ignore[assignment]
    pipeline._second_spec = registry.get(SECOND_MODEL, "embedder")


class FakePipeline(FacePipeline):
    """The real pipeline on the fake models (see the module docstring)."""

    def __init__(self, settings: Settings, registry: ModelRegistry | None = None) -> None:
        super().__init__(settings, registry)
        install_fakes(self)


# --- a small gallery of synthetic people ----------------------------------------------------

PEOPLE = 6
GALLERY_SHOTS = (1, 2, 3, 4)  # shot 0 and shots from 5 on are never in the gallery


def person_name(person: int) -> str:
    """The subject label of ``person`` (the folder its photos are in)."""
    return f"person_{person}"


def write_photo(folder: Path, person: int, shot: int, **kw: Any) -> Path:
    """``face_photo(person, shot)`` written to ``folder/person_N/shot_M.png``."""
    path = folder / person_name(person) / f"shot_{shot}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(face_photo(person, shot, **kw))
    return path


def gallery_photos(folder: Path) -> list[Path]:
    """The gallery's photos: every person, every shot of GALLERY_SHOTS."""
    return [write_photo(folder, p, s) for p in range(PEOPLE) for s in GALLERY_SHOTS]
