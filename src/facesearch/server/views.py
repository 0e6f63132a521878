"""The resource shapes of the API (and of the pages built on them): the contract, in one file.

Each function turns library data into the JSON object a client gets. The README's "Server"
section documents these shapes; change them only with a new API version.

A search is its ``SearchRecord`` (``app/records.py``), read back from its audit entry, so that
``POST /api/v1/searches`` and ``GET /api/v1/searches/{id}`` answer the same object, and a
search can be shown again later as it was: scores and false match rates as logged, candidate
faces looked up in the catalog now (an erased face shows as ``"erased": true``), review status
replayed from the decisions in the trail. The API shows sources as file names, never server
paths; it adds links and review status to the record.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import PurePath
from typing import Any
from urllib.parse import quote

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
from facesearch.accountability.decisions import PendingCandidate
from facesearch.app.browse import BrowseRecord, ErasePreview, ImageEntry, SubjectEntry
from facesearch.app.reads import ReviewedSearch
from facesearch.errors import NotFoundError
from facesearch.gallery.archives import split_member
from facesearch.gallery.catalog import CollectionInfo, FaceRecord, ImageRecord
from facesearch.results import LEAD_NOTE

API = "/api/v1"


def user_view(user: User, tokens: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": user.name,
        "role": user.role.value,
        "org": user.org,
        "disabled": user.disabled,
        # a password someone else set: it only lets its user choose their own
        "one_time_password": user.password_temporary,
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


def image_entry_view(entry: ImageEntry) -> dict[str, Any]:
    """An image of a gallery listing: the image, how many faces, their subjects."""
    image = entry.image
    return {
        "id": image.id,
        "collection": image.collection,
        "source": shown_source(image.source),
        "width": image.width,
        "height": image.height,
        "added": image.added,
        "faces": entry.faces,
        "subjects": list(entry.subjects),
        "links": {"self": f"{API}/images/{image.id}", "file": f"{API}/images/{image.id}/file"},
    }


def subject_entry_view(entry: SubjectEntry) -> dict[str, Any]:
    """A subject of a gallery listing, with one of its faces as its picture."""
    return {
        "name": entry.name,
        "faces": entry.faces,
        "images": entry.images,
        "face_id": entry.first_face_id,
        "links": {
            "self": f"{API}/subjects/{quote(entry.name, safe='')}",
            "crop": f"{API}/faces/{entry.first_face_id}/crop",
        },
    }


def browse_view(record: BrowseRecord) -> dict[str, Any]:
    """A page of a gallery listing (``app.browse``): its filters, paging and items."""
    items: list[dict[str, Any]] = []
    for item in record.items:
        if isinstance(item, FaceRecord):
            items.append(face_view(item))
        elif isinstance(item, ImageEntry):
            items.append(image_entry_view(item))
        else:
            items.append(subject_entry_view(item))
    return {
        "kind": record.request.kind,
        "filters": record.filters_json(),
        "page": record.request.page,
        "per_page": record.request.per_page,
        "pages": record.pages,
        "total": record.total,
        "items": items,
        "read": record.id,
    }


def erase_preview_view(preview: ErasePreview) -> dict[str, Any]:
    """What an erasure like a photo would remove now (``app.browse.erase_preview``)."""
    return {
        "like_sha256": preview.like_sha256,
        "threshold": round(preview.threshold, 5),
        "faces": [face_view(f) for f in preview.faces],
        "image_ids": list(preview.image_ids),
        "subjects": list(preview.subjects),
        "read": preview.id,
        "odds": preview.odds.as_json(),
        "refusal": preview.odds.refusal,
    }


def collection_view(info: CollectionInfo) -> dict[str, Any]:
    return {"name": info.name, "images": info.images, "faces": info.faces, "created": info.created}


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


def search_view(found: ReviewedSearch) -> dict[str, Any]:
    """A search resource: its one record (``SearchRecord.as_json``, sources shown as file
    names), with links and the review status of each candidate as it is now."""
    record = found.record
    seq = record.id
    out = record.as_json(shown_source)
    out["probe_kept"] = found.probe_kept
    out["links"] = {"probe": f"{API}/searches/{seq}/probe" if found.probe_kept else None}
    for pf, face in zip(record.faces, out["faces"], strict=True):
        face["links"] = {"crop": f"{API}/searches/{seq}/probe/faces/{pf.face}/crop"}
        for hit, shown in zip(pf.hits, face["hits"], strict=True):
            state = found.state(hit.face_id)
            status = state.status if state is not None else CandidateStatus.UNREVIEWED
            shown["status"] = status.value
            shown["verified_by"] = list(state.verified_by) if state is not None else []
            links = {
                "self": f"{API}/searches/{seq}/candidates/{hit.face_id}",
                "decisions": f"{API}/searches/{seq}/candidates/{hit.face_id}/decisions",
            }
            if hit.face is not None:  # reads through these are logged under the search's case
                links["crop"] = f"{API}/faces/{hit.face_id}/crop?search={seq}"
                links["image"] = f"{API}/images/{hit.face.image_id}/file?search={seq}"
            shown["links"] = links
    return out


def candidates_note(found: int, top: int | None, threshold: float | None, fmr: str) -> str:
    """What bounded a probe face's candidates, for the result page: ``found`` candidates of
    the ``top`` asked; ``threshold`` the similarity they had to reach (None: none was set),
    ``fmr`` the false match rate at it, as a card shows one (``fmr_short``; "" unknown)."""
    words = f"{found} candidate{'' if found == 1 else 's'}"
    if threshold is None:
        bound = "no similarity threshold was set"
        if top is None or found >= top:
            return f"{words}, the most similar faces; {bound}."
        return (
            f"{words}, fewer than the {top} asked: the collections searched hold no more "
            f"faces ({bound})."
        )
    rate = f" (false match rate {fmr})" if fmr else ""
    at = f"{words} at or above similarity {threshold:.3f}{rate}"
    if top is None or found >= top:
        return f"{at}, the {top} asked." if top is not None else f"{at}."
    return f"{at}; fewer than the {top} asked because the rest fall below it."


def hit_face_ids(search: dict[str, Any]) -> list[int]:
    """The face ids of every hit of a search resource."""
    return [hit["face_id"] for face in search["faces"] for hit in face["hits"]]


def with_persons(
    search: dict[str, Any],
    persons: Mapping[int, int] | None,
    names: Mapping[int, str | None] | None = None,
) -> dict[str, Any]:
    """The search resource with each hit's ``person``: the id of the person its face is in
    (``app.people.persons_of``), null when its collection's people were never built or for
    a reader who may not read the gallery (``persons`` None: an auditor overseeing it); and
    its ``person_name``: the name a reviewer gave that person (``names``), else null."""
    for face in search["faces"]:
        for hit in face["hits"]:
            person = None if persons is None else persons.get(hit["face_id"])
            hit["person"] = person
            hit["person_name"] = None if person is None or names is None else names.get(person)
    return search


def candidate_state_view(
    found: ReviewedSearch,
    face_id: int,
    me: str | None = None,
    search: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A candidate of a search with its review: status, who verified it, its history.
    ``search``: the search's resource when the caller has built it already."""
    seq = found.record.id
    located = found.record.hit(face_id)
    if located is None:
        raise NotFoundError(f"face {face_id} is not a candidate of search {seq}")
    _, probe_face = located
    if search is None:
        search = search_view(found)
    cand = next(
        h
        for f in search["faces"]
        if f["face"] == probe_face.face
        for h in f["hits"]
        if h["face_id"] == face_id
    )
    state = found.state(face_id)
    out: dict[str, Any] = {
        "search_id": seq,
        "probe_face": probe_face.face,
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


def pending_view(p: PendingCandidate) -> dict[str, Any]:
    return {
        "search_id": p.search_seq,
        "face_id": p.face_id,
        "case": p.case,
        "marked_by": list(p.marked_by),
        "time": p.time.isoformat(),
        "links": {"self": f"{API}/searches/{p.search_seq}/candidates/{p.face_id}"},
    }
