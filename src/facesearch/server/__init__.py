"""The HTTP server: JSON API under ``/api/v1`` and the web pages, over one facesearch home.

    from facesearch.server import create_app
    app = create_app(Settings.from_env())      # then: uvicorn.run(app) or `facesearch serve`

Layout (by resource and concern, one file each):

    app.py           create_app: middleware, error handler, routers, lifespan
    auth.py          sessions, API tokens, CSRF, permissions, rate limit (via app.sessions)
    deps.py          the role dependencies every route declares (Searcher, Admin, ...)
    errors.py        the one error shape and the one handler
    limits.py        upload size and type, pixel count, rate, timeout, security headers
    workers.py       analysis / engine / catalog / ingest lanes (inference never on the loop)
    services.py      what the API and the pages both do, through facesearch.app
    views.py         the JSON resource shapes (the API contract)
    rendering.py     what every page shares (templates/, static/)
    media.py         the type and displayed size of image bytes served
    jobs.py          ingest by upload, as background jobs
    metrics.py       Prometheus text
    routes/          one module per resource, serving its JSON and its page (routes/__init__)
"""

from facesearch.server.app import create_app

__all__ = ["create_app"]
