"""What every route reaches through ``request.app.state.ctx``: one object per server."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request
from fastapi.templating import Jinja2Templates

from facesearch.app.handles import Store
from facesearch.app.limits import Drafts, Limiter
from facesearch.server.drafts import PhotoDrafts
from facesearch.server.jobs import Jobs
from facesearch.server.metrics import Metrics
from facesearch.server.workers import Workers
from facesearch.settings import Settings


@dataclass
class Context:
    settings: Settings
    store: Store
    workers: Workers
    jobs: Jobs
    metrics: Metrics
    templates: Jinja2Templates
    reads: Limiter  # reads of personal data per user (settings.server.read_rate_limit)
    drafts: Drafts = field(default_factory=PhotoDrafts)  # erasures awaiting confirmation


def ctx(request: Request) -> Context:
    context: Context = request.app.state.ctx
    return context
