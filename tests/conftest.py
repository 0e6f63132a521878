"""Shared fixtures. Real models, real LFW photos; edge-case images are made from LFW here."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from facesearch.settings import Settings

REPO = Path(__file__).resolve().parent.parent


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
