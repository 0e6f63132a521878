"""The library's front door: ``Engine(home)`` with verify, ingest, search, forget, stats.

The CLI and the server are thin shells over it. The engine owns one pipeline (models load on
first use), the catalog (source of truth) and the vector indexes derived from it.
Wherever it takes an image, it takes a file's path, its bytes, or its pixels as a numpy
array (H x W x 3 RGB uint8); an array is analysed as it is, without being encoded.

Where a second model is configured (``settings.models.second_embedder``), every 1:1
comparison fuses both models' scores (``scoring``), and a search re-ranks its best
``settings.matching.rerank_top`` candidates by the fused score (``rerank``).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Unpack

import numpy as np
import numpy.typing as npt

from facesearch.core.calibration import CalibrationTable, load_fused_table, load_table
from facesearch.core.decode import check_pixels, encode_png
from facesearch.core.fusion import Fusion, load_fusion
from facesearch.core.matching import Scoring, Verification, check_decision, check_top
from facesearch.core.quality import probe_problems
from facesearch.errors import InputError, NoFaceError, PoorProbeError
from facesearch.forgetting import erase_faces
from facesearch.gallery.blocklist import BlocklistMatch, blocklist_match
from facesearch.gallery.catalog import Catalog
from facesearch.gallery.collections import IndexSet
from facesearch.gallery.ingest import IngestOptions, Ingestor, IngestSummary
from facesearch.gallery.ray_scan import RayScan, faces_at_least_on_ray
from facesearch.gallery.vectors import MilvusIndexChoice
from facesearch.pipeline import Decodable, FacePipeline, read_file
from facesearch.rerank import Ranked, rerank
from facesearch.results import (
    ForgetResult,
    PersonLike,
    ProbeFace,
    SearchResult,
    VerifyResult,
)
from facesearch.settings import Settings
from facesearch.settings.checks import env_name
from facesearch.types import Closing, Face, Image, ImageFaces

log = logging.getLogger(__name__)

# An image: a file's path, its bytes, or its pixels (numpy, H x W x 3 RGB uint8).
ImageInput = str | Path | bytes | npt.NDArray[np.uint8]
ARRAY_NAME = "the image array"  # what errors and results call an array given without a name


LIKE_RIVAL = 0.5  # person_like: a second face this wide (x the main face's) makes it ambiguous


class Engine(Closing):
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
        self._scoring: Scoring | None = None
        self._catalog: Catalog | None = None
        self._indexes: IndexSet | None = None
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
            self._calibration = load_table(
                self.pipeline.model_id, self.settings.models.calibration_file
            )
        return self._calibration

    @property
    def scoring(self) -> Scoring:
        """The first model's table, and the fusion and its table where a second model is
        configured (loaded on first use; a configured second model without them is an error).
        With ``calibration_file`` both tables come from that file, the fused one too."""
        if self._scoring is None:
            second = self.pipeline.second_spec
            primary = self.pipeline.model_id
            fusion = None if second is None else load_fusion(primary, second.model_id)
            own = self.settings.models.calibration_file
            fused = None if fusion is None else load_fused_table(fusion.model_id, own)
            self._scoring = Scoring(self.calibration, fusion, fused)
        return self._scoring

    @property
    def fusion(self) -> Fusion | None:
        """How the two models' scores are fused; None when no second model is configured."""
        return self.scoring.fusion

    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            if not self._open_catalog:
                raise InputError("this engine was opened without a gallery")
            self._catalog = Catalog.open_home(self.settings.home, self.settings.database_url)
        return self._catalog

    @property
    def indexes(self) -> IndexSet:
        if self._indexes is None:
            spec = self.pipeline.embedder_spec
            self._indexes = IndexSet(
                self.settings.home,
                self.catalog,
                spec.model_id,
                int(spec.embedding_dim or 0),
                threads=self.settings.models.threads,
                kind=self.settings.index.kind,
                approx_threshold=self.settings.index.approx_threshold,
                vectors_url=self.settings.index.vectors_url,
                milvus_index=MilvusIndexChoice.from_settings(self.settings.index),
            )
        return self._indexes

    def close(self) -> None:
        if self._pipeline is not None:
            self._pipeline.close()
        if self._catalog is not None:
            self._catalog.close()
            self._catalog = None
            self._indexes = None

    # -- analysis ------------------------------------------------------------------------
    def read_input(self, image: ImageInput, name: str | None = None) -> Decodable:
        """The encoded bytes of an image (of an array: its lossless PNG encoding)."""
        if isinstance(image, bytes):
            return Decodable(name or "the photo", image)
        if isinstance(image, np.ndarray):
            return Decodable(name or ARRAY_NAME, encode_png(self._pixels(image, name)))
        if not isinstance(image, str | Path):
            raise InputError(
                "an image is a path, bytes or an RGB uint8 array (H x W x 3), "
                f"not {type(image).__name__}"
            )
        return read_file(Path(image), self.settings.limits.max_file_bytes)

    def _pixels(self, image: npt.NDArray[np.uint8], name: str | None) -> Image:
        return check_pixels(image, self.settings.limits.max_pixels, name or ARRAY_NAME)

    def analyse(
        self,
        image: ImageInput,
        *,
        embed: bool = True,
        name: str | None = None,
        second: bool = False,
    ) -> ImageFaces:
        """Every face of one image (raises on an unreadable image). An array goes to the
        pipeline as it is, without being encoded. ``second``: the second model's embeddings
        too, where one is configured."""
        if isinstance(image, np.ndarray):
            pixels = self._pixels(image, name)
            return self.pipeline.analyse_pixels(
                pixels, name or ARRAY_NAME, embed=embed, second=second
            )
        return self.pipeline.analyse_one(self.read_input(image, name), embed=embed, second=second)

    def main_face(
        self, image: ImageInput, name: str | None = None, *, second: bool = False
    ) -> tuple[ImageFaces, Face]:
        faces = self.analyse(image, name=name, second=second)
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
        names: tuple[str | None, str | None] = (None, None),
    ) -> VerifyResult:
        """Compare the main faces of two images at the calibrated threshold; ``names`` are
        what errors call images given as bytes."""
        fused = self.fusion is not None
        img_a, face_a = self.main_face(a, names[0], second=fused)
        img_b, face_b = self.main_face(b, names[1], second=fused)
        verification = self.compare(face_a, face_b, threshold=threshold, max_fmr=max_fmr)
        return VerifyResult(verification, img_a, img_b, face_a, face_b)

    def compare(
        self,
        face_a: Face,
        face_b: Face,
        *,
        threshold: float | None = None,
        max_fmr: float | None = None,
    ) -> Verification:
        """The 1:1 decision on two faces analysed by this engine's pipeline (``second=True``
        where ``fusion`` is not None): ``scoring.compare`` at ``threshold`` or at the one of
        ``max_fmr`` (default ``settings.matching.verify_max_fmr``)."""
        check_decision(threshold, max_fmr)
        if max_fmr is not None:  # asked for: below the table's floor, the caller's input
            return self.scoring.compare(face_a, face_b, max_fmr=max_fmr, threshold=threshold)
        max_fmr = self.settings.matching.verify_max_fmr  # the deployment's: its configuration
        setting = env_name("verify_max_fmr")
        return self.scoring.compare(
            face_a, face_b, max_fmr=max_fmr, threshold=threshold, setting=setting
        )

    # -- gallery -------------------------------------------------------------------------
    def ingest(
        self, paths: Sequence[str | Path] | str | Path, **options: Unpack[IngestOptions]
    ) -> IngestSummary:
        """Add every face of the images under ``paths`` (or the one path given) to a
        collection (``options``: collection, label_from_dir, progress; see
        ``IngestOptions``)."""
        if isinstance(paths, str | Path):
            paths = [paths]
        if not isinstance(paths, Sequence) or not paths:
            raise InputError("nothing to ingest: give at least one path")
        for path in paths:
            if not isinstance(path, str | Path):
                raise InputError(
                    f"a path to ingest is a str or a Path: not {type(path).__name__} {path!r}"
                )
        ingestor = Ingestor(
            self.catalog,
            self.indexes,
            self.pipeline,
            blocklist_threshold=lambda entries: self.blocklist_match(entries).threshold,
        )
        return ingestor.run(paths, **options)

    def blocklist_match(self, entries: int) -> BlocklistMatch:
        """How an ingest that ``entries`` erasure-blocklist entries apply to matches new faces
        against them: each at min(blocklist_max_fmr, blocklist_max_skip / entries)."""
        m = self.settings.matching
        return blocklist_match(entries, m.blocklist_max_fmr, m.blocklist_max_skip, self.calibration)

    def search(
        self,
        image: ImageInput,
        *,
        collections: Sequence[str] | str | None = None,
        top: int | None = None,
        max_fmr: float | None = None,
        threshold: float | None = None,
        face: int | None = None,
        allow_poor: bool = False,
        name: str | None = None,
        analysed: ImageFaces | None = None,
    ) -> SearchResult:
        """Search every face of the probe (or face number ``face``) in the gallery, in
        ``collections`` (one name, or several; default: all).

        ``analysed``: the probe's faces, already detected and embedded by this engine's
        pipeline (the server does that in parallel, off the engine's thread)."""
        started = _now()
        check_decision(threshold, max_fmr)
        check_top(top)
        top = self.settings.matching.top if top is None else int(top)
        if isinstance(collections, str):  # one collection, not its letters
            collections = (collections,)
        known = {c.name for c in self.catalog.collections()}
        names = tuple(collections) if collections else tuple(sorted(known))
        missing = [c for c in names if c not in known]
        if missing:
            from facesearch.errors import NotFoundError

            raise NotFoundError(f"no collection named {missing[0]!r}")
        reranks = self.settings.matching.rerank_top > 0 and self.fusion is not None
        if isinstance(image, np.ndarray):  # analysed without encoding; the hash is of its pixels
            pixels = self._pixels(image, name)
            probe, probe_sha256 = name or ARRAY_NAME, hashlib.sha256(pixels.data).hexdigest()
            faces = analysed or self.pipeline.analyse_pixels(pixels, probe, second=reranks)
            item = Decodable(probe, encode_png(pixels) if reranks else b"")  # bytes: see rerank
        else:
            item = self.read_input(image, name)
            probe, probe_sha256 = item.source, hashlib.sha256(item.data).hexdigest()
            faces = analysed or self.pipeline.analyse_one(item, second=reranks)
        if not faces.faces:
            raise NoFaceError(faces.source)
        chosen = list(faces.faces)
        if face is not None:
            chosen = [f for f in faces.faces if f.index == face]
            if not chosen:
                raise InputError(f"the probe has {len(faces.faces)} face(s); no face number {face}")
        limit = threshold
        if max_fmr is not None:
            limit = self.calibration.threshold_for_asked_fmr(max_fmr)
        gallery = self.indexes.size(names)
        results = []
        refused_reasons = []
        for f in chosen:
            problems = probe_problems(f.quality, self.settings)
            if problems and not allow_poor:
                refused_reasons.extend(problems)
                results.append(ProbeFace(f.index, f.bbox, f.quality, tuple(problems), True, ()))
                continue
            assert f.embedding is not None
            sims, ids = self.indexes.search(f.embedding[None, :], top, names)
            keep = [
                (float(sv), int(iv))
                for sv, iv in zip(sims[0], ids[0], strict=True)
                if iv >= 0 and (limit is None or sv >= limit)
            ]
            records = self.catalog.faces([i for _, i in keep])
            # A face erased by another process since the index was loaded is not shown.
            score = {i: sv for sv, i in keep}
            ranked = Ranked([score[r.id] for r in records], records, gallery, probe_sha256)
            if reranks:
                top_k = self.settings.matching.rerank_top
                hits = rerank(self.pipeline, self.scoring, f, item, ranked, top_k)
            else:
                hits = tuple(ranked.hits(self.calibration))
            results.append(ProbeFace(f.index, f.bbox, f.quality, tuple(problems), False, hits))
        if all(r.refused for r in results):
            raise PoorProbeError(
                "probe refused: "
                + "; ".join(dict.fromkeys(refused_reasons))
                + " (search anyway with allow_poor / --allow-poor)"
            )
        return SearchResult(
            probe=probe,
            probe_sha256=probe_sha256,
            gallery_faces=gallery,
            collections=names,
            threshold=limit,
            top=top,
            faces=tuple(results),
            started=started,
            finished=_now(),
        )

    def person_like(
        self, image: ImageInput, max_fmr: float | None = None, name: str | None = None
    ) -> PersonLike:
        """What ``forget --like`` looks for: the photo's main face and the threshold.
        InputError when another face is nearly as big (at least ``LIKE_RIVAL`` of the main
        face's width): which person to erase and blocklist would be a guess."""
        check_decision(None, max_fmr)
        faces, face = self.main_face(image, name)
        rivals = [f for f in faces.faces if f is not face and f.bbox.w >= LIKE_RIVAL * face.bbox.w]
        if rivals:
            raise InputError(
                f"{faces.source}: the photo shows {len(rivals) + 1} faces of similar size; "
                "crop it to the one person to erase"
            )
        assert face.embedding is not None
        if max_fmr is None:
            fmr = self.settings.matching.blocklist_max_fmr
            limit = self.calibration.threshold_for_fmr(fmr, setting=env_name("blocklist_max_fmr"))
            return PersonLike(face.embedding, limit)
        return PersonLike(face.embedding, self.calibration.threshold_for_asked_fmr(max_fmr))

    def faces_like(
        self,
        person: PersonLike,
        collections: Sequence[str] | None = None,
        ray: RayScan | None = None,
    ) -> list[int]:
        """The ids of the gallery faces ``forget(like=person)`` erases, most similar first:
        every face of ``collections`` (None: all of them) at or above the person's threshold.

        Exact and complete: a scan of the catalog's embeddings (the source of truth), not a
        top-k search of the vector index, which is approximate past index_approx_threshold
        faces (FAISS IVF-PQ, Milvus IVF_SQ8) and would miss faces in the lists it does not
        visit. An erasure must not leave a face of the person behind because an index chose
        not to look. It costs one pass over the embeddings (``benchmarks/erase_like.py``);
        with ``ray``, the same pass split into face-id ranges on a Ray cluster, which returns
        the same list (``gallery.ray_scan``); without ``ray``, on the cluster the setting
        ``ray_address`` names, if it names one."""
        model_id, query, threshold = self.pipeline.model_id, person.embedding, person.threshold
        if ray is None and self.settings.ray_address:  # FACESEARCH_RAY_ADDRESS
            ray = RayScan(self.settings.ray_address)
        if ray is not None:
            return faces_at_least_on_ray(
                ray, self.settings, self.catalog, collections, model_id, query, threshold
            )
        return self.catalog.faces_at_least(collections, model_id, query, threshold)

    def forget(
        self,
        *,
        face_ids: Sequence[int] | None = None,
        image_id: int | None = None,
        subject: str | None = None,
        like: ImageInput | PersonLike | None = None,
        max_fmr: float | None = None,
        ray: RayScan | None = None,
        audited: bool = False,
        unname_persons: bool = False,
    ) -> ForgetResult:
        """Erase faces from the catalog and the vector store; ``like`` (a photo, or the
        ``person_like`` of one) also blocklists, its faces found on Ray with ``ray``.
        ``audited``: the caller records the blocklist entry once its audit entry is written
        (``forgetting.erase_faces``). ``unname_persons``: face ids that are someone's (found
        like a photo): the persons they belong to lose their names, as with ``like``."""
        return erase_faces(
            self, face_ids, image_id, subject, like, max_fmr, ray, audited, unname_persons
        )

    def stats(self) -> dict[str, Any]:
        out = dict(self.catalog.stats())
        out["indexed_faces"] = self.indexes.size()
        out["model_id"] = self.pipeline.model_id
        out["home"] = str(self.settings.home)
        out["database"] = self.catalog.database  # its file, or the URL without its password
        return out

    def export_subject(self, name: str) -> dict[str, Any]:
        return self.catalog.export_subject(name)

    def reindex(self) -> int:
        """Rebuild every vector index from the catalog; returns the number of faces."""
        return self.indexes.rebuild()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")
