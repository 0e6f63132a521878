"""What the Engine returns: 1:N search results, 1:1 verifications and erasures.

A candidate is a lead for a person to check, never an identification. Each hit carries its
similarity, the estimated false match rate of that similarity (the share of different people
who score at least that high, from the calibration table), and the number of false
candidates to expect at or above that score in a gallery of this size (FMR x gallery size):
with 1,000,000 faces, a hit at FMR 1e-4 is one of about 100 strangers expected to score as
high. The FMR is the calibration's conservative estimate (``CalibrationTable.basis``). A probe
face poorer than a good one (smaller, blurrier, more turned) carries a note of how many more
true matches are missed on such probes (``ProbeFace.reliability``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from facesearch.core.calibration import CalibrationTable, describe_fmr
from facesearch.core.matching import Verification
from facesearch.core.quality import QualityTable, reliability
from facesearch.gallery.catalog import CatalogErasure, FaceRecord
from facesearch.gallery.vectors import VectorErasure
from facesearch.types import BBox, Embedding, Face, ImageFaces, Quality

LEAD_NOTE = (
    "A candidate is a lead for a person to check, not an identification. Similar-looking "
    "people exist; confirm with independent evidence."
)

SAME_FILE_NOTE = (
    "same file as the probe: this gallery image is the probe photo itself (same sha256), "
    "not another photo of the person"
)


@dataclass(frozen=True)
class Hit:
    rank: int
    similarity: float
    fmr: float
    expected_false: float  # impostors expected at or above this similarity in this gallery
    fmr_words: str
    face_id: int
    image_id: int
    image_path: str
    bbox: BBox
    subject: str | None
    collection: str
    same_file: bool = False  # the candidate's image is the probe's own file (same sha256)
    image_sha256: str = ""  # the candidate's image as ingested (to check its bytes on reading)

    def as_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "similarity": round(self.similarity, 5),
            "fmr": self.fmr,
            "expected_false": round(self.expected_false, 4),
            "fmr_words": self.fmr_words,
            "face_id": self.face_id,
            "image_id": self.image_id,
            "image_path": self.image_path,
            "bbox": self.bbox.as_list(),
            "subject": self.subject,
            "collection": self.collection,
            "same_file": self.same_file,
        }


@dataclass(frozen=True)
class ProbeFace:
    face: int
    bbox: BBox
    quality: Quality
    warnings: tuple[str, ...]
    refused: bool
    hits: tuple[Hit, ...]
    # how much less reliable results on this face are than on a good probe, in words; None
    # when about as reliable (``core.quality.reliability``, set by ``with_reliability``)
    reliability: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "face": self.face,
            "bbox": self.bbox.as_list(),
            "quality": self.quality.as_dict(),
            "warnings": list(self.warnings),
            "reliability": self.reliability,
            "refused": self.refused,
            "hits": [h.as_dict() for h in self.hits],
        }


@dataclass(frozen=True)
class SearchResult:
    probe: str
    probe_sha256: str
    gallery_faces: int
    collections: tuple[str, ...]
    threshold: float | None
    top: int
    faces: tuple[ProbeFace, ...]
    started: str
    finished: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "probe": self.probe,
            "probe_sha256": self.probe_sha256,
            "gallery_faces": self.gallery_faces,
            "collections": list(self.collections),
            "threshold": self.threshold,
            "top": self.top,
            "faces": [f.as_dict() for f in self.faces],
            "note": LEAD_NOTE,
        }


def with_reliability(result: SearchResult, table: QualityTable | None) -> SearchResult:
    """``result`` with each searched probe face's reliability note (``core.quality``)."""
    faces = tuple(
        pf if pf.refused else replace(pf, reliability=reliability(pf.quality, table))
        for pf in result.faces
    )
    return replace(result, faces=faces)


def make_hits(
    sims: list[float],
    records: list[FaceRecord],
    table: CalibrationTable,
    gallery_faces: int,
    probe_sha256: str | None = None,
) -> tuple[Hit, ...]:
    """Hits of ranked faces; a face whose image has ``probe_sha256`` is the probe's own file."""
    hits = []
    for rank, (sim, rec) in enumerate(zip(sims, records, strict=True), start=1):
        fmr = table.fmr_at(sim)
        hits.append(
            Hit(
                rank=rank,
                similarity=sim,
                fmr=fmr,
                expected_false=fmr * gallery_faces,
                fmr_words=describe_fmr(fmr, table.words_floor),
                face_id=rec.id,
                image_id=rec.image_id,
                image_path=rec.source,
                bbox=rec.bbox,
                subject=rec.subject,
                collection=rec.collection,
                same_file=probe_sha256 is not None and rec.image_sha256 == probe_sha256,
                image_sha256=rec.image_sha256,
            )
        )
    return tuple(hits)


@dataclass(frozen=True)
class VerifyResult:
    """A 1:1 comparison of the main faces of two images."""

    verification: Verification
    a: ImageFaces
    b: ImageFaces
    face_a: Face
    face_b: Face


@dataclass(frozen=True)
class PersonLike:
    """The main face of a photo and the similarity at or above which a face is that person,
    at the erasure blocklist's false match rate unless another is asked for."""

    embedding: Embedding
    threshold: float


@dataclass(frozen=True)
class ForgetResult:
    """What an erasure removed from the catalog and the vector store."""

    faces: tuple[FaceRecord, ...]
    blocklisted: bool
    index_vectors_removed: int
    milvus: VectorErasure | None = None  # what Milvus did; None: FAISS files, or none held
    catalog: CatalogErasure | None = None  # what the catalog's database did; None: nothing
    blocklist_entry: int | None = None  # the blocklist entry it made (a like erasure's)
    persons_unnamed: tuple[int, ...] = ()  # persons an erasure of someone took the names of

    def as_dict(self) -> dict[str, Any]:
        return {
            "faces_removed": len(self.faces),
            "face_ids": [f.id for f in self.faces],
            "images": sorted({f.source for f in self.faces}),
            "subjects": sorted({f.subject for f in self.faces if f.subject}),
            "index_vectors_removed": self.index_vectors_removed,
            "blocklisted": self.blocklisted,
            "persons_unnamed": list(self.persons_unnamed),
        }
