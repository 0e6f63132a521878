"""Where the SQL stores live: ``database_url`` (``FACESEARCH_DATABASE_URL``).

Unset: SQLite files in the home (the embedded default: ``catalog.sqlite`` and
``accountability.sqlite``). ``postgresql://USER[:PASSWORD]@HOST[:PORT]/DB`` (or
``postgres://``): one PostgreSQL database holding both stores, each in its own schema
(``facesearch_catalog`` and ``facesearch_accountability``), so that any number of processes
on any number of machines share one catalog, one set of accounts and one audit trail.
Anything else is a ConfigError naming what is accepted.
"""

from __future__ import annotations

import re
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
        return without_password(self.url)


# Query parameters that carry a secret: libpq takes every connection parameter in a URL's
# query too (postgresql://USER@HOST/DB?password=...; sslpassword: the client key's passphrase).
_SECRET_PARAMETER = re.compile(r"(?i)(^|&)((?:ssl)?password=)[^&]*")


def without_password(url: str) -> str:
    """``url`` with its password (``scheme://USER:PASSWORD@HOST``, or a ``password`` or
    ``sslpassword`` query parameter) shown as ***: for logs, errors, ``stats`` and the
    settings an admin reads (``database_url``, ``vectors_url``)."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return url
    netloc = parts.netloc.replace(f":{password}@", ":***@", 1) if password else parts.netloc
    query = _SECRET_PARAMETER.sub(r"\1\2***", parts.query)
    if (netloc, query) == (parts.netloc, parts.query):
        return url
    return parts._replace(netloc=netloc, query=query).geturl()


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
