"""What the API and the pages both do, written once, as the server's adapter over ``app/``:
each function checks the upload, runs the app operation in the right worker lane (engine,
analysis or catalog thread), counts it, and returns a resource (``views.py``). Routes parse
the request and shape the answer; nothing here touches a store, ``app/`` does."""

from __future__ import annotations

import time
from typing import Any, TypeVar

import anyio
from fastapi import UploadFile

from facesearch import app
from facesearch.accountability import Permission
from facesearch.app import gallery as app_gallery
from facesearch.app import people as app_people
from facesearch.app import review as app_review
from facesearch.app.handles import Gallery
from facesearch.engine import Engine
from facesearch.errors import FaceSearchError, InputError, NotFoundError
from facesearch.server import views
from facesearch.server.auth import Principal
from facesearch.server.context import Context
from facesearch.server.errors import RateLimitedError, ServerError
from facesearch.server.limits import retry_seconds, sniff_image
from facesearch.server.upload_names import upload_label
from facesearch.types import BBox

__all__ = [
    "candidate",
    "decide",
    "detect",
    "load_search",
    "pending",
    "read_candidate",
    "read_image",
    "read_probe",
    "read_search",
    "read_sized_image",
    "recent_searches",
    "search",
    "take_read",
    "upload_label",
    "verify",
]

T = TypeVar("T")


async def read_image(upload: UploadFile | None, ctx: Context, what: str = "photo") -> bytes:
    """The bytes of an uploaded image, checked (415 not an image, 413 too many pixels)."""
    return (await read_sized_image(upload, ctx, what))[0]


async def read_sized_image(
    upload: UploadFile | None, ctx: Context, what: str = "photo"
) -> tuple[bytes, int]:
    """``read_image`` and the image's width x height, read from its header by the check."""
    if upload is None:
        raise InputError(f"a {what} is required")
    data = await upload.read()
    if not data:
        raise InputError(f"the {what} is empty")
    _, width, height = sniff_image(data, ctx.settings.limits.max_pixels, upload_label(upload))
    return data, width * height


# --- detect, search, verify ----------------------------------------------------------------


async def detect(
    ctx: Context, who: Principal, data: bytes, name: str = app.UPLOADED_PHOTO
) -> dict[str, Any]:
    faces, found = await ctx.workers.on_analysis(
        lambda p: app.detect(p, ctx.settings, who.user, data, name), user=who.name
    )
    return {
        "width": faces.width,
        "height": faces.height,
        "main": faces.main,
        "faces": [f.as_json() for f in found],
    }


async def search(
    ctx: Context, who: Principal, image: UploadFile | None, request: app.SearchRequest
) -> dict[str, Any]:
    """Search an uploaded probe: the upload is read and checked here and becomes the
    request's probe. Every attempt that names its case and purpose is logged: a refused
    upload or a failed analysis here, anything later by the app layer."""
    app.check_case(request.case, request.purpose, required=True)  # before queueing
    name = upload_label(image)
    started = time.monotonic()
    data: bytes | None = None
    try:
        data, pixels = await read_sized_image(image, ctx)
        analysed = await ctx.workers.analyse(data, name, user=who.name, pixels=pixels)
    except Exception as exc:
        ctx.metrics.inc("facesearch_searches_total", outcome="error")
        if isinstance(exc, FaceSearchError) and _is_attempt(exc, request.case, request.purpose):
            failed = _with(request, name=name)
            failure = app.Failure(exc, _model(ctx), [data] if data else [])
            await anyio.to_thread.run_sync(
                lambda: app.record_failed_search(ctx.store, who.user, failed, failure)
            )
        raise
    probe = data
    ready = _with(request, probe=probe, name=name)

    def run(engine: Engine) -> dict[str, Any]:  # answered as a read of it would be
        return views.search_view(
            app.search_answer(engine, ctx.store, who.user, ready, analysed=analysed)
        )

    try:
        answer = await ctx.workers.on_engine(run)
    except Exception:
        ctx.metrics.inc("facesearch_searches_total", outcome="error")
        raise
    ctx.metrics.inc("facesearch_searches_total", outcome="ok")
    ctx.metrics.observe_search(time.monotonic() - started)
    return await _with_persons(ctx, who, answer)


def _with(request: T, **changes: Any) -> T:
    from dataclasses import replace

    return replace(request, **changes)  # type: ignore[type-var]


def _model(ctx: Context) -> str:
    return ctx.workers.model_id


def _is_attempt(exc: FaceSearchError, case: str | None, purpose: str | None) -> bool:
    """A failed attempt to log: one that named its case and purpose (the app layer refuses
    those without, unlogged), and not the server being busy or rate-limiting (logging those
    would let a flood of refused requests flood the trail too)."""
    busy = isinstance(exc, ServerError) and exc.status in (429, 503)
    return bool(case and purpose) and not busy


async def _with_persons(ctx: Context, who: Principal, search: dict[str, Any]) -> dict[str, Any]:
    """A search resource with the person of each hit (``views.with_persons``)."""
    if not who.can(Permission.READ_GALLERY):
        return views.with_persons(search, None)
    ids = views.hit_face_ids(search)

    def persons(e: Engine) -> tuple[dict[int, int], dict[int, str | None]]:
        found = app_people.persons_of(e, ctx.store, who.user, ids)
        names = app_people.person_names(e, ctx.store, who.user, sorted(set(found.values())))
        return found, names

    return views.with_persons(search, *await ctx.workers.on_engine(persons))


async def load_search(ctx: Context, seq: int) -> dict[str, Any]:
    """A search resource, not logged as a read: the answer to its own search or verdict."""
    out = await ctx.workers.on_catalog(
        lambda catalog: app.load_search(ctx.store, catalog, ctx.workers.calibration, seq)
    )
    return views.search_view(out)


async def verify(
    ctx: Context,
    who: Principal,
    a: UploadFile | None,
    b: UploadFile | None,
    request: app.VerifyRequest,
) -> dict[str, Any]:
    """Compare two uploaded photos 1:1: the uploads are read and checked here and become the
    request's photos. Every attempt that names its case and purpose is logged: a refused
    upload here, anything later by the app layer."""
    app.check_case(request.case, request.purpose, required=True)
    names = (upload_label(a), upload_label(b))
    try:
        data_a = await read_image(a, ctx, "first photo")
        data_b = await read_image(b, ctx, "second photo")
    except FaceSearchError as exc:
        ctx.metrics.inc("facesearch_verifications_total", outcome="error")
        if _is_attempt(exc, request.case, request.purpose):
            failure = app.Failure(exc, _model(ctx))
            await anyio.to_thread.run_sync(
                lambda: app.record_failed_verify(ctx.store, who.user, request, failure)
            )
        raise
    ready = _with(request, a=data_a, b=data_b, names=names)

    def run(engine: Engine) -> dict[str, Any]:
        return app.verify(engine, ctx.store, who.user, ready).as_json()

    try:
        out = await ctx.workers.on_engine(run, analysis_by=who.name)
    except Exception:
        ctx.metrics.inc("facesearch_verifications_total", outcome="error")
        raise
    ctx.metrics.inc("facesearch_verifications_total", outcome="ok")
    return out


# --- decisions -----------------------------------------------------------------------------


async def decide(
    ctx: Context, who: Principal, seq: int, face_id: int, verdict: str, note: str | None
) -> dict[str, Any]:
    """Record a verdict on a candidate of a search the user may see (404 otherwise; 409
    ``erased`` for a candidate face erased since)."""
    request = app.DecideRequest(seq, face_id, verdict, note or "")
    chosen = request.chosen()

    def run(catalog: Gallery) -> dict[str, Any]:
        app.decide(catalog, ctx.store, who.user, request)
        out = app.load_search(ctx.store, catalog, ctx.workers.calibration, seq, who.user)
        return views.candidate_state_view(out, face_id, who.name)

    result = await ctx.workers.on_catalog(run)
    ctx.metrics.inc("facesearch_decisions_total", verdict=chosen.value)
    return result


async def pending(ctx: Context, who: Principal) -> list[dict[str, Any]]:
    """Candidates marked possible match by someone else, waiting for ``who`` as the second
    person."""
    found = await ctx.workers.on_catalog(lambda catalog: app.pending(catalog, ctx.store, who.user))
    return [views.pending_view(p) for p in found]


async def recent_searches(ctx: Context, who: Principal, limit: int = 10) -> list[dict[str, Any]]:
    found = await anyio.to_thread.run_sync(lambda: app.recent_searches(ctx.store, who.user, limit))
    return [r.as_json() for r in found]


# --- reads of personal data: scoped, rate-limited, logged ----------------------------------


def take_read(ctx: Context, who: Principal) -> None:
    """Count one read of personal data against the user's budget (429 when spent)."""
    wait = ctx.reads.take(who.name)
    if wait > 0:
        raise RateLimitedError(
            f"too many reads of personal data: at most {ctx.reads.per_minute} a minute",
            retry_after=retry_seconds(wait),
        )


async def read_search(
    ctx: Context, who: Principal, seq: int, what: str = "search", face: int | None = None
) -> dict[str, Any]:
    """A search the user may see: one read, logged under its case, naming the candidate
    face ids shown (those of probe face ``face`` alone when given). The images such a view
    shows are part of this read: not charged or logged again."""
    take_read(ctx, who)
    out = await ctx.workers.on_catalog(
        lambda catalog: app.read_search(
            ctx.store, catalog, ctx.workers.calibration, who.user, seq, what=what, face=face
        )
    )
    return await _with_persons(ctx, who, views.search_view(out))


async def read_candidate(
    ctx: Context, who: Principal, seq: int, face_id: int, what: str = "candidate"
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(candidate state, its search) of a search the user may see, logged."""
    take_read(ctx, who)
    out = await ctx.workers.on_catalog(
        lambda catalog: app.read_candidate(
            ctx.store, catalog, ctx.workers.calibration, who.user, seq, face_id, what=what
        )
    )
    search = views.search_view(out)
    return views.candidate_state_view(out, face_id, who.name, search), search


async def decide_refusal(ctx: Context, who: Principal, case: str | None) -> str | None:
    """Why ``who`` may not give verdicts under ``case`` (None: they may); not logged."""
    return await anyio.to_thread.run_sync(
        lambda: app_review.decide_refusal(ctx.store, who.user, case)
    )


async def candidate(ctx: Context, who: Principal, seq: int, face_id: int) -> dict[str, Any]:
    out, _ = await read_candidate(ctx, who, seq, face_id)
    return out


async def read_probe(ctx: Context, who: Principal, seq: int, face: int | None = None) -> bytes:
    """The kept probe image of a search the user may see, or a JPEG crop of one of its
    faces. Part of the read of the search: neither charged nor logged again; 404, as for a
    search that does not exist, to anyone else."""

    def run() -> bytes:
        data, entry = app.probe_of(ctx.store, who.user, seq)
        if face is None:
            return data
        for pf in entry.payload.get("probe_faces", []):
            if pf.get("face") == face and pf.get("bbox"):
                box = BBox(*[float(v) for v in pf["bbox"]])
                return app_gallery.crop(data, box, ctx.settings)
        raise NotFoundError(f"search {seq} has no probe face {face}")

    return await anyio.to_thread.run_sync(run)
