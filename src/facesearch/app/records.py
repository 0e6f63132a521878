"""The one record of a search: what the CLI's ``--json``, the API and the pages all show.

A ``SearchRecord`` is made from the engine's result when the search runs, written to the audit
trail as its payload (``payload``), and read back from the trail later (``from_entry``) with
the gallery as it is then: a candidate erased since is shown as erased. The false match rate
of each candidate is the one shown at search time (stored in the entry), not one recomputed
with a newer calibration table. ``as_json`` is its public form; the CLI prints it, the server
adds links and review status to it.

A candidate is a lead for a person to check, never an identification.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from facesearch.core.calibration import CalibrationTable, describe_fmr
from facesearch.gallery.catalog import FaceRecord
from facesearch.results import LEAD_NOTE, SearchResult
from facesearch.types import BBox, Quality

__all__ = ["OUTCOME_OK", "GalleryFace", "HitRecord", "ProbeFaceRecord", "SearchRecord"]

OUTCOME_OK = "ok"  # a search's outcome when it ran; else the error's code (no_face ...)
SCORE_DIGITS = 6  # similarities are logged, and so shown, to this many decimals


def _bbox(value: Any) -> BBox | None:
    try:
        return BBox(*[float(v) for v in value])
    except (TypeError, ValueError):
        return None


def _quality(value: Any) -> Quality | None:
    if not isinstance(value, Mapping):
        return None
    try:
        return Quality(**{k: float(value[k]) for k in Quality.__dataclass_fields__})
    except (KeyError, TypeError, ValueError):
        return None


def _candidates_by_face(payload: Mapping[str, Any]) -> dict[Any, list[Mapping[str, Any]]]:
    """The logged candidates of each probe face, in rank order. Each names its probe face
    (``face``); entries written before it did list them probe face after probe face, in the
    order of ``probe_faces``, and are read that way."""
    logged = [c for c in payload.get("candidates", []) if isinstance(c, Mapping)]
    if all("face" in c for c in logged):
        out: dict[Any, list[Mapping[str, Any]]] = {}
        for c in logged:
            out.setdefault(c["face"], []).append(c)
        for hits in out.values():
            hits.sort(key=lambda c: int(c.get("rank", 0)))
        return out
    out, start = {}, 0
    for pf in payload.get("probe_faces", []):
        count = len(pf.get("candidates", []))
        out[pf.get("face")] = logged[start : start + count]
        start += count
    return out


@dataclass(frozen=True)
class GalleryFace:
    """Where a candidate face is in the gallery."""

    image_id: int
    image_path: str
    bbox: BBox
    subject: str | None
    collection: str
    image_sha256: str = ""  # the image as ingested ("": not known)

    @classmethod
    def of(cls, record: FaceRecord) -> GalleryFace:
        return cls(
            record.image_id,
            record.source,
            record.bbox,
            record.subject,
            record.collection,
            record.image_sha256,
        )


def _gallery_face(face: FaceRecord | GalleryFace) -> GalleryFace:
    return face if isinstance(face, GalleryFace) else GalleryFace.of(face)


@dataclass(frozen=True)
class HitRecord:
    """One candidate: its score as found, and its gallery face (None: erased since)."""

    rank: int
    face_id: int
    similarity: float
    fmr: float
    fmr_words: str
    expected_false: float  # strangers expected at or above this similarity in this gallery
    same_file: bool  # the candidate's image is the probe's own file (same sha256)
    face: GalleryFace | None

    def as_json(self, show_path: Callable[[str], str] = str) -> dict[str, Any]:
        f = self.face
        return {
            "rank": self.rank,
            "face_id": self.face_id,
            "similarity": round(self.similarity, 5),
            "fmr": self.fmr,
            "fmr_words": self.fmr_words,
            "expected_false": float(f"{self.expected_false:.4g}"),
            "same_file": self.same_file,
            "erased": f is None,
            "image_id": f.image_id if f else None,
            "image_path": show_path(f.image_path) if f else None,
            "bbox": f.bbox.as_list() if f else None,
            "subject": f.subject if f else None,
            "collection": f.collection if f else None,
        }


@dataclass(frozen=True)
class ProbeFaceRecord:
    face: int
    bbox: BBox | None
    quality: Quality | None  # None in entries written before it was logged
    warnings: tuple[str, ...]
    refused: bool
    hits: tuple[HitRecord, ...]
    # how much less reliable results on this probe face are (core.quality.reliability)
    reliability: str | None = None

    def as_json(self, show_path: Callable[[str], str] = str) -> dict[str, Any]:
        return {
            "face": self.face,
            "bbox": self.bbox.as_list() if self.bbox else None,
            "quality": self.quality.as_dict() if self.quality else None,
            "warnings": list(self.warnings),
            "reliability": self.reliability,
            "refused": self.refused,
            "hits": [h.as_json(show_path) for h in self.hits],
        }


@dataclass(frozen=True)
class SearchRecord:
    """A 1:N search as run and logged. ``id`` is its audit entry; it, the actor, case and
    purpose are None before it is logged."""

    id: int | None = field(default=None, kw_only=True)
    actor: str | None = field(default=None, kw_only=True)
    case: str | None = field(default=None, kw_only=True)
    purpose: str | None = field(default=None, kw_only=True)
    # "ok", or the code of the error that stopped it (no_face, poor_probe ...)
    outcome: str = field(default=OUTCOME_OK, kw_only=True)
    error: str | None = field(default=None, kw_only=True)
    started: str
    ended: str
    probe: str  # what the probe was called (file name, or "the uploaded photo")
    probe_sha256: str | None
    collections: tuple[tuple[str, int], ...]  # (name, faces searched)
    threshold: float | None
    top: int | None
    parameters: Mapping[str, Any]
    faces: tuple[ProbeFaceRecord, ...]
    # what the FMRs shown rest on (CalibrationTable.basis / basis_short), as at search time
    calibration: str = field(default="", kw_only=True)
    calibration_short: str = field(default="", kw_only=True)

    @property
    def gallery_faces(self) -> int:
        return sum(size for _, size in self.collections)

    @property
    def hits(self) -> tuple[HitRecord, ...]:
        return tuple(h for f in self.faces for h in f.hits)

    def hit(self, face_id: int) -> tuple[HitRecord, ProbeFaceRecord] | None:
        """The candidate ``face_id`` and the probe face that found it, if it is one."""
        for pf in self.faces:
            for h in pf.hits:
                if h.face_id == face_id:
                    return h, pf
        return None

    # -- to and from the audit trail --------------------------------------------------------
    @classmethod
    def from_result(
        cls,
        result: SearchResult,
        *,
        collections: Mapping[str, int],
        parameters: Mapping[str, Any],
        probe_sha256: str,
        table: CalibrationTable | None = None,
    ) -> SearchRecord:
        faces = tuple(
            ProbeFaceRecord(
                face=pf.face,
                bbox=pf.bbox,
                quality=pf.quality,
                warnings=pf.warnings,
                refused=pf.refused,
                reliability=pf.reliability,
                hits=tuple(
                    HitRecord(
                        rank=h.rank,
                        face_id=h.face_id,
                        similarity=round(h.similarity, SCORE_DIGITS),  # as logged
                        fmr=h.fmr,
                        fmr_words=h.fmr_words,
                        expected_false=h.expected_false,
                        same_file=h.same_file,
                        face=GalleryFace(
                            h.image_id,
                            h.image_path,
                            h.bbox,
                            h.subject,
                            h.collection,
                            h.image_sha256,
                        ),
                    )
                    for h in pf.hits
                ),
            )
            for pf in result.faces
        )
        return cls(
            started=result.started,
            ended=result.finished,
            probe=result.probe,
            probe_sha256=probe_sha256,
            collections=tuple(collections.items()),
            threshold=result.threshold,
            top=result.top,
            parameters=dict(parameters),
            faces=faces,
            calibration=table.basis if table else "",
            calibration_short=table.basis_short if table else "",
        )

    def payload(self) -> dict[str, Any]:
        """The audit entry's payload: ids, digests, scores, never images or embeddings."""
        return {
            "outcome": self.outcome,
            **({"error": self.error} if self.error is not None else {}),
            "started": self.started,
            "ended": self.ended,
            "probe": self.probe,
            "probe_sha256": self.probe_sha256,
            "collections": [{"name": n, "size": int(s)} for n, s in self.collections],
            "parameters": dict(self.parameters),
            "calibration": self.calibration,
            "calibration_short": self.calibration_short,
            "candidates": [
                {
                    "face_id": h.face_id,
                    "score": round(h.similarity, SCORE_DIGITS),
                    "fmr": h.fmr,
                    "face": pf.face,  # the probe face that found it
                    "rank": h.rank,
                }
                for pf in self.faces
                for h in pf.hits
            ],
            "probe_faces": [
                {
                    "face": pf.face,
                    "bbox": pf.bbox.as_list() if pf.bbox else None,
                    "quality": pf.quality.as_dict() if pf.quality else None,
                    "refused": pf.refused,
                    "warnings": list(pf.warnings),
                    "reliability": pf.reliability,
                    "candidates": [h.face_id for h in pf.hits],
                    "same_file": [h.face_id for h in pf.hits if h.same_file],
                }
                for pf in self.faces
            ],
        }

    @classmethod
    def from_entry(
        cls,
        seq: int,
        actor: str,
        case: str | None,
        purpose: str | None,
        payload: Mapping[str, Any],
        gallery: Mapping[int, FaceRecord | GalleryFace],
        table: CalibrationTable,
    ) -> SearchRecord:
        """A logged search read back; ``gallery``: the candidates' faces still held (as the
        catalog's records, or as the search found them). Entries written before the FMR (or
        what it rests on) was logged get it from ``table``."""
        p = payload
        collections = tuple(
            (str(c.get("name")), int(c.get("size", 0))) for c in p.get("collections", [])
        )
        gallery_faces = sum(size for _, size in collections)
        found = _candidates_by_face(p)
        faces = []
        for pf in p.get("probe_faces", []):
            same_file = {i for i in pf.get("same_file", [])}
            hits = []
            logged_hits = found.get(pf.get("face"), [])
            for rank, face_id in enumerate(pf.get("candidates", []), start=1):
                logged = logged_hits[rank - 1] if rank <= len(logged_hits) else {}
                fid = int(logged.get("face_id", face_id))
                score = float(logged.get("score", float("nan")))
                fmr = float(logged["fmr"]) if "fmr" in logged else table.fmr_at(score)
                hits.append(
                    HitRecord(
                        rank=rank,
                        face_id=fid,
                        similarity=score,
                        fmr=fmr,
                        fmr_words=describe_fmr(fmr, table.words_floor),
                        expected_false=fmr * gallery_faces,
                        same_file=fid in same_file,
                        face=_gallery_face(gallery[fid]) if fid in gallery else None,
                    )
                )
            faces.append(
                ProbeFaceRecord(
                    face=int(pf.get("face", 0)),
                    bbox=_bbox(pf.get("bbox")),
                    quality=_quality(pf.get("quality")),
                    warnings=tuple(str(w) for w in pf.get("warnings", [])),
                    refused=bool(pf.get("refused")),
                    hits=tuple(hits),
                    reliability=pf.get("reliability"),
                )
            )
        parameters = dict(p.get("parameters", {}))
        return cls(
            id=seq,
            actor=actor,
            case=case,
            purpose=purpose,
            outcome=str(p.get("outcome", OUTCOME_OK)),
            error=p.get("error"),
            started=str(p.get("started", "")),
            ended=str(p.get("ended", "")),
            probe=str(p.get("probe") or "the probe photo"),
            probe_sha256=p.get("probe_sha256"),
            collections=collections,
            threshold=parameters.get("threshold"),
            top=parameters.get("top"),
            parameters=parameters,
            faces=tuple(faces),
            calibration=str(p.get("calibration") or table.basis),
            calibration_short=str(p.get("calibration_short") or table.basis_short),
        )

    @staticmethod
    def candidate_ids(payload: Mapping[str, Any]) -> list[int]:
        """The face ids a logged search returned, in order."""
        return [
            int(c["face_id"])
            for c in payload.get("candidates", [])
            if isinstance(c, Mapping) and isinstance(c.get("face_id"), int)
        ]

    @staticmethod
    def same_file_ids(payload: Mapping[str, Any]) -> set[int]:
        """The face ids a logged search marked as being in the probe's own file."""
        return {
            int(i)
            for pf in payload.get("probe_faces", [])
            if isinstance(pf, Mapping)
            for i in pf.get("same_file", [])
            if isinstance(i, int) and not isinstance(i, bool)
        }

    # -- its public form ------------------------------------------------------------------
    def as_json(self, show_path: Callable[[str], str] = str) -> dict[str, Any]:
        """The record as the CLI prints it and the API returns it (``show_path``: how an
        image's source is shown: the full path in the CLI, the file name in the API)."""
        return {
            "id": self.id,
            "actor": self.actor,
            "case": self.case,
            "purpose": self.purpose,
            "outcome": self.outcome,
            "error": self.error,
            "started": self.started,
            "ended": self.ended,
            "probe": self.probe,
            "probe_sha256": self.probe_sha256,
            "collections": [{"name": n, "size": s} for n, s in self.collections],
            "gallery_faces": self.gallery_faces,
            "threshold": self.threshold,
            "top": self.top,
            "parameters": dict(self.parameters),
            "faces": [f.as_json(show_path) for f in self.faces],
            "calibration": self.calibration,
            "calibration_short": self.calibration_short,
            "note": LEAD_NOTE,
        }
