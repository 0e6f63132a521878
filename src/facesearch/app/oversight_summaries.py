"""The one-line summaries of the entries the supervisor's dashboard lists (``app.oversight``):
searches, refusals, erasures, exports, and what changed the gallery or where its data went:
ingest runs (``app.ingest``, ``app.abandoned_runs``), shares of collections
(``accountability.orgs``) and persons named or merged (``app.people``). Each reads the
payload keys its entry's writer writes; a key missing reads as ``?`` or is left out."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from facesearch.accountability import Action, AuditEntry
from facesearch.app.records import OUTCOME_OK

__all__ = [
    "STARTED",
    "candidates",
    "erasure_summary",
    "export_summary",
    "failed",
    "failed_files",
    "ingest_summary",
    "naming_summary",
    "outcome",
    "refusal_summary",
    "running_summary",
    "search_summary",
    "share_summary",
    "shared_with",
]

STARTED = "started"  # the outcome of an ingest run's first entry (app.ingest)
MAX_ERROR_CHARS = 160  # of the error of an ingest that did not end ok, as a summary shows it


def _count(n: object, one: str, many: str | None = None) -> str:
    if not isinstance(n, int) or isinstance(n, bool):
        return f"? {many or one + 's'}"
    return f"{n} {one}" if n == 1 else f"{n:,} {many or one + 's'}"


def _quoted(name: object) -> str:
    return f"'{name}'"


def outcome(entry: AuditEntry) -> str:
    return str(entry.payload.get("outcome", OUTCOME_OK))


def failed(entry: AuditEntry) -> bool:
    return outcome(entry) != OUTCOME_OK


def candidates(entry: AuditEntry) -> int:
    found = entry.payload.get("candidates", [])
    return len(found) if isinstance(found, list) and not failed(entry) else 0


def search_summary(entry: AuditEntry) -> str:
    if failed(entry):
        return f"failed: {outcome(entry)}"
    return _count(candidates(entry), "candidate")


def refusal_summary(entry: AuditEntry) -> str:
    p = entry.payload
    return f"{p.get('attempt', '?')} refused: {str(p.get('reason', '')).replace('_', ' ')}"


def erasure_summary(entry: AuditEntry) -> str:
    p = entry.payload
    counts = p.get("counts")
    plain = (  # the counts are "faces", "images", "subjects": one of each reads singular
        ", ".join(_count(v, str(k).removesuffix("s"), str(k)) for k, v in counts.items())
        if isinstance(counts, Mapping)
        else ""
    )
    return f"{plain or 'erasure'}; reason: {p.get('reason', '')}"


def export_summary(entry: AuditEntry) -> str:
    p = entry.payload
    what = str(p.get("what") or "audit entries").replace("_", " ")
    count = f", {p['count']} entries" if isinstance(p.get("count"), int) else ""
    return f"{what} ({p.get('format', '?')}{count})"


# --- what changed the gallery, and where its data went -----------------------------------------


def ingest_summary(entry: AuditEntry, started_by: str | None = None) -> str:
    """The end entry of an ingest run: "collection X: 120 images, 143 faces added; 3 failed",
    then how it ended unless ok ("abandoned: no end logged, and its process ... is gone"), and
    who started it when another wrote the end (``system:ingest`` for an abandoned run)."""
    p = entry.payload
    parts = [
        f"collection {p.get('collection', '?')}: {_count(p.get('images_added'), 'image')}, "
        f"{_count(p.get('faces_added'), 'face')} added"
    ]
    if isinstance(p.get("failed"), int) and p["failed"]:
        parts.append(failed_files(p))
    if failed(entry):
        parts.append(_ending(outcome(entry), str(p.get("error") or "")))
    if started_by is not None and started_by != entry.actor:
        parts.append(f"started by {started_by}")
    return "; ".join(parts)


def failed_files(payload: Mapping[str, Any]) -> str:
    """An ingest entry's sources not added: "3 failed", or "1 failed, 2 blocklisted" when
    the erasure blocklist skipped some (entries from before 'blocklisted' was logged count
    those as failed)."""
    total = payload.get("failed") or 0
    blocked = payload.get("blocklisted") or 0
    if not isinstance(total, int) or not isinstance(blocked, int) or not blocked:
        return f"{total} failed"
    return f"{total - blocked} failed, {blocked} blocklisted"


def _ending(code: str, error: str) -> str:
    """How a run that did not end ok ended: its outcome, and the error unless it says it."""
    if len(error) > MAX_ERROR_CHARS:
        error = error[: MAX_ERROR_CHARS - 1] + "…"
    if not error:
        return code.replace("_", " ")
    said = error.startswith((code, code.replace("_", " ")))  # "nothing ingested from ..."
    return error if said else f"{code.replace('_', ' ')}: {error}"


def running_summary(entry: AuditEntry) -> str:
    """The started entry of an ingest run with no end entry (yet)."""
    return f"collection {entry.payload.get('collection', '?')}: running (no end logged yet)"


def shared_with(entry: AuditEntry) -> str:
    """The organisation a share (``collection_grant``) or its withdrawal names."""
    key = "to" if entry.action == Action.COLLECTION_GRANT.value else "from"
    return str(entry.payload.get(key, ""))


def share_summary(entry: AuditEntry, *, own: bool = True) -> str:
    """ "collection X shared with organisation Y (read-only)" or "withdrawn from Y"; for the
    receiving organisation (``own`` False), "this organisation" and nothing of the owner."""
    collection = entry.payload.get("collection", "?")
    other = f"organisation {shared_with(entry)}" if own else "this organisation"
    if entry.action == Action.COLLECTION_GRANT.value:
        return f"collection {collection} shared with {other} (read-only)"
    return f"collection {collection} withdrawn from {other}"


def naming_summary(entry: AuditEntry) -> str:
    """ "person 12 named 'X' (was 'Y'), 4 faces"; a merge: "person 7 ('Y') merged into person
    12, 3 faces moved"."""
    p: Mapping[str, Any] = entry.payload
    ids = p.get("face_ids")
    faces = _count(len(ids) if isinstance(ids, list) else None, "face")
    person = f"person {p.get('person', '?')}"
    if entry.action == Action.PERSON_MERGE.value:
        other = f"person {p.get('other', '?')}"
        if p.get("other_name"):
            other += f" ({_quoted(p['other_name'])})"
        return f"{other} merged into {person}, {faces} moved"
    named = f"named {_quoted(p['name'])}" if p.get("name") else "unnamed"
    was = f" (was {_quoted(p['previous_name'])})" if p.get("previous_name") else ""
    return f"{person} {named}{was}, {faces}"
