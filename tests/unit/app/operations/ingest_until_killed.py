"""An ingest that waits to be killed, for ``test_ingest_abandoned.py``: it ingests the photos
under PHOTOS into the collection "killed" of the fake home HOME as admin1, two photos per
catalog transaction, and once two transactions are committed it creates the file READY and
sleeps, for the test to kill it with SIGKILL.

    python -m tests.unit.app.operations.ingest_until_killed HOME CACHE PHOTOS READY
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from tests.fakes import FakePipeline

import facesearch.gallery.ingest as gallery_ingest
from facesearch.accountability import AccountabilityStore
from facesearch.app import IngestRequest, ingest
from facesearch.engine import Engine
from facesearch.gallery.ingest import IngestSummary
from facesearch.settings import Settings

COMMITTED = 4  # photos committed when it waits: two transactions of two
COLLECTION = "killed"


def main(home: Path, cache: Path, photos: Path, ready: Path) -> None:
    gallery_ingest.COMMIT_EVERY = 2
    settings = Settings.from_env(env={}, cache_dir=cache, home=home, lfw_dir=Path("/nonexistent"))
    engine = Engine(settings, pipeline=FakePipeline(settings))
    store = AccountabilityStore.open(home)
    analysed = 0

    def progress(summary: IngestSummary) -> None:
        nonlocal analysed
        analysed += 1
        if analysed > COMMITTED:  # the fifth photo's batch is not committed
            ready.touch()
            time.sleep(600)

    request = IngestRequest((photos,), collection=COLLECTION)
    ingest(engine, store, store.accounts.get_user("admin1"), request, progress)
    raise SystemExit("the ingest ended before it was killed")


if __name__ == "__main__":
    main(*(Path(arg) for arg in sys.argv[1:5]))
