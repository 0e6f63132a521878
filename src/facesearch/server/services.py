"""What the API and the pages both do, written once: each function checks the upload, runs the
use through ``usage.py`` in the right worker lane, counts it, and returns a resource
(``views.py``). Routes only parse the request and shape the answer."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
from fastapi import UploadFile

from facesearch.accountability import Action, CandidateState, CandidateStatus, Verdict
from facesearch.catalog import Catalog
from facesearch.engine import Engine
from facesearch.errors import InputError, NotFoundError
from facesearch.search import probe_problems
from facesearch.server import views
from facesearch.server.auth import Principal
from facesearch.server.context import Context
from facesearch.server.errors import ConflictError
from facesearch.server.jobs import IngestJob, safe_name
from facesearch.server.limits import sniff_image, sniff_ingest
from facesearch.usage import (
    UPLOADED_PHOTO,
    audited_forget,
    audited_search,
    audited_verify,
    check_case,
    detect_faces,
)

INGEST_EXT = {
    "zip": ".zip",
    "tar": ".tar",
    "tar.gz": ".tar.gz",
    "tar.bz2": ".tar.bz2",
    "tar.xz": ".tar.xz",
}
IMAGE_EXT = {
    "JPEG": ".jpg",
    "MPO": ".jpg",
    "PNG": ".png",
    "WEBP": ".webp",
    "BMP": ".bmp",
    "TIFF": ".tif",
    "GIF": ".gif",
}
PENDING_DAYS = 90  # candidates awaiting a second person are looked for this far back
RECENT_DAYS = 30  # "your recent searches" looks this far back


async def read_image(upload: UploadFile | None, ctx: Context, what: str = "photo") -> bytes:
    """The bytes of an uploaded image, checked (415 not an image, 413 too many pixels)."""
    if upload is None:
        raise InputError(f"a {what} is required")
    data = await upload.read()
    if not data:
        raise InputError(f"the {what} is empty")
    sniff_image(data, ctx.settings.max_pixels, upload_label(upload))
    return data


def upload_label(upload: UploadFile | None) -> str:
    """What messages call an uploaded file: its client file name cut down to a plain name,
    or "the uploaded photo" when it has none."""
    name = upload.filename if upload is not None else None
    return safe_name(name, UPLOADED_PHOTO) if name else UPLOADED_PHOTO


# --- detect, search, verify ----------------------------------------------------------------------


async def detect(
    ctx: Context, who: Principal, data: bytes, name: str = UPLOADED_PHOTO
) -> dict[str, Any]:
    faces = await ctx.workers.on_analysis(
        lambda p: detect_faces(p, who.user, data, name), user=who.name
    )
    return {
        "width": faces.width,
        "height": faces.height,
        "main": faces.main,
        "faces": [
            {
                "face": f.index,
                "bbox": f.bbox.as_list(),
                "quality": f.quality.as_dict(),
                "problems": probe_problems(f.quality, ctx.settings),
            }
            for f in faces.faces
        ],
    }


async def search(
    ctx: Context,
    who: Principal,
    data: bytes,
    *,
    case: str | None,
    purpose: str | None,
    collections: Sequence[str] | None = None,
    top: int | None = None,
    max_fmr: float | None = None,
    threshold: float | None = None,
    face: int | None = None,
    allow_poor: bool = False,
    name: str = UPLOADED_PHOTO,
) -> dict[str, Any]:
    check_case(case, purpose, required=True)  # before queueing for the engine
    started = time.monotonic()
    try:
        analysed = await ctx.workers.analyse(data, name, user=who.name)
    except Exception:
        ctx.metrics.inc("facesearch_searches_total", outcome="error")
        raise

    def run(engine: Engine) -> int:
        _, entry = audited_search(
            engine,
            ctx.store,
            who.user,
            case=case,
            purpose=purpose,
            image=data,
            name=name,
            collections=list(collections) if collections else None,
            top=top,
            max_fmr=max_fmr,
            threshold=threshold,
            face=face,
            allow_poor=allow_poor,
            require_case=True,
            analysed=analysed,
        )
        return entry.seq

    try:
        seq = await ctx.workers.on_engine(run)
    except Exception:
        ctx.metrics.inc("facesearch_searches_total", outcome="error")
        raise
    ctx.metrics.inc("facesearch_searches_total", outcome="ok")
    ctx.metrics.observe_search(time.monotonic() - started)
    return await load_search(ctx, seq)


async def load_search(ctx: Context, seq: int) -> dict[str, Any]:
    store = ctx.store

    def build(catalog: Catalog) -> dict[str, Any]:
        entry = store.audit.get(seq)
        if entry.action != Action.SEARCH.value:
            raise NotFoundError(f"no search {seq}")
        ids = [int(c["face_id"]) for c in entry.payload.get("candidates", [])]
        records = {r.id: r for r in catalog.faces(ids)}
        states: dict[Any, CandidateState] = {s.face_id: s for s in store.decisions.states(seq)}
        sha = str(entry.payload.get("probe_sha256", ""))
        try:
            kept = store.probes.expires(sha) > datetime.now(UTC)
        except NotFoundError:
            kept = False
        return views.search_view(entry, records, ctx.workers.calibration, states, kept)

    return await ctx.workers.on_catalog(build)


async def verify(
    ctx: Context,
    who: Principal,
    a: bytes,
    b: bytes,
    *,
    case: str | None,
    purpose: str | None,
    threshold: float | None,
    max_fmr: float | None,
    names: tuple[str, str] = (UPLOADED_PHOTO, UPLOADED_PHOTO),
) -> dict[str, Any]:
    check_case(case, purpose, required=True)

    def run(engine: Engine) -> dict[str, Any]:
        result, entry = audited_verify(
            engine,
            ctx.store,
            who.user,
            case=case,
            purpose=purpose,
            a=a,
            b=b,
            threshold=threshold,
            max_fmr=max_fmr,
            require_case=True,
            names=names,
        )
        return views.verification_view(result, entry)

    try:
        out = await ctx.workers.on_engine(run, analysis_by=who.name)
    except Exception:
        ctx.metrics.inc("facesearch_verifications_total", outcome="error")
        raise
    ctx.metrics.inc("facesearch_verifications_total", outcome="ok")
    return out


# --- decisions -----------------------------------------------------------------------------------


async def decide(
    ctx: Context, who: Principal, seq: int, face_id: int, verdict: str, note: str | None
) -> dict[str, Any]:
    try:
        chosen = Verdict(verdict)
    except ValueError as exc:
        raise InputError("verdict must be possible_match or rejected") from exc
    state = await anyio.to_thread.run_sync(
        lambda: ctx.store.decisions.decide(who.user, seq, face_id, chosen, note or "")
    )
    ctx.metrics.inc("facesearch_decisions_total", verdict=chosen.value)
    search_out = await load_search(ctx, seq)
    return views.candidate_state_view(search_out, face_id, state, who.name)


async def candidate(ctx: Context, who: Principal, seq: int, face_id: int) -> dict[str, Any]:
    search_out = await load_search(ctx, seq)
    views.find_candidate(search_out, face_id)
    state = await anyio.to_thread.run_sync(lambda: ctx.store.decisions.state(seq, face_id))
    return views.candidate_state_view(search_out, face_id, state, who.name)


async def pending(ctx: Context, who: Principal) -> list[dict[str, Any]]:
    """Candidates marked possible match by someone else, waiting for a second person."""

    def scan() -> list[dict[str, Any]]:
        since = datetime.now(UTC) - timedelta(days=PENDING_DAYS)
        entries = ctx.store.audit.entries(action=Action.DECISION, since=since, limit=None)
        seen: set[tuple[int, int | str]] = set()
        out = []
        for e in reversed(entries):
            face_id = e.payload.get("face_id")
            if not isinstance(face_id, int | str):
                continue
            key: tuple[int, int | str] = (int(e.payload.get("search_seq", 0)), face_id)
            if key in seen or e.payload.get("status_after") != "possible_match":
                continue
            seen.add(key)
            state = ctx.store.decisions.state(*key)
            if state.status is CandidateStatus.POSSIBLE_MATCH and state.awaits_second_person(
                who.name
            ):
                out.append(
                    {
                        "search_id": key[0],
                        "face_id": key[1],
                        "case": e.case,
                        "marked_by": list(state.verified_by),
                        "time": e.time.isoformat(),
                        "links": {"self": f"{views.API}/searches/{key[0]}/candidates/{key[1]}"},
                    }
                )
        return out

    return await anyio.to_thread.run_sync(scan)


async def recent_searches(ctx: Context, who: Principal, limit: int = 10) -> list[dict[str, Any]]:
    def scan() -> list[dict[str, Any]]:
        since = datetime.now(UTC) - timedelta(days=RECENT_DAYS)
        entries = ctx.store.audit.entries(
            actor=who.name, action=Action.SEARCH, since=since, limit=None
        )
        return [
            {
                "id": e.seq,
                "time": e.time.isoformat(timespec="seconds"),
                "case": e.case,
                "purpose": e.purpose,
                "candidates": len(e.payload.get("candidates", [])),
            }
            for e in entries[-limit:][::-1]
        ]

    return await anyio.to_thread.run_sync(scan)


# --- erasure -------------------------------------------------------------------------------------


async def erase(
    ctx: Context,
    who: Principal,
    *,
    reason: str | None,
    face_ids: Sequence[int] | None = None,
    image_id: int | None = None,
    subject: str | None = None,
    like: bytes | None = None,
    max_fmr: float | None = None,
    case: str | None = None,
    purpose: str | None = None,
) -> dict[str, Any]:
    workers = ctx.workers

    def run(engine: Engine) -> dict[str, Any]:
        if not workers.gallery_write.acquire(blocking=False):
            raise ConflictError("an ingest is running; erase when it has finished")
        try:
            result, entry = audited_forget(
                engine,
                ctx.store,
                who.user,
                reason=reason,
                face_ids=face_ids,
                image_id=image_id,
                subject=subject,
                like=like,
                max_fmr=max_fmr,
                case=case,
                purpose=purpose,
                require_case=True,
            )
        finally:
            workers.gallery_write.release()
        return views.erasure_view(result, entry)

    chosen = [x is not None for x in (face_ids or None, image_id, subject, like)]
    if sum(chosen) != 1:
        raise InputError("give exactly one of: face ids, an image id, a subject, a photo")
    out = await workers.on_engine(run, writes=True)
    ctx.metrics.inc("facesearch_erasures_total")
    ctx.metrics.inc("facesearch_faces_erased_total", out["faces_removed"])
    return out


# --- ingest --------------------------------------------------------------------------------------


async def start_ingest(
    ctx: Context,
    who: Principal,
    files: Sequence[UploadFile],
    *,
    collection: str,
    label_from_dir: bool,
    subject: str | None,
) -> IngestJob:
    files = [f for f in files if f.filename or f.size]
    if not files:
        raise InputError("choose at least one image or archive to upload")
    collection = (collection or "default").strip()
    subject = subject.strip() if subject and subject.strip() else None
    job = ctx.jobs.new(who.name, collection, label_from_dir, subject)
    try:
        for n, upload in enumerate(files, start=1):
            await upload.seek(0)
            head = await upload.read(512)
            kind = sniff_ingest(head)
            if kind == "image":
                await upload.seek(0)
                fmt, _, _ = sniff_image(await upload.read(), ctx.settings.max_pixels)
                ext = IMAGE_EXT[fmt]
            else:
                ext = INGEST_EXT[kind]
            stem = safe_name(upload.filename or "upload")
            for suffix in (".zip", ".tar", ".gz", ".tgz", ".bz2", ".xz", ext):
                stem = stem.removesuffix(suffix).removesuffix(suffix.upper())
            target = job.folder / "incoming" / f"{n:06d}-{stem}{ext}"
            await upload.seek(0)
            size = await anyio.to_thread.run_sync(_copy, upload, target)
            job.files += 1
            job.bytes += size
    except BaseException:
        ctx.jobs.discard(job)
        raise
    metrics = ctx.metrics

    def done(summary: Any) -> None:
        metrics.inc("facesearch_ingest_images_total", summary.images_added)
        metrics.inc("facesearch_ingest_faces_total", summary.faces_added)

    def run(engine: Engine) -> None:
        ctx.jobs.run(job, engine, ctx.store, who.user, on_summary=done)
        metrics.inc("facesearch_ingest_jobs_total", status=job.status)

    ctx.workers.submit_ingest(run)
    return job


def _copy(upload: UploadFile, target: Any) -> int:
    size = 0
    with open(target, "wb") as out:
        while chunk := upload.file.read(1 << 20):
            out.write(chunk)
            size += len(chunk)
    return size
