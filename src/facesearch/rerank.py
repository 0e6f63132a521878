"""Re-ranking a search's best candidates by the fused score of both models.

The gallery holds the first model's embeddings only (ingest does not pay for the second). When
``settings.matching.rerank_top`` is K > 0 and a second model is configured, ``Engine.search``
re-scores its best K candidates: each candidate's second embedding is computed from its source
image at its stored landmarks (``FacePipeline.second_embeddings_at``: no detection), both
models' scores are fused (``Fusion.fuse``) and those K are ordered by the fused score, priced by
the fused table. A candidate whose source image can no longer be read keeps its first-model
score and place after the re-scored ones. ``benchmarks/fusion.py`` measures the cost per
search and what it changes.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from facesearch.core.calibration import CalibrationTable
from facesearch.core.matching import Scoring
from facesearch.errors import FaceSearchError
from facesearch.gallery.catalog import FaceRecord
from facesearch.pipeline import Decodable, FacePipeline, read_file
from facesearch.results import Hit, make_hits
from facesearch.types import Face

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Ranked:
    """One probe face's candidates, best first, with their first-model similarities."""

    sims: Sequence[float]
    records: Sequence[FaceRecord]
    gallery_faces: int
    probe_sha256: str

    def hits(self, table: CalibrationTable, start: int = 0, stop: int | None = None) -> list[Hit]:
        """Hits of candidates ``start:stop`` priced by ``table`` (ranks from ``start + 1``)."""
        sims, records = list(self.sims[start:stop]), list(self.records[start:stop])
        made = make_hits(sims, records, table, self.gallery_faces, self.probe_sha256)
        return [replace(h, rank=start + h.rank) for h in made]


def rerank(
    pipeline: FacePipeline,
    scoring: Scoring,
    face: Face,
    probe: Decodable,
    ranked: Ranked,
    top: int,
) -> tuple[Hit, ...]:
    """``ranked``'s hits, its best ``top`` re-scored by the fused score against the probe
    ``face`` (its second embedding computed from ``probe`` where it has none); with ``top``
    0 or no second model, as ranked, priced by the first model's table."""
    fusion, fused_table = scoring.fusion, scoring.fused_table
    if top <= 0 or fusion is None or fused_table is None:
        return tuple(ranked.hits(scoring.table))
    second = face.second_embedding
    if second is None:  # analysed elsewhere (the server) without the second model
        (found,) = pipeline.second_embeddings_at([(probe, face.detection.landmarks)])
        if isinstance(found, FaceSearchError):
            raise found
        second = found
    head = list(ranked.records[:top])
    vectors = pipeline.second_embeddings_at([(_source(pipeline, r), r.landmarks) for r in head])
    fused: list[tuple[float, FaceRecord]] = []
    kept: list[tuple[float, FaceRecord]] = []
    for sim, rec, vector in zip(ranked.sims[:top], head, vectors, strict=True):
        if isinstance(vector, FaceSearchError):
            log.warning("candidate face %d not re-ranked: %s", rec.id, vector)
            kept.append((sim, rec))
        else:
            fused.append((fusion.fuse(sim, float(np.dot(second, vector))), rec))
    fused.sort(key=lambda pair: -pair[0])  # stable: ties keep the first model's order
    ordered = [*fused, *kept, *zip(ranked.sims[top:], ranked.records[top:], strict=True)]
    new = replace(ranked, sims=[s for s, _ in ordered], records=[r for _, r in ordered])
    return (*new.hits(fused_table, 0, len(fused)), *new.hits(scoring.table, len(fused)))


def _source(pipeline: FacePipeline, record: FaceRecord) -> Decodable:
    """A candidate's source image (empty where it cannot be read: it then decodes to an
    error, and the candidate is not re-scored)."""
    try:
        return read_file(Path(record.source), pipeline.settings.limits.max_file_bytes)
    except FaceSearchError as exc:
        log.warning("candidate face %d: %s", record.id, exc)
        return Decodable(record.source, b"")
