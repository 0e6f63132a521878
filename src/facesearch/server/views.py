"""The resource shapes of the API (and of the pages built on them): the contract, in one file.

Each function turns library data into the JSON object a client gets. The README's "Server"
section documents these shapes; change them only with a new API version.

A search is read back from its audit entry (``usage.audited_search`` wrote it), so that
``POST /api/v1/searches`` and ``GET /api/v1/searches/{id}`` answer the same object, and a
search can be shown again later exactly as it was: scores as logged, candidate faces looked up
in the catalog now (an erased face shows as ``"erased": true``), review status replayed from
the decisions in the trail.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import PurePath
from typing import Any

from facesearch.accountability import (
    AuditEntry,
    CandidateState,
    CandidateStatus,
    LoginLock,
    Permission,
    TokenInfo,
    User,
    can,
)
from facesearch.core.calibration import CalibrationTable, describe_fmr
from facesearch.engine import ForgetResult, VerifyResult
from facesearch.errors import NotFoundError
from facesearch.gallery.archives import split_member
from facesearch.gallery.catalog import CollectionInfo, FaceRecord, ImageRecord
from facesearch.results import LEAD_NOTE

API = "/api/v1"


def user_view(user: User, tokens: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": user.name,
        "role": user.role.value,
        "disabled": user.disabled,
        "created_at": user.created_at.isoformat(),
        "permissions": sorted(p.value for p in Permission if can(user.role, p)),
    }
    if tokens is not None:
        out["live_tokens"] = tokens
    return out


def token_view(token: TokenInfo) -> dict[str, Any]:
    """An API token as its owner and the admins see it: never the token itself."""

    def when(moment: datetime | None) -> str | None:
        return None if moment is None else moment.isoformat()

    return {
        "prefix": token.prefix,
        "state": token.state,  # live, expired or revoked
        "created_at": when(token.created_at),
        "expires_at": when(token.expires_at),  # null: never
        "last_used_at": when(token.last_used_at),  # to the minute; null: never used
        "revoked_at": when(token.revoked_at),
    }


def account_view(
    user: User, tokens: Sequence[TokenInfo], locks: Sequence[LoginLock], now: datetime
) -> dict[str, Any]:
    """A user as the admins see it: the account, its API tokens, the lockouts of its name."""
    return {
        **user_view(user, sum(1 for t in tokens if t.live)),
        "tokens": [token_view(t) for t in tokens],
        "lockouts": [
            lockout_view(lock, now)
            for lock in locks
            if lock.name.casefold() == user.name.casefold()
        ],
    }


def lockout_view(lock: LoginLock, now: datetime) -> dict[str, Any]:
    """A name locked for one client address after failed logins (for the admins)."""
    return {
        "client": lock.client,
        "failures": lock.failures,
        "level": lock.level,
        "locked_at": lock.locked_at.isoformat(),
        "locked_until": lock.locked_until.isoformat(),
        "minutes_left": lock.minutes_left(now),
        "message": lock.describe(now),
    }


def entry_view(entry: AuditEntry) -> dict[str, Any]:
    return entry.as_dict()


def shown_source(source: str) -> str:
    """A gallery source as the API shows it: the file name, never a path on the server.

    A file ingested from a folder is shown by its name (``Colin_Powell_0001.jpg``), an archive
    member by the archive's name and the member's path inside it (``batch.zip!a/b.jpg``): the
    ingest root is not stored, and the image id names the image exactly. The CLI, run by
    whoever owns the home, prints full paths.
    """
    member = split_member(source)
    if member is not None:
        return f"{PurePath(member[0]).name}!{member[1]}"
    return PurePath(source).name


def face_view(face: FaceRecord) -> dict[str, Any]:
    return {
        "id": face.id,
        "image_id": face.image_id,
        "collection": face.collection,
        "subject": face.subject,
        "source": shown_source(face.source),
        "face_index": face.face_index,
        "bbox": face.bbox.as_list(),
        "landmarks": [[round(x, 2), round(y, 2)] for x, y in face.landmarks],
        "det_score": round(face.det_score, 4),
        "quality": dict(face.quality),
        "model_id": face.model_id,
        "links": {
            "crop": f"{API}/faces/{face.id}/crop",
            "image": f"{API}/images/{face.image_id}",
        },
    }


def image_view(image: ImageRecord, faces: Sequence[FaceRecord]) -> dict[str, Any]:
    return {
        "id": image.id,
        "sha256": image.sha256,
        "collection": image.collection,
        "source": shown_source(image.source),
        "size_bytes": image.size_bytes,
        "width": image.width,
        "height": image.height,
        "added": image.added,
        "metadata": image.metadata,
        "faces": [face_view(f) for f in faces],
        "links": {"file": f"{API}/images/{image.id}/file"},
    }


def collection_view(info: CollectionInfo) -> dict[str, Any]:
    return {"name": info.name, "images": info.images, "faces": info.faces, "created": info.created}


def verification_view(result: VerifyResult, entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.seq,
        **result.verification.as_dict(),
        "faces": [
            {"bbox": result.face_a.bbox.as_list(), "quality": result.face_a.quality.as_dict()},
            {"bbox": result.face_b.bbox.as_list(), "quality": result.face_b.quality.as_dict()},
        ],
        "case": entry.case,
        "purpose": entry.purpose,
    }


def erasure_view(result: ForgetResult, entry: AuditEntry) -> dict[str, Any]:
    removed = entry.payload.get("removed", {})
    return {
        "id": entry.seq,
        "reason": entry.payload.get("reason"),
        "faces_removed": len(result.faces),
        "face_ids": [f.id for f in result.faces],
        "image_ids": list(removed.get("images", [])),
        "subjects": list(removed.get("subjects", [])),
        "index_vectors_removed": result.index_vectors_removed,
        "blocklisted": result.blocklisted,
        "uploaded_files_deleted": entry.payload.get("uploaded_files_deleted", 0),
        "probes_deleted": entry.payload.get("probes_deleted", {}).get("count", 0),
    }


def history_view(state: CandidateState) -> list[dict[str, Any]]:
    return [
        {
            "seq": r.audit_seq,
            "time": r.time.isoformat(),
            "actor": r.actor,
            "verdict": r.verdict.value,
            "note": r.note,
            "status": r.status.value,
        }
        for r in state.history
    ]


def search_view(
    entry: AuditEntry,
    records: Mapping[int, FaceRecord],
    table: CalibrationTable,
    states: Mapping[Any, CandidateState],
    probe_kept: bool,
) -> dict[str, Any]:
    """A search resource from its audit entry, the candidates' records and their review."""
    if entry.action != "search":
        raise NotFoundError(f"audit entry {entry.seq} is not a search")
    p = entry.payload
    collections = [dict(c) for c in p.get("collections", [])]
    gallery = sum(int(c.get("size", 0)) for c in collections)
    flat = [(c["face_id"], float(c["score"])) for c in p.get("candidates", [])]
    faces_out = []
    position = 0
    for pf in p.get("probe_faces", []):
        candidates = []
        same_file = {int(i) for i in pf.get("same_file", [])}
        for rank, face_id in enumerate(pf.get("candidates", []), start=1):
            fid, score = flat[position] if position < len(flat) else (face_id, float("nan"))
            position += 1
            candidates.append(
                candidate_view(
                    entry.seq,
                    rank,
                    int(fid),
                    score,
                    records.get(int(fid)),
                    table,
                    gallery,
                    states.get(fid),
                )
            )
            # the candidate's image is the probe's own file (same sha256), as logged
            candidates[-1]["same_file"] = int(fid) in same_file
        faces_out.append(
            {
                "face": pf.get("face"),
                "bbox": pf.get("bbox"),
                "refused": bool(pf.get("refused")),
                "warnings": list(pf.get("warnings", [])),
                "candidates": candidates,
                "links": {"crop": f"{API}/searches/{entry.seq}/probe/faces/{pf.get('face')}/crop"},
            }
        )
    return {
        "id": entry.seq,
        "actor": entry.actor,
        "case": entry.case,
        "purpose": entry.purpose,
        "outcome": p.get("outcome", "ok"),  # else why it failed: no_face, poor_probe ...
        "error": p.get("error"),
        "started": p.get("started"),
        "ended": p.get("ended"),
        "probe": {
            "sha256": p.get("probe_sha256"),
            "kept": probe_kept,
            "url": f"{API}/searches/{entry.seq}/probe" if probe_kept else None,
        },
        "collections": collections,
        "gallery_faces": gallery,
        "parameters": dict(p.get("parameters", {})),
        "faces": faces_out,
        "note": LEAD_NOTE,
    }


def candidate_view(
    search_id: int,
    rank: int,
    face_id: int,
    score: float,
    record: FaceRecord | None,
    table: CalibrationTable,
    gallery: int,
    state: CandidateState | None,
) -> dict[str, Any]:
    fmr = table.fmr_at(score)
    status = state.status if state is not None else CandidateStatus.UNREVIEWED
    out: dict[str, Any] = {
        "rank": rank,
        "face_id": face_id,
        "similarity": round(score, 5),
        "fmr": fmr,
        "fmr_words": describe_fmr(fmr, table.min_fmr),
        "expected_false": float(f"{fmr * gallery:.3g}"),
        "status": status.value,
        "verified_by": list(state.verified_by) if state is not None else [],
        "erased": record is None,
        "subject": None,
        "collection": None,
        "image_id": None,
        "source": None,
        "bbox": None,
        "links": {
            "self": f"{API}/searches/{search_id}/candidates/{face_id}",
            "decisions": f"{API}/searches/{search_id}/candidates/{face_id}/decisions",
        },
    }
    if record is not None:
        out.update(
            subject=record.subject,
            collection=record.collection,
            image_id=record.image_id,
            source=shown_source(record.source),
            bbox=record.bbox.as_list(),
        )
        # reads through these links are logged under the search's case
        out["links"].update(
            crop=f"{API}/faces/{face_id}/crop?search={search_id}",
            image=f"{API}/images/{record.image_id}/file?search={search_id}",
        )
    return out


def find_candidate(search: Mapping[str, Any], face_id: int) -> tuple[dict[str, Any], int]:
    """(candidate, probe face number) of a face in a search view; NotFoundError if absent."""
    for pf in search["faces"]:
        for cand in pf["candidates"]:
            if cand["face_id"] == face_id:
                return cand, int(pf["face"])
    raise NotFoundError(f"face {face_id} is not a candidate of search {search['id']}")


def candidate_state_view(
    search: Mapping[str, Any], face_id: int, state: CandidateState | None, me: str | None = None
) -> dict[str, Any]:
    cand, probe_face = find_candidate(search, face_id)
    out = {
        "search_id": search["id"],
        "probe_face": probe_face,
        "face_id": face_id,
        "status": cand["status"],
        "confirmed": cand["status"] == CandidateStatus.CONFIRMED.value,
        "verified_by": cand["verified_by"],
        "history": history_view(state) if state is not None else [],
        "candidate": cand,
        "note": LEAD_NOTE,
    }
    if me is not None:
        out["can_confirm"] = bool(state is not None and state.awaits_second_person(me))
    return out
