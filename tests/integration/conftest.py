"""Fixtures for the server and usage tests: a small real gallery, users, a live server.

The gallery (40 LFW photos of 8 people, image 0010 of each held out as a probe) is ingested
once per session into a template home; each test module that changes things gets a copy.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.homes import Home, live_server, make_home

from facesearch.settings import Settings

PEOPLE = [
    "Colin_Powell",
    "Tony_Blair",
    "Donald_Rumsfeld",
    "Gerhard_Schroeder",
    "Ariel_Sharon",
    "Hugo_Chavez",
    "Serena_Williams",
    "Jean_Chretien",
]
PER_PERSON = 5


def photo(lfw: Path, person: str, number: int) -> Path:
    return lfw / "lfw-deepfunneled" / person / f"{person}_{number:04d}.jpg"


def probe(lfw: Path, person: str) -> Path:
    """A held-out photo of a person in the gallery."""
    return photo(lfw, person, 10)


@pytest.fixture(scope="session")
def gallery_template(settings: Settings, pipeline, lfw: Path, tmp_path_factory):  # type: ignore[no-untyped-def]
    """A home with the 40-photo gallery ingested (through the app layer, by the local actor)."""
    from facesearch.accountability import AccountabilityStore, local_actor
    from facesearch.app import IngestRequest, ingest
    from facesearch.engine import Engine

    home = tmp_path_factory.mktemp("gallery-template")
    paths = [photo(lfw, p, n) for p in PEOPLE for n in range(1, PER_PERSON + 1)]
    engine = Engine(settings.replace(home=home), pipeline=pipeline)
    try:
        with AccountabilityStore.open(home) as store:
            request = IngestRequest(tuple(paths), label_from_dir=True)
            summary = ingest(engine, store, local_actor("tester"), request).summary
    finally:
        engine.catalog.close()
    assert summary.images_added == len(paths), summary.as_dict()
    return home


@pytest.fixture(scope="session")
def server_home(gallery_template: Path, settings: Settings, tmp_path_factory):  # type: ignore[no-untyped-def]
    """make(name, **setting_overrides) -> Home: a fresh copy of the gallery with users."""

    def make(name: str, **overrides: object) -> Home:
        return make_home(
            gallery_template, tmp_path_factory.mktemp(name) / "home", settings, **overrides
        )

    return make


@pytest.fixture(scope="session")
def serve():  # type: ignore[no-untyped-def]
    """serve(settings): a context manager running a real uvicorn server; yields its URL."""
    return live_server


@pytest.fixture(scope="session")
def probe_photo(lfw: Path):  # type: ignore[no-untyped-def]
    """probe_photo(person, number=10): a photo of a person; number 10 is never in the gallery."""

    def get(person: str, number: int = 10) -> Path:
        return photo(lfw, person, number)

    return get


@pytest.fixture(scope="module")
def ray_address() -> Iterator[str]:
    """A real local Ray cluster of 2 CPUs (``ray.init(num_cpus=2)``), started once for the
    module that asks for it; its address is what ``--ray ADDRESS`` takes."""
    ray = pytest.importorskip("ray", reason="SKIPPED LOUDLY: ray missing (the test extra)")
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        logging_level=logging.ERROR,
        log_to_driver=False,
    )
    try:
        yield str(ray.get_runtime_context().gcs_address)
    finally:
        ray.shutdown()
