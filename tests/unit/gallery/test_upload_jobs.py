"""Upload jobs: the cleanup after a job that died keeps the files the catalog holds, wherever
the catalog is (in the home, or in PostgreSQL for a replica)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

from facesearch.gallery.catalog import Catalog, NewImage
from facesearch.gallery.upload_jobs import LOCK, remove_leftovers
from facesearch.gallery.uploads import UPLOADS


def test_a_dead_jobs_leftovers_go_and_the_catalogs_sources_stay(
    tmp_path: Path, database_url: str, open_catalog: Callable[[], Catalog]
) -> None:
    job = tmp_path / UPLOADS / "0123456789abcdef"
    (job / "incoming").mkdir(parents=True)
    (job / LOCK).touch()  # its server died: nobody holds the lock
    ingested, leftover = job / "incoming" / "a.jpg", job / "incoming" / "b.jpg"
    ingested.write_bytes(b"a photo")
    leftover.write_bytes(b"never ingested")
    digest = hashlib.sha256(b"a photo").hexdigest()
    with open_catalog() as cat:
        cat.add_images("main", [NewImage(digest, str(ingested), 7, 1, 1)])

    assert remove_leftovers(tmp_path, 1 << 20, database_url) == 1
    assert ingested.read_bytes() == b"a photo" and not leftover.exists()
    assert not (job / LOCK).exists()
