"""The HTTP server: JSON API under ``/api/v1`` and the web pages, over one facesearch home.

    from facesearch.server import create_app
    app = create_app(Settings.from_env())      # then: uvicorn.run(app) or `facesearch serve`

Layout (by resource and concern, one file each):

    app.py           create_app: middleware, error handler, routers, lifespan
    auth.py          sessions, API tokens, CSRF, permissions, rate limit
    errors.py        the one error shape and the one handler
    limits.py        upload size and type, pixel count, rate, timeout, security headers
    workers.py       engine / catalog / ingest lanes (inference never on the event loop)
    services.py      what the API and the pages both do, through facesearch.app.usage
    views.py         the JSON resource shapes (the API contract)
    media.py         source images, face crops
    jobs.py          ingest by upload, as background jobs
    metrics.py       Prometheus text
    api_searches.py  /api/v1: detect, searches, candidates, decisions, verifications
    api_gallery.py   /api/v1: faces, images, subjects, collections, stats, erasures, ingest-jobs
    api_admin.py     /api/v1: users, me, audit, settings
    system.py        /health, /metrics, /openapi.json, /docs
    pages.py         the web pages (templates/, static/)
"""

from facesearch.server.app import create_app

__all__ = ["create_app"]
