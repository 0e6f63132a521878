"""decode -> detect -> align -> embed, batched.

``FacePipeline.run`` takes (source, bytes) items and yields one ``ImageFaces`` or one
``FaceSearchError`` per item, in input order. Work is done in chunks (``models.gpu.Schedule``:
at most 64 images and 48 megapixels of decoded pixels on a CPU, the pixels read from the
headers): a chunk's images are decoded in a small thread pool (Pillow releases the GIL), then
detected in same-size batches, aligned and embedded in batches. Several chunks are analysed at
once in threads, and the next one decodes meanwhile, so that one chunk's Python work
(canvases, alignment, box decoding, quality) overlaps another's inference and every core stays
busy (3 chunks at once on a CPU; 4 of 512 images on a GPU runtime, ``models.gpu``: cuda,
tensorrt, where every core decodes).

Big images are decoded at reduced size (``decode.decode_image``'s ``min_side``): their longer
side is kept at ``DECODE_SIDE_FACTOR`` x ``detect_max_side`` or more. The detector sees at
most ``detect_max_side`` pixels anyway, so a face it can find (some 10 pixels there) keeps 40
or more pixels in the reduced image, and every face of 28 detector pixels or more keeps the
full 112 pixels the embedder's crop asks for (checked with the real models in
``tests/integration/test_big_images.py``).
Boxes and landmarks are mapped back to the original's pixel grid.

A second, independent embedder (``settings.models.second_embedder``; "none": no second model)
is fused with the first where two faces are compared (``core.matching``). It is paid for only
when asked (``second=True``): its chip is cut from the same detection's landmarks in the
geometry that model expects (``core.align.align_for``: dlib's chip for dlib's ResNet) and its unit
vector goes to ``Face.second_embedding``. Ingest does not ask for it.

Memory: the threads sharing one pipeline (its decode pool, the server's analysis threads) hold
at most ``max_pixels`` decoded full-size pixels at once (``PixelBudget``); a decode that would
pass it waits for the others to finish theirs (one image is always let through). ``run``
holds at most ``analysts`` + 1 chunks of decoded pixels: on a CPU 4 x 48 megapixels, 576 MB,
however large the photos (a chunk of 64 images was 64 photos of up to 20 megapixels each).
"""

from __future__ import annotations

import logging
import stat
import threading
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from facesearch.core.align import align_face, align_for
from facesearch.core.decode import Decoded, decode_image, decoded_pixels
from facesearch.core.quality import assess, main_face
from facesearch.errors import ConfigError, FaceSearchError, ImageError, ImageTooLargeError
from facesearch.models import FaceDetector, FaceEmbedder, ModelSpec, load_detector, load_embedder
from facesearch.models.gpu import Schedule, schedule
from facesearch.models.registry import ModelRegistry
from facesearch.settings import Settings
from facesearch.types import BBox, Closing, Detection, Embedding, Face, Image, ImageFaces

log = logging.getLogger(__name__)

Result = ImageFaces | FaceSearchError
DECODE_SIDE_FACTOR = 4
NO_SECOND_MODEL = "none"  # settings.models.second_embedder that turns fusion off


@dataclass(frozen=True)
class Decodable:
    source: str
    data: bytes


def read_file(path: Path, max_bytes: int) -> Decodable:
    """Read an image file, or a pipe (``verify <(curl ...) b.jpg``), refusing one over
    ``max_bytes`` (a file before reading it, a pipe once it has sent more) and a device (such
    as /dev/zero, whose size reads 0 and which never ends)."""
    try:
        st = path.stat()
        if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
            raise ImageError("not a regular file (a device)", path)
        if stat.S_ISDIR(st.st_mode):
            raise ImageError("not a regular file (a directory)", path)
        size = st.st_size
        if size <= max_bytes:
            with open(path, "rb") as handle:
                data = handle.read(max_bytes + 1)
            size = len(data)
        if size > max_bytes:
            raise ImageTooLargeError(
                f"file is {size:,} bytes, over the limit of {max_bytes:,}", path
            )
        return Decodable(str(path), data)
    except OSError as exc:
        raise ImageError(f"cannot read file: {exc.strerror or exc}", path) from exc


class PixelBudget:
    """At most ``limit`` pixels held by decodes at once; a larger one runs alone."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._held = 0
        self._ready = threading.Condition()

    @contextmanager
    def admit(self, pixels: int) -> Iterator[None]:
        with self._ready:
            self._ready.wait_for(lambda: self._held == 0 or self._held + pixels <= self.limit)
            self._held += pixels
        try:
            yield
        finally:
            with self._ready:
                self._held -= pixels
                self._ready.notify_all()

    @property
    def held(self) -> int:
        with self._ready:
            return self._held


class FacePipeline(Closing):
    """Loads its models lazily; one instance is meant to be reused for many images."""

    def __init__(self, settings: Settings, registry: ModelRegistry | None = None) -> None:
        self.settings = settings
        self._registry = registry or ModelRegistry(settings)
        self._detector: FaceDetector | None = None
        self._embedder: FaceEmbedder | None = None
        self._embedder_spec: ModelSpec | None = None
        self._second_embedder: FaceEmbedder | None = None
        self._second_spec: ModelSpec | None = None
        self._schedule = schedule(settings.models.runtime)  # "auto" never picks a GPU runtime
        self._min_side = DECODE_SIDE_FACTOR * settings.models.detect_max_side
        self._pool = ThreadPoolExecutor(
            max_workers=self._schedule.decoders, thread_name_prefix="decode"
        )
        self.pixels = PixelBudget(settings.limits.max_pixels)

    @property
    def detector(self) -> FaceDetector:
        if self._detector is None:
            self._detector = load_detector(self.settings, self._registry)
        return self._detector

    @property
    def embedder(self) -> FaceEmbedder:
        if self._embedder is None:
            self._embedder, self._embedder_spec = load_embedder(self.settings, self._registry)
        return self._embedder

    @property
    def embedder_spec(self) -> ModelSpec:
        if self._embedder_spec is None:
            self._embedder_spec = self._registry.get(self.settings.models.embedder, "embedder")
        return self._embedder_spec

    @property
    def model_id(self) -> str:
        return self.embedder_spec.model_id

    @property
    def second_spec(self) -> ModelSpec | None:
        """The second embedder's spec; None when ``settings.models.second_embedder`` is
        "none". A name the registry does not know is a ``ConfigError``."""
        name = self.settings.models.second_embedder
        if name == NO_SECOND_MODEL:
            return None
        if self._second_spec is None:
            try:
                self._second_spec = self._registry.get(name, "embedder")
            except ConfigError as exc:
                raise ConfigError(
                    f"the second model (FACESEARCH_SECOND_EMBEDDER): {exc}; or 'none' to use "
                    "the first model alone"
                ) from exc
        return self._second_spec

    @property
    def second_embedder(self) -> FaceEmbedder | None:
        """The second embedder, loaded on first use; None when there is none configured. A
        configured model that cannot be loaded is a ``ConfigError`` saying how to turn it
        off, never a silent fall back to the first model alone."""
        spec = self.second_spec
        if spec is None:
            return None
        if self._second_embedder is None:
            try:
                self._second_embedder, self._second_spec = load_embedder(
                    self.settings, self._registry, name=spec.name
                )
            except FaceSearchError as exc:
                raise ConfigError(
                    f"the second model {spec.name!r} (FACESEARCH_SECOND_EMBEDDER) cannot be "
                    f"loaded: {exc}. Install it, or set FACESEARCH_SECOND_EMBEDDER=none to "
                    "compare with the first model alone"
                ) from exc
        return self._second_embedder

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def decode(self, item: Decodable) -> Decoded:
        s = self.settings
        return decode_image(
            item.data,
            source=item.source,
            max_bytes=s.limits.max_file_bytes,
            max_pixels=s.limits.max_pixels,
            min_side=self._min_side,
            admit=self.pixels.admit,
        )

    def run(
        self,
        items: Iterable[Decodable],
        *,
        embed: bool = True,
        main_only: bool = False,
        second: bool = False,
        chunk: int | None = None,
        analysts: int | None = None,
    ) -> Iterator[Result]:
        """Analyse every item; yields results in input order (``second``: see ``analyse``).
        ``chunk``: images per chunk at most; ``analysts``: chunks analysed at once (defaults:
        the runtime's ``Schedule``; 1 leaves the CPU to other work, as the server's upload
        jobs do).

        Up to ``analysts`` chunks are analysed at once in threads, each decoded on the decode
        pool first, and one more is decoding: a chunk's Python work overlaps another's
        inference."""
        plan = self._schedule
        if chunk is not None:
            plan = replace(plan, chunk_images=chunk)
        if analysts is not None:
            plan = replace(plan, analysts=max(1, analysts))
        self.load_models(embed=embed, second=embed and second)  # before threads share them

        def analysed(decoding: list[Future[tuple[str, Decoded | FaceSearchError]]]) -> list[Result]:
            decoded = [f.result() for f in decoding]
            return self.analyse(decoded, embed=embed, main_only=main_only, second=second)

        chunks = self._chunks(iter(items), plan)
        pool = ThreadPoolExecutor(max_workers=plan.analysts, thread_name_prefix="analyse")
        ahead: deque[Future[list[Result]]] = deque()
        try:
            while True:
                while len(ahead) <= plan.analysts:
                    batch = next(chunks, None)
                    if batch is None:
                        break
                    ahead.append(pool.submit(analysed, self._submit(batch)))
                if not ahead:
                    return
                yield from ahead.popleft().result()
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    def _chunks(self, items: Iterator[Decodable], plan: Schedule) -> Iterator[list[Decodable]]:
        """``items`` in chunks of at most ``plan.chunk_images`` images and
        ``plan.chunk_pixels`` decoded pixels (read from each header; one image always fits)."""
        chunk: list[Decodable] = []
        held = 0
        for item in items:
            pixels = decoded_pixels(item.data, self._min_side)
            if chunk and held + pixels > plan.chunk_pixels:
                yield chunk
                chunk, held = [], 0
            chunk.append(item)
            held += pixels
            if len(chunk) >= plan.chunk_images:
                yield chunk
                chunk, held = [], 0
        if chunk:
            yield chunk

    def analyse_one(
        self, item: Decodable, *, embed: bool = True, second: bool = False
    ) -> ImageFaces:
        """Every face of one image; raises the image's error. Safe to call from several
        threads at once once the models are loaded (sessions create a request per call)."""
        result = self.analyse([self._safe_decode(item)], embed=embed, second=second)[0]
        if not isinstance(result, ImageFaces):
            raise result
        return result

    def analyse_pixels(
        self, pixels: Image, source: str, *, embed: bool = True, second: bool = False
    ) -> ImageFaces:
        """Every face of an image already in memory (checked by ``decode.check_pixels``):
        ``analyse_one`` without the decode."""
        decoded = [(source, Decoded(pixels=pixels, format="array"))]
        result = self.analyse(decoded, embed=embed, second=second)[0]
        if not isinstance(result, ImageFaces):
            raise result
        return result

    def second_embeddings_at(
        self, faces: Sequence[tuple[Decodable, Sequence[tuple[float, float]]]]
    ) -> list[Embedding | FaceSearchError]:
        """The second model's embedding of faces found before (a gallery face's stored
        landmarks, in its image's pixels), without detecting again: per item, the image and
        the face's five landmarks; an image that cannot be read or decoded gives its error.
        ConfigError when no second model is configured."""
        spec, embedder = self.second_spec, self.second_embedder
        if spec is None or embedder is None:
            raise ConfigError("no second model is configured (FACESEARCH_SECOND_EMBEDDER)")
        errors: dict[int, FaceSearchError] = {}
        chips: list[Image] = []
        slots: list[int] = []
        decoded = [f.result() for f in self._submit([item for item, _ in faces])]
        for k, ((_, dec), (_, landmarks)) in enumerate(zip(decoded, faces, strict=True)):
            if isinstance(dec, FaceSearchError):
                errors[k] = dec
                continue
            on_pixels = np.asarray(landmarks, dtype=np.float64) / dec.reduction
            chips.append(align_for(spec, dec.pixels, on_pixels))
            slots.append(k)
        vectors = dict(zip(slots, embedder.embed(np.stack(chips)), strict=True)) if chips else {}
        return [vectors[k] if k in vectors else errors[k] for k in range(len(faces))]

    def load_models(self, *, embed: bool = True, second: bool = False) -> None:
        """Load the detector and (with ``embed``) the embedder now, before sharing the
        pipeline between threads; with ``second``, the second embedder too where one is
        configured."""
        _ = self.detector
        if embed:
            _ = self.embedder
        if second:
            _ = self.second_embedder

    def _submit(
        self, batch: Sequence[Decodable]
    ) -> list[Future[tuple[str, Decoded | FaceSearchError]]]:
        return [self._pool.submit(self._safe_decode, item) for item in batch]

    def _safe_decode(self, item: Decodable) -> tuple[str, Decoded | FaceSearchError]:
        try:
            return item.source, self.decode(item)
        except FaceSearchError as exc:
            return item.source, exc

    def analyse(
        self,
        decoded: Sequence[tuple[str, Decoded | FaceSearchError]],
        *,
        embed: bool = True,
        main_only: bool = False,
        second: bool = False,
    ) -> list[Result]:
        """Detect, align, assess and (optionally) embed already decoded images; with
        ``embed`` and ``second``, also fill each face's ``second_embedding`` where a second
        model is configured."""
        second_spec = self.second_spec if (embed and second) else None
        ok = [(i, d) for i, (_, d) in enumerate(decoded) if isinstance(d, Decoded)]
        detections = self.detector.detect([d.pixels for _, d in ok]) if ok else []
        crops: list[Image] = []
        chips: list[Image] = []  # the second model's, one per crop where it is asked for
        owners: list[tuple[int, int]] = []  # (image number, face slot) of each crop
        per_image: dict[int, tuple[Decoded, list[Face], int | None]] = {}
        for (i, dec), on_pixels in zip(ok, detections, strict=True):
            # detected on the (maybe reduced) pixels; boxes in the original's pixels
            found = [_scaled(d, dec.reduction) for d in on_pixels]
            main = main_face([f.bbox for f in found], dec.width, dec.height)
            chosen = [main] if (main_only and main is not None) else range(len(found))
            faces = []
            for k in chosen:
                landmarks = on_pixels[k].landmarks_array()
                aligned = align_face(dec.pixels, landmarks)
                faces.append(Face(index=k, detection=found[k], quality=assess(found[k], aligned)))
                crops.append(aligned)
                if second_spec is not None:
                    chips.append(align_for(second_spec, dec.pixels, landmarks))
                owners.append((i, len(faces) - 1))
            per_image[i] = (dec, faces, main)
        if embed and crops:
            vectors = self.embedder.embed(np.stack(crops))
            for (i, slot), vector in zip(owners, vectors, strict=True):
                faces = per_image[i][1]
                faces[slot] = replace(faces[slot], embedding=vector)
        if chips and self.second_embedder is not None:
            vectors = self.second_embedder.embed(np.stack(chips))
            for (i, slot), vector in zip(owners, vectors, strict=True):
                faces = per_image[i][1]
                faces[slot] = replace(faces[slot], second_embedding=vector)
        out: list[Result] = []
        for i, (source, item) in enumerate(decoded):
            if isinstance(item, FaceSearchError):
                out.append(item)
                continue
            dec, faces, main = per_image[i]
            out.append(ImageFaces(source, dec.width, dec.height, tuple(faces), main))
        return out


def _scaled(detection: Detection, factor: int) -> Detection:
    """A detection on an image reduced by ``factor``, in the original image's pixels."""
    if factor == 1:
        return detection
    b = detection.bbox
    return Detection(
        bbox=BBox(b.x * factor, b.y * factor, b.w * factor, b.h * factor),
        landmarks=tuple((x * factor, y * factor) for x, y in detection.landmarks),
        score=detection.score,
    )
