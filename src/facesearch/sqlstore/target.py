"""Where the SQL stores live: ``database_url`` (``FACESEARCH_DATABASE_URL``).

Unset: SQLite files in the home (the embedded default: ``catalog.sqlite`` and
``accountability.sqlite``). ``postgresql://USER[:PASSWORD]@HOST[:PORT]/DB`` (or
``postgres://``): one PostgreSQL database holding both stores, each in its own schema
(``facesearch_catalog`` and ``facesearch_accountability``), so that any number of processes
on any number of machines share one catalog, one set of accounts and one audit trail.
Anything else is a ConfigError naming what is accepted.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from facesearch.errors import ConfigError

SCHEMES = ("postgresql", "postgres")


@dataclass(frozen=True)
class DatabaseTarget:
    """``kind`` is ``sqlite`` (files in the home; ``url`` empty) or ``postgresql``."""

    kind: str
    url: str = ""

    @property
    def is_postgres(self) -> bool:
        return self.kind == "postgresql"

    def redacted(self) -> str:
        """The URL without its password, for logs, errors and ``stats``."""
        if not self.url:
            return "sqlite (files in the home)"
        parts = urlsplit(self.url)
        if parts.password is None:
            return self.url
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
        return parts._replace(netloc=netloc).geturl()


def database_target(url: str) -> DatabaseTarget:
    """Read ``database_url``; anything not understood is a ConfigError."""
    url = url.strip()
    if not url:
        return DatabaseTarget("sqlite")
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise ConfigError(
            "database_url must be unset (SQLite files in the home) or "
            f"postgresql://USER@HOST[:PORT]/DATABASE; got {DatabaseTarget('x', url).redacted()!r}"
        )
    try:
        parts.port  # noqa: B018 - validates the port
    except ValueError as exc:
        raise ConfigError(f"database_url: bad port in {url!r}") from exc
    if not parts.hostname and "host=" not in parts.query:
        raise ConfigError("database_url names no host: postgresql://USER@HOST[:PORT]/DATABASE")
    if not parts.path.strip("/"):
        raise ConfigError("database_url names no database: postgresql://USER@HOST/DATABASE")
    return DatabaseTarget("postgresql", url)
