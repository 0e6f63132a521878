"""What the API and the pages both do, written once: each function checks the upload, runs the
use through ``usage.py`` in the right worker lane, counts it, and returns a resource
(``views.py``). Routes only parse the request and shape the answer."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import anyio
from fastapi import UploadFile

from facesearch.accountability import (
    Action,
    AuditEntry,
    CandidateState,
    CandidateStatus,
    Permission,
    Verdict,
    require,
)
from facesearch.app.usage import (
    UPLOADED_PHOTO,
    audited_forget,
    audited_read,
    audited_search,
    audited_verify,
    check_case,
    decide_on_candidate,
    detect_faces,
    record_failed_search,
    record_failed_verify,
    visible_search,
)
from facesearch.engine import Engine
from facesearch.errors import FaceSearchError, InputError, NotFoundError
from facesearch.gallery.catalog import Catalog, check_name
from facesearch.results import probe_problems
from facesearch.server import views
from facesearch.server.auth import Principal
from facesearch.server.context import Context
from facesearch.server.errors import ConflictError, RateLimitedError, ServerError
from facesearch.server.jobs import IngestJob, safe_name
from facesearch.server.limits import retry_seconds, sniff_image, sniff_ingest
from facesearch.server.media import crop
from facesearch.types import BBox

T = TypeVar("T")

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
    sniff_image(data, ctx.settings.limits.max_pixels, upload_label(upload))
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
    image: UploadFile | None,
    *,
    case: str | None,
    purpose: str | None,
    collections: Sequence[str] | None = None,
    top: int | None = None,
    max_fmr: float | None = None,
    threshold: float | None = None,
    face: int | None = None,
    allow_poor: bool = False,
) -> dict[str, Any]:
    """Search an uploaded probe (checked here). Every attempt that names its case and purpose
    is logged: a refused upload or a failed analysis here, anything later by usage."""
    case, purpose = check_case(case, purpose, required=True)  # before queueing for the engine
    name = upload_label(image)
    started = time.monotonic()
    data: bytes | None = None
    try:
        data = await read_image(image, ctx)
        analysed = await ctx.workers.analyse(data, name, user=who.name)
    except Exception as exc:
        ctx.metrics.inc("facesearch_searches_total", outcome="error")
        if isinstance(exc, FaceSearchError):
            await _log_failure(
                ctx, who, record_failed_search, exc, case=case, purpose=purpose, data=data
            )
        raise
    probe = data

    def run(engine: Engine) -> int:
        _, entry = audited_search(
            engine,
            ctx.store,
            who.user,
            case=case,
            purpose=purpose,
            image=probe,
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
    """A search resource, not logged as a read: for the answer to its own search or verdict."""
    return await ctx.workers.on_catalog(
        lambda catalog: _search_view(ctx, catalog, ctx.store.audit.get(seq))
    )


def _search_view(ctx: Context, catalog: Catalog, entry: AuditEntry) -> dict[str, Any]:
    store = ctx.store
    if entry.action != Action.SEARCH.value:
        raise NotFoundError(f"no search {entry.seq}")
    ids = [int(c["face_id"]) for c in entry.payload.get("candidates", [])]
    records = {r.id: r for r in catalog.faces(ids)}
    states: dict[Any, CandidateState] = {s.face_id: s for s in store.decisions.states(entry.seq)}
    sha = str(entry.payload.get("probe_sha256") or "")
    try:
        kept = bool(sha) and store.probes.expires(sha) > datetime.now(UTC)
    except NotFoundError:
        kept = False
    return views.search_view(entry, records, ctx.workers.calibration, states, kept)


def _is_attempt(exc: FaceSearchError) -> bool:
    """A failed search attempt to log: anything but the server being busy or rate-limiting
    (logging those would let a flood of refused requests flood the trail too)."""
    return not (isinstance(exc, ServerError) and exc.status in (429, 503))


async def _log_failure(
    ctx: Context,
    who: Principal,
    record: Callable[..., Any],
    exc: FaceSearchError,
    *,
    case: str | None,
    purpose: str | None,
    **fields: Any,
) -> None:
    """Log an attempt (search or verify) refused before usage could start it, with
    ``record`` (usage.record_failed_*); not the server being busy or rate-limiting, and not
    a request without case or purpose (usage refuses those itself, unlogged)."""
    if not _is_attempt(exc) or not (case and purpose):
        return
    await anyio.to_thread.run_sync(
        lambda: record(
            ctx.store,
            who.user,
            case=case,
            purpose=purpose,
            error=exc,
            parameters={"model_id": ctx.workers.model_id},
            **fields,
        )
    )


async def verify(
    ctx: Context,
    who: Principal,
    a: UploadFile,
    b: UploadFile,
    *,
    case: str | None,
    purpose: str | None,
    threshold: float | None,
    max_fmr: float | None,
) -> dict[str, Any]:
    """Compare two uploaded photos 1:1 (checked here). Every attempt that names its case and
    purpose is logged: a refused upload here, anything later by usage."""
    check_case(case, purpose, required=True)
    names = (upload_label(a), upload_label(b))
    try:
        data_a = await read_image(a, ctx, "first photo")
        data_b = await read_image(b, ctx, "second photo")
    except FaceSearchError as exc:
        ctx.metrics.inc("facesearch_verifications_total", outcome="error")
        await _log_failure(ctx, who, record_failed_verify, exc, case=case, purpose=purpose)
        raise

    def run(engine: Engine) -> dict[str, Any]:
        result, entry = audited_verify(
            engine,
            ctx.store,
            who.user,
            case=case,
            purpose=purpose,
            a=data_a,
            b=data_b,
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
    """Record a verdict on a candidate of a search the user may see (404 otherwise; 409
    ``erased`` for a candidate face erased since)."""
    try:
        chosen = Verdict(verdict)
    except ValueError as exc:
        raise InputError("verdict must be possible_match or rejected") from exc

    def run(catalog: Catalog) -> dict[str, Any]:
        state = decide_on_candidate(catalog, ctx.store, who.user, seq, face_id, chosen, note or "")
        search_out = _search_view(ctx, catalog, ctx.store.audit.get(seq))
        return views.candidate_state_view(search_out, face_id, state, who.name)

    out = await ctx.workers.on_catalog(run)
    ctx.metrics.inc("facesearch_decisions_total", verdict=chosen.value)
    return out


# --- reads of personal data: scoped, rate-limited, logged ----------------------------------------


def take_read(ctx: Context, who: Principal) -> None:
    """Count one read of personal data against the user's budget (429 when spent)."""
    wait = ctx.reads.take(who.name)
    if wait > 0:
        raise RateLimitedError(
            f"too many reads of personal data: at most {ctx.reads.per_minute} a minute",
            retry_after=retry_seconds(wait),
        )


def _shown_face_ids(search_out: dict[str, Any], face: int | None) -> list[int]:
    """The candidate face ids a view of the search shows (all its faces, or probe face
    ``face`` alone when it has one), in the order shown."""
    faces = search_out.get("faces", [])
    shown = [f for f in faces if face is None or f.get("face") == face] or faces
    return [int(c["face_id"]) for f in shown for c in f.get("candidates", [])]


async def read_search(
    ctx: Context, who: Principal, seq: int, what: str = "search", face: int | None = None
) -> dict[str, Any]:
    """A search the user may see: one read, logged under its case, naming the candidate
    face ids shown (those of probe face ``face`` alone when given). The images such a view
    shows (probe, probe crops, candidates' crops and files reached with ``?search=``) are
    part of this read: not charged or logged again."""
    take_read(ctx, who)

    def run(catalog: Catalog) -> dict[str, Any]:
        entry = visible_search(ctx.store, who.user, seq)
        out = _search_view(ctx, catalog, entry)
        face_ids = _shown_face_ids(out, face)
        audited_read(ctx.store, who.user, what, search=entry, face_ids=face_ids)
        return out

    return await ctx.workers.on_catalog(run)


async def read_candidate(
    ctx: Context, who: Principal, seq: int, face_id: int, what: str = "candidate"
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(candidate with its review, its search) of a search the user may see, logged."""
    take_read(ctx, who)

    def run(catalog: Catalog) -> tuple[dict[str, Any], dict[str, Any]]:
        entry = visible_search(ctx.store, who.user, seq)
        search_out = _search_view(ctx, catalog, entry)
        state = ctx.store.decisions.state(seq, face_id)
        out = views.candidate_state_view(search_out, face_id, state, who.name)
        audited_read(ctx.store, who.user, what, search=entry, face_id=face_id)
        return out, search_out

    return await ctx.workers.on_catalog(run)


async def candidate(ctx: Context, who: Principal, seq: int, face_id: int) -> dict[str, Any]:
    out, _ = await read_candidate(ctx, who, seq, face_id)
    return out


async def read_probe(ctx: Context, who: Principal, seq: int, face: int | None = None) -> bytes:
    """The kept probe image of a search the user may see, or a JPEG crop of one of its
    faces. Part of the read of the search (its page or record, one logged read): neither
    charged nor logged again; 404, as for a search that does not exist, to anyone else."""
    settings = ctx.settings

    def run() -> bytes:
        entry = visible_search(ctx.store, who.user, seq)
        sha = str(entry.payload.get("probe_sha256") or "")
        try:
            data = ctx.store.probes.get(sha) if sha else b""
        except NotFoundError:
            data = b""
        if not data:
            raise NotFoundError("the probe image is no longer kept (retention period over)")
        if face is None:
            return data
        for pf in entry.payload.get("probe_faces", []):
            if pf.get("face") == face and pf.get("bbox"):
                return crop(data, BBox(*[float(v) for v in pf["bbox"]]), settings)
        raise NotFoundError(f"search {seq} has no probe face {face}")

    return await anyio.to_thread.run_sync(run)


async def read_gallery(
    ctx: Context,
    who: Principal,
    what: str,
    make: Callable[[Catalog], T],
    *,
    case: str | None = None,
    search: int | None = None,
    **ids: Any,
) -> T:
    """``make(catalog)``, a read of ``what`` (face, face_crop, image, image_file, subject)
    with ``ids``: one of the reader's reads, logged under ``case`` as the reader gave it, or
    none. With ``search``: a candidate's crop or file reached from that search's view (the
    user must be able to see the search, and the face or image must be one of its
    candidates; 404 otherwise), part of the read of that search, which named its candidates:
    neither charged nor logged again."""
    if search is None:
        require(who.user, Permission.READ_GALLERY)  # auditors reach candidates via a search
        take_read(ctx, who)
    check_case(case, None, required=False)

    def run(catalog: Catalog) -> T:
        if search is None:
            out = make(catalog)
            audited_read(ctx.store, who.user, what, case=case, **ids)
            return out
        entry = visible_search(ctx.store, who.user, search)
        listed = [
            c["face_id"]
            for c in entry.payload.get("candidates", [])
            if isinstance(c.get("face_id"), int)
        ]
        if "face_id" in ids and ids["face_id"] not in listed:
            raise NotFoundError(f"face {ids['face_id']} is not a candidate of search {search}")
        if "image_id" in ids and ids["image_id"] not in {r.image_id for r in catalog.faces(listed)}:
            raise NotFoundError(f"image {ids['image_id']} holds no candidate of search {search}")
        if not {"face_id", "image_id"} & ids.keys():
            raise NotFoundError(f"a {what} is not a candidate of search {search}")
        return make(catalog)

    return await ctx.workers.on_catalog(run)


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
                "outcome": e.payload.get("outcome", "ok"),
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
    out = await workers.on_engine(run)
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
    # names checked now (422), not when the job runs
    collection = check_name((collection or "default").strip(), "collection")
    subject = subject.strip() if subject and subject.strip() else None
    if subject is not None:
        check_name(subject, "subject")
    job = ctx.jobs.new(who.name, collection, label_from_dir, subject)
    try:
        for n, upload in enumerate(files, start=1):
            await upload.seek(0)
            head = await upload.read(512)
            kind = sniff_ingest(head)
            if kind == "image":
                await upload.seek(0)
                fmt, _, _ = sniff_image(await upload.read(), ctx.settings.limits.max_pixels)
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
