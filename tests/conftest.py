"""Shared fixtures. Real models, real LFW photos; edge-case images are made from LFW here.

The ``fake_*`` fixtures run the real application, CLI and server on the fake pipeline of
``tests/fakes.py`` (synthetic people, no model weights, no LFW)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from tests.fakes import FakePipeline, gallery_photos, install_fakes
from tests.homes import Home, copy_anchor, live_server, make_home
from tests.logging_lock import install as _lock_log_capture

from facesearch.pipeline import FacePipeline
from facesearch.settings import Settings

REPO = Path(__file__).resolve().parent.parent

_lock_log_capture()  # before the first test phase: see tests/logging_lock.py


def lfw_dir() -> Path:
    configured = os.environ.get("FACESEARCH_LFW_DIR")
    path = Path(configured) if configured else REPO.parent / "shared" / "data" / "lfw"
    return path.resolve()


@pytest.fixture(scope="session")
def lfw() -> Path:
    path = lfw_dir()
    if not (path / "lfw-deepfunneled").is_dir():
        pytest.skip(
            f"LFW DATA MISSING at {path}: set FACESEARCH_LFW_DIR to run the tests on real faces",
        )
    return path


@pytest.fixture(scope="session")
def lfw_image(lfw: Path):  # type: ignore[no-untyped-def]
    def get(name: str, number: int = 1) -> Path:
        return lfw / "lfw-deepfunneled" / name / f"{name}_{number:04d}.jpg"

    return get


@pytest.fixture(scope="session", autouse=True)
def _audit_keys_outside_the_real_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Audit keys and anchor files (defaults under XDG_CONFIG_HOME and XDG_STATE_HOME) go to a
    temporary folder for the whole session, never to the real ~/.config: one key for every
    test, as one user has. Subprocesses (CLI, server) inherit it."""
    base = tmp_path_factory.mktemp("xdg")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CONFIG_HOME", str(base / "config"))
        mp.setenv("XDG_STATE_HOME", str(base / "state"))
        mp.delenv("FACESEARCH_AUDIT_KEY_FILE", raising=False)
        mp.delenv("FACESEARCH_AUDIT_ANCHOR_FILE", raising=False)
        yield


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    shared = os.environ.get("FACESEARCH_TEST_CACHE")
    if shared:
        return Path(shared)
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="session")
def settings(cache_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings.from_env(
        env={},
        cache_dir=cache_dir,
        home=tmp_path_factory.mktemp("home"),
        lfw_dir=lfw_dir(),
    )


@pytest.fixture(scope="session")
def pipeline(settings: Settings) -> Iterator[object]:
    from facesearch.pipeline import FacePipeline

    p = FacePipeline(settings)
    yield p
    p.close()


# --- the fake pipeline (tests/fakes.py) -------------------------------------------------------


def _fake_settings(home: Path, cache: Path) -> Settings:
    return Settings.from_env(env={}, cache_dir=cache, home=home, lfw_dir=Path("/nonexistent"))


@pytest.fixture(scope="session")
def fake_pipeline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakePipeline]:
    """One pipeline on the fake detector and embedder, for the whole session."""
    base = tmp_path_factory.mktemp("fake-pipeline")
    p = FakePipeline(_fake_settings(base / "home", base / "cache"))
    yield p
    p.close()


@pytest.fixture
def fake_settings(tmp_path: Path) -> Settings:
    """Settings for an empty home under ``tmp_path``."""
    return _fake_settings(tmp_path / "home", tmp_path / "cache")


@pytest.fixture(scope="session")
def fake_photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The gallery's photos: ``person_N/shot_M.png`` (fakes.PEOPLE x fakes.GALLERY_SHOTS)."""
    folder = tmp_path_factory.mktemp("fake-photos")
    gallery_photos(folder)
    return folder


@pytest.fixture(scope="session")
def fake_gallery_template(
    fake_pipeline: FakePipeline, fake_photos: Path, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A home with the fake gallery ingested through the application layer by the local
    actor: collection "default", one subject per person (its folder's name); no users."""
    from facesearch.accountability import AccountabilityStore, local_actor
    from facesearch.app import IngestRequest, ingest
    from facesearch.engine import Engine

    home = tmp_path_factory.mktemp("fake-gallery") / "home"
    settings = fake_pipeline.settings.replace(home=home)
    paths = sorted(fake_photos.rglob("*.png"))
    engine = Engine(settings, pipeline=fake_pipeline)  # not closed: that closes the pipeline
    try:
        with AccountabilityStore.open(home) as store:
            request = IngestRequest(tuple(paths), label_from_dir=True)
            summary = ingest(engine, store, local_actor("tester"), request).summary
    finally:
        engine.catalog.close()
    assert summary.images_added == summary.faces_added == len(paths), summary
    return home


@pytest.fixture(scope="session")
def fake_homes(
    fake_gallery_template: Path,
    fake_pipeline: FakePipeline,
    tmp_path_factory: pytest.TempPathFactory,
) -> Callable[..., Home]:
    """make(name, users=True, trained=True, **setting_overrides) -> Home: a fresh copy of the
    fake gallery, with the users of tests/homes.USERS (ghost disabled), a token each and the
    training passed (not with trained=False), unless users=False (a home without accounts:
    the CLI then needs no case)."""

    def make(name: str, *, users: bool = True, trained: bool = True, **overrides: object) -> Home:
        dest = tmp_path_factory.mktemp(name) / "home"
        if users:
            return make_home(
                fake_gallery_template, dest, fake_pipeline.settings, trained=trained, **overrides
            )
        shutil.copytree(fake_gallery_template, dest)
        copy_anchor(fake_gallery_template, dest)
        return Home(fake_pipeline.settings.replace(home=dest, **overrides))

    return make


@pytest.fixture
def fake_gallery(fake_homes: Callable[..., Home]) -> Home:
    """A fresh copy of the fake gallery with users of every role and a token each."""
    return fake_homes("fake-gallery")


@pytest.fixture(scope="session")
def fake_server() -> Callable[[Settings], AbstractContextManager[str]]:
    """fake_server(settings): the real server (uvicorn, 127.0.0.1) on the fake pipeline, as
    a context manager that yields its URL."""

    def serve(settings: Settings) -> AbstractContextManager[str]:
        return live_server(settings, pipelines=FakePipeline)

    return serve


@pytest.fixture
def fake_models(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every FacePipeline made during the test (the CLI's, an Engine's) runs on the fakes."""
    real_init = FacePipeline.__init__

    def init(self: FacePipeline, *args: object, **kwargs: object) -> None:
        real_init(self, *args, **kwargs)  # type: ignore[arg-type]
        install_fakes(self)

    monkeypatch.setattr(FacePipeline, "__init__", init)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[object]:
    """A throwaway PostgreSQL cluster for the session (tests/pg_cluster.py); skips loudly when
    Debian's postgresql or psycopg is missing (scripts/test.sh installs both)."""
    pytest.importorskip("psycopg", reason="SKIPPED LOUDLY: psycopg missing (the test extra)")
    from facesearch.devcluster.postgres import PgCluster, find_bin, fresh_base

    if not find_bin("initdb"):
        pytest.skip("SKIPPED LOUDLY: PostgreSQL server binaries missing (apt install postgresql)")
    cluster = PgCluster(fresh_base())
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def pg_url(pg_cluster: object) -> str:
    """The URL of a fresh, empty PostgreSQL database on the session's cluster."""
    from facesearch.devcluster.postgres import PgCluster

    assert isinstance(pg_cluster, PgCluster)
    return pg_cluster.database()
