"""An erasure that waits to be killed, for ``test_erasure_killed.py``: the host's erasure like
a photo of person 0 in the fake home HOME; once its blocklist entry is in and its scan has
started, it creates the file READY and sleeps, for the test to kill it with SIGKILL.

    python -m tests.unit.app.operations.erase_until_killed HOME CACHE READY
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from tests.fakes import FakePipeline, face_photo

from facesearch.accountability import AccountabilityStore, local_actor
from facesearch.app import EraseRequest, erase
from facesearch.engine import Engine
from facesearch.settings import Settings


def main(home: Path, cache: Path, ready: Path) -> None:
    settings = Settings.from_env(env={}, cache_dir=cache, home=home, lfw_dir=Path("/nonexistent"))
    engine = Engine(settings, pipeline=FakePipeline(settings))
    store = AccountabilityStore.open(home)

    def scan(*args: Any, **kwargs: Any) -> list[int]:  # the scan, after the blocklist entry
        ready.touch()
        time.sleep(600)
        raise SystemExit("the erasure ended before it was killed")

    engine.faces_like = scan  # type: ignore[method-assign]
    erase(engine, store, local_actor("tester"), EraseRequest("DSR-9", like=face_photo(0, 9)))
    raise SystemExit("the erasure ended before it was killed")


if __name__ == "__main__":
    main(*(Path(arg) for arg in sys.argv[1:4]))
