"""The library's front door: ``Engine(home)`` with verify, ingest, search, forget, stats.

The CLI and the server are thin shells over it. The engine owns one pipeline (models load on
first use), the catalog (source of truth) and the vector indexes derived from it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from facesearch.calibration import CalibrationTable, load_table
from facesearch.errors import InputError, NoFaceError
from facesearch.pipeline import Decodable, FacePipeline, read_file
from facesearch.settings import Settings
from facesearch.types import Face, ImageFaces
from facesearch.verify import Verification, compare

log = logging.getLogger(__name__)

ImageInput = str | Path | bytes


@dataclass(frozen=True)
class VerifyResult:
    verification: Verification
    a: ImageFaces
    b: ImageFaces
    face_a: Face
    face_b: Face


class Engine:
    def __init__(
        self,
        settings: Settings | str | Path | None = None,
        *,
        open_catalog: bool = True,
        pipeline: FacePipeline | None = None,
    ) -> None:
        if settings is None:
            settings = Settings.from_env()
        elif not isinstance(settings, Settings):
            settings = Settings.from_env(home=Path(settings))
        self.settings = settings
        self._pipeline = pipeline
        self._calibration: CalibrationTable | None = None
        self._gallery: Any = None
        self._open_catalog = open_catalog

    # -- parts, loaded lazily ------------------------------------------------------------
    @property
    def pipeline(self) -> FacePipeline:
        if self._pipeline is None:
            self._pipeline = FacePipeline(self.settings)
        return self._pipeline

    @property
    def calibration(self) -> CalibrationTable:
        if self._calibration is None:
            self._calibration = load_table(self.pipeline.model_id, self.settings.calibration_file)
        return self._calibration

    def close(self) -> None:
        if self._pipeline is not None:
            self._pipeline.close()
        if self._gallery is not None:
            self._gallery.close()
            self._gallery = None

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- analysis ------------------------------------------------------------------------
    def read_input(self, image: ImageInput, name: str | None = None) -> Decodable:
        if isinstance(image, bytes):
            return Decodable(name or "<bytes>", image)
        return read_file(Path(image), self.settings.max_file_bytes)

    def analyse(
        self, image: ImageInput, *, embed: bool = True, name: str | None = None
    ) -> ImageFaces:
        """Every face of one image (raises on an unreadable image)."""
        item = self.read_input(image, name)
        decoded = self.pipeline._safe_decode(item)
        result = self.pipeline.analyse([decoded], embed=embed)[0]
        if not isinstance(result, ImageFaces):
            raise result
        return result

    def main_face(self, image: ImageInput, name: str | None = None) -> tuple[ImageFaces, Face]:
        faces = self.analyse(image, name=name)
        if faces.main is None:
            raise NoFaceError(faces.source)
        main = next(f for f in faces.faces if f.index == faces.main)
        return faces, main

    # -- 1:1 -----------------------------------------------------------------------------
    def verify(
        self,
        a: ImageInput,
        b: ImageInput,
        *,
        threshold: float | None = None,
        max_fmr: float | None = None,
        case: str | None = None,
        purpose: str | None = None,
    ) -> VerifyResult:
        """Compare the main faces of two images at the calibrated threshold."""
        if threshold is not None and max_fmr is not None:
            raise InputError("give either a threshold or a maximum false match rate, not both")
        img_a, face_a = self.main_face(a)
        img_b, face_b = self.main_face(b)
        verification = compare(
            face_a,
            face_b,
            self.calibration,
            max_fmr=max_fmr or self.settings.verify_max_fmr,
            threshold=threshold,
        )
        return VerifyResult(verification, img_a, img_b, face_a, face_b)
