"""The gallery's stores on both databases: ``open_catalog`` opens the catalog of the test's
home (``tmp_path``) in SQLite, or in a fresh PostgreSQL database of the session's throwaway
cluster, so that the same catalog tests (the store-level contract suite) run on both."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from facesearch.gallery.catalog import Catalog

CatalogOpener = Callable[[], Catalog]


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Empty (SQLite files in the home) or the URL of a fresh PostgreSQL database."""
    return str(request.getfixturevalue("pg_url")) if request.param == "postgresql" else ""


@pytest.fixture
def open_catalog(tmp_path: Path, database_url: str) -> CatalogOpener:
    """Opens the test's catalog (the same one at every call) on the parametrised database."""
    return lambda: Catalog.open_home(tmp_path, database_url)
