"""The server's state that every replica must share when the deployment has PostgreSQL: rate
limit buckets (``sqlstore/rate_limits.py``), erasure drafts (``sqlstore/drafts.py``) and the
state of upload ingest jobs (``sqlstore/jobs.py``); the embedded server keeps them in its own
memory."""

from __future__ import annotations

from typing import Any, Protocol

from facesearch.settings import Settings
from facesearch.sqlstore import database_target
from facesearch.sqlstore.drafts import Draft, not_found

__all__ = [
    "Draft",
    "Drafts",
    "JobBoard",
    "Limiter",
    "not_found",
    "shared_drafts",
    "shared_job_board",
    "shared_limiter",
]


class Limiter(Protocol):
    """Takes one token for a key: 0.0 if allowed, else the seconds until one is there."""

    per_minute: int

    def take(self, key: str) -> float: ...


def shared_limiter(settings: Settings, scope: str, per_minute: int) -> Limiter | None:
    """A limiter over the deployment's PostgreSQL (``scope`` names its buckets), or None
    when the deployment is embedded (the caller then keeps its buckets in memory)."""
    target = database_target(settings.database_url)
    if not target.is_postgres:
        return None
    from facesearch.sqlstore.rate_limits import SharedRateLimiter

    return SharedRateLimiter(target.url, scope, per_minute)


class Drafts(Protocol):
    """Photos held between an erasure's preview and its confirmation (``server/drafts.py``)."""

    def put(self, owner: str, photo: bytes, max_fmr: float | None) -> str: ...

    def take(self, token: str, owner: str) -> Draft: ...


def shared_drafts(settings: Settings) -> Drafts | None:
    """Drafts in the deployment's PostgreSQL, or None when it is embedded."""
    target = database_target(settings.database_url)
    if not target.is_postgres:
        return None
    from facesearch.sqlstore.drafts import SharedDrafts

    return SharedDrafts(target.url)


class JobBoard(Protocol):
    """Where each replica publishes its ingest jobs' views and reads the others'."""

    def publish(self, view: dict[str, Any]) -> None: ...

    def get(self, job_id: str) -> dict[str, Any] | None: ...

    def recent(self, limit: int) -> list[dict[str, Any]]: ...


def shared_job_board(settings: Settings) -> JobBoard | None:
    """The job board in the deployment's PostgreSQL, or None when it is embedded."""
    target = database_target(settings.database_url)
    if not target.is_postgres:
        return None
    from facesearch.sqlstore.jobs import SharedJobBoard

    return SharedJobBoard(target.url)
