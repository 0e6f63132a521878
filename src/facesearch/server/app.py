"""``create_app(settings)``: the FastAPI application, API and pages together.

Layers, outermost first: Starlette's server-error guard (500 in the one error shape), security
headers, request timeout, authentication and per-user rate limit (``auth.py``), body size
limit (``limits.py``), then the routes. The application owns one ``Context``: the
accountability store, the worker lanes with the engine, the ingest jobs and the metrics; they
are opened when the server starts and closed when it stops.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from facesearch import __version__
from facesearch.accountability import Permission
from facesearch.app import handles, trail
from facesearch.app.limits import Limiter, shared_drafts, shared_job_board, shared_limiter
from facesearch.app.local import PipelineFactory
from facesearch.core.calibration import describe_expected
from facesearch.errors import FaceSearchError
from facesearch.private import loose_modes
from facesearch.results import LEAD_NOTE
from facesearch.server import formatting
from facesearch.server.auth import CSRF_FIELD, AuthMiddleware, TrustedProxies
from facesearch.server.context import Context
from facesearch.server.drafts import PhotoDrafts
from facesearch.server.errors import handle_error
from facesearch.server.jobs import Jobs
from facesearch.server.limits import (
    BodyLimitMiddleware,
    RateLimiter,
    SecurityHeadersMiddleware,
    TimeoutMiddleware,
)
from facesearch.server.metrics import HttpMetricsMiddleware, Metrics
from facesearch.server.routes import ROUTERS
from facesearch.server.workers import Workers
from facesearch.settings import Settings

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
INGEST_PATHS = ("/api/v1/ingest-jobs", "/ingest")
HOUSEKEEPING_EVERY_S = 3600.0

DESCRIPTION = """Self-hosted face search. **A candidate is a lead for a person to check, never
an identification.** Log in with an API token: `Authorization: Bearer fs_...`
(`facesearch users token NAME`). Errors are `{"error": {"code", "message"}}`."""


def warn_loose_modes(settings: Settings) -> None:
    """Log a warning naming files or folders under the home that others may read."""
    loose = loose_modes(settings.home)
    if loose:
        log.warning(
            "files under %s hold biometric data but are readable by others (want 0600 files, "
            "0700 folders; fix with chmod -R go-rwx): %s",
            settings.home,
            ", ".join(loose),
        )


def create_app(
    settings: Settings, *, pipelines: PipelineFactory = handles.DEFAULT_PIPELINES
) -> FastAPI:
    """The application for the facesearch home in ``settings``; ``pipelines`` makes the
    face pipelines (tests give a fake one)."""
    os.umask(0o077)  # uploads, kept probes, index files: owner-only (issue 7, item 2)
    # a calibration file no search could be priced with is refused now, not in the
    # start-up after "serving at ..." (ConfigError: the CLI's exit 2)
    refused = handles.check_calibration(settings, pipelines)
    if refused is not None:
        log.warning("verify will refuse every request: %s", refused)
    warn_loose_modes(settings)
    store = trail.open_store(settings)  # with the settings' account policy
    key_file, anchor_file = trail.trail_files(settings)
    log.info("audit key %s, audit anchor %s", key_file, anchor_file)
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.filters["strangers"] = describe_expected
    formatting.register(templates.env)  # | when, | count
    templates.env.globals.update(
        version=__version__, P=Permission, csrf_field=CSRF_FIELD, lead_note=LEAD_NOTE
    )
    stop = threading.Event()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        workers = Workers(settings, pipelines)
        context = Context(
            settings=settings,
            store=store,
            workers=workers,
            jobs=Jobs(
                settings.home,
                settings.limits.max_file_bytes,
                settings.database_url,
                shared_job_board(settings),
            ),
            metrics=metrics,
            templates=templates,
            reads=_limiter(settings, "reads", settings.server.read_rate_limit),
            drafts=shared_drafts(settings) or PhotoDrafts(),
        )
        app.state.ctx = context
        workers.warm_up()
        purger = threading.Thread(
            target=_housekeeping, args=(settings, store, stop), name="fs-housekeeping", daemon=True
        )
        purger.start()
        try:
            yield
        finally:
            stop.set()
            workers.close()
            purger.join(timeout=5)
            store.close()

    app = FastAPI(
        title="facesearch",
        version=__version__,
        description=DESCRIPTION,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    app.state.templates = templates
    # OverflowError has its own entry so it is answered like the others (not re-raised)
    for kind in (
        FaceSearchError,
        RequestValidationError,
        StarletteHTTPException,
        OverflowError,
        Exception,
    ):
        app.add_exception_handler(kind, handle_error)
    app.add_middleware(
        BodyLimitMiddleware,
        limit=settings.server.max_upload_bytes,
        big_limit=settings.server.max_ingest_bytes,
        big_paths=INGEST_PATHS,
    )
    app.add_middleware(
        AuthMiddleware,
        store=store,
        limiter=_limiter(settings, "requests", settings.server.rate_limit),
        login_limiter=_limiter(settings, "logins", settings.server.login_rate_limit),
        trusted_proxies=TrustedProxies.parse(settings.server.trusted_proxies),
    )
    app.add_middleware(
        TimeoutMiddleware, seconds=settings.server.request_timeout, exempt=INGEST_PATHS
    )
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(HttpMetricsMiddleware, metrics=metrics)  # every answer, counted
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    for router in ROUTERS:
        app.include_router(router)
    return app


def _limiter(settings: Settings, scope: str, per_minute: int) -> Limiter:
    """Buckets shared by every replica (PostgreSQL) or this process's own."""
    return shared_limiter(settings, scope, per_minute) or RateLimiter(per_minute)


def _housekeeping(settings: Settings, store: handles.Store, stop: threading.Event) -> None:
    """At start and every hour: delete kept probe images past their retention period, and log
    the end of the ingest runs whose process died before it could (a server killed mid-job,
    or a CLI ingest)."""
    while True:
        try:
            n = handles.purge_expired_probes(store)
            if n:
                log.info("deleted %d probe image(s) past their retention period", n)
        except FaceSearchError as exc:
            log.warning("purging expired probe images failed: %s", exc)
        try:
            handles.log_abandoned_runs(settings, store)
        except FaceSearchError as exc:
            log.warning("looking for ingest runs whose process died failed: %s", exc)
        if stop.wait(HOUSEKEEPING_EVERY_S):
            return
