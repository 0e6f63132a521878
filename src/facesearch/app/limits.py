"""Which rate limiter the server uses: one shared by every replica when the deployment has
PostgreSQL (``sqlstore/rate_limits.py``), else the server's own in-memory buckets."""

from __future__ import annotations

from typing import Protocol

from facesearch.settings import Settings
from facesearch.sqlstore import database_target


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
