"""Fixtures of the operation tests: a fresh copy of the fake gallery (tests/fakes.py) with
users, an engine and a store on it, and probe photos of the synthetic people."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.fakes import FakePipeline, write_photo

from facesearch.accountability import AccountabilityStore
from facesearch.engine import Engine


@pytest.fixture()
def home(fake_homes: Any, request: pytest.FixtureRequest) -> Any:
    """A fresh copy of the fake gallery, named after the test module."""
    return fake_homes(request.module.__name__.rsplit(".", 1)[-1])


@pytest.fixture()
def engine(home: Any, fake_pipeline: FakePipeline) -> Iterator[Engine]:
    e = Engine(home.settings, pipeline=fake_pipeline)
    yield e
    e.catalog.close()


@pytest.fixture()
def probe_photo(tmp_path: Path) -> Any:
    """probe_photo(person, shot=0): a photo file of a person; shot 0 is never in the gallery."""

    def get(person: int, shot: int = 0) -> Path:
        return write_photo(tmp_path / "probes", person, shot)

    return get


@pytest.fixture()
def store(home: Any) -> Iterator[AccountabilityStore]:
    with AccountabilityStore.open(home.home) as s:
        yield s
