"""``facesearch ingest --ray`` on a real local Ray cluster (``ray.init(num_cpus=2)``, started
once for the module) with the real models on 40 LFW photos and one corrupt file: the same
faces and embeddings as the plain ingest, the corrupt file a recorded failure, and a driver
killed with SIGKILL mid-run then run again ends in the state of an uninterrupted run."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.integration.test_crash_resume import env_for, snapshot

from facesearch.gallery.catalog import Catalog
from facesearch.settings import Settings

pytestmark = [pytest.mark.lfw, pytest.mark.slow]

N_PHOTOS = 40
COMMIT_EVERY = 8  # images per catalog transaction in these runs (the CLI's default is 128)
ACTOR_BATCH = 4  # images per actor call in these runs (ray_ingest.BATCH is 16)
# The real CLI, with smaller catalog transactions and actor calls, so that results come in
# small steps and a run killed midway has committed some but not all: with 16 images a call,
# the 40 photos came back in three bursts and all 40 were sometimes committed before the kill.
CLI = (
    "import sys; import facesearch.gallery.ingest as ingest; "
    "import facesearch.gallery.ray_ingest as ray_ingest; "
    f"ingest.COMMIT_EVERY = {COMMIT_EVERY}; ray_ingest.BATCH = {ACTOR_BATCH}; "
    "from facesearch.cli import main; sys.exit(main())"
)


@dataclass(frozen=True)
class Run:
    home: Path
    summary: dict[str, Any]  # the --json output


@pytest.fixture(scope="module")
def listing(lfw: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A list file: 40 LFW photos and a file that is not an image."""
    folder = tmp_path_factory.mktemp("ray-sources")
    corrupt = folder / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0 not really a JPEG")
    photos = sorted((lfw / "lfw-deepfunneled").glob("*/*.jpg"))[:N_PHOTOS]
    path = folder / "list.txt"
    path.write_text("\n".join(map(str, [*photos, corrupt])))
    return path


def command(listing: Path, *extra: str) -> list[str]:
    return [sys.executable, "-c", CLI, "ingest", str(listing), "--label-from-dir", "--json", *extra]


def ingest(settings: Settings, home: Path, listing: Path, *extra: str) -> Run:
    done = subprocess.run(
        command(listing, *extra),
        env=env_for(settings, home),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return Run(home, json.loads(done.stdout.splitlines()[-1]))


@pytest.fixture(scope="module")
def plain_run(settings: Settings, listing: Path, tmp_path_factory: pytest.TempPathFactory) -> Run:
    return ingest(settings, tmp_path_factory.mktemp("plain") / "home", listing)


@pytest.fixture(scope="module")
def ray_run(
    settings: Settings, listing: Path, ray_address: str, tmp_path_factory: pytest.TempPathFactory
) -> Run:
    return ingest(settings, tmp_path_factory.mktemp("ray") / "home", listing, "--ray", ray_address)


def model_id() -> str:
    from facesearch.models.registry import BUILTIN

    return next(s for s in BUILTIN if s.name == "sface").model_id


def assert_same_state(got: Run, ref: Run) -> None:
    want, have = snapshot(ref.home, model_id()), snapshot(got.home, model_id())
    count = want["count"]
    assert isinstance(count, int) and count > N_PHOTOS * 0.9
    assert have["count"] == count
    assert have["images"] == want["images"]
    assert have["faces"] == want["faces"]
    keys = sorted(k for k, _, _ in want["faces"])  # type: ignore[attr-defined]
    assert have["index_keys"] == want["index_keys"] == keys
    want_vecs, have_vecs = want["vectors"], have["vectors"]
    assert isinstance(want_vecs, dict) and isinstance(have_vecs, dict)
    assert have_vecs.keys() == want_vecs.keys()
    for key, vec in want_vecs.items():
        np.testing.assert_allclose(have_vecs[key], vec, atol=1e-5)


COUNTS = ("images_seen", "images_added", "duplicates", "faces_added", "faces_blocked")


def test_ray_ingest_stores_what_the_plain_ingest_stores(plain_run: Run, ray_run: Run) -> None:
    assert ray_run.summary["images_added"] == N_PHOTOS
    assert {k: ray_run.summary[k] for k in COUNTS} == {k: plain_run.summary[k] for k in COUNTS}
    assert ray_run.summary["failed"] == plain_run.summary["failed"]
    assert_same_state(ray_run, plain_run)


def test_a_corrupt_image_is_a_recorded_failure_not_a_crash(ray_run: Run) -> None:
    (failure,) = ray_run.summary["failed"]
    assert failure["path"].endswith("corrupt.jpg")
    assert failure["code"] == "corrupt_image"
    with Catalog.open_home(ray_run.home) as catalog:
        (run,) = catalog.runs()
        assert run.status == "completed"
        assert [f.source for f in catalog.failures(run.id)] == [failure["path"]]


def committed_images(home: Path) -> int:
    try:
        with sqlite3.connect(f"file:{home / 'catalog.sqlite'}?mode=ro", uri=True) as conn:
            return int(conn.execute("SELECT count(*) FROM images").fetchone()[0])
    except sqlite3.Error:  # not created yet, or its schema not yet
        return 0


def test_kill_9_of_the_ray_driver_then_the_same_command_equals_an_uninterrupted_run(
    settings: Settings, listing: Path, ray_address: str, ray_run: Run, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    driver = subprocess.Popen(
        command(listing, "--ray", ray_address),
        env=env_for(settings, home),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 240
        while committed_images(home) < COMMIT_EVERY and driver.poll() is None:
            assert time.monotonic() < deadline, "no batch committed in 240 s"
            time.sleep(0.05)
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=30)
    finally:
        driver.kill()
    assert driver.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    at_kill = committed_images(home)
    assert COMMIT_EVERY <= at_kill < N_PHOTOS, at_kill

    resumed = ingest(settings, home, listing, "--ray", ray_address)

    assert resumed.summary["duplicates"] == at_kill  # skipped by their sha256, not analysed
    assert resumed.summary["images_added"] == N_PHOTOS - at_kill
    assert_same_state(resumed, ray_run)


@pytest.mark.filterwarnings("ignore::DeprecationWarning:ray.*")  # Ray's DataContext, in-process
def test_an_analysis_that_fails_on_ray_is_one_error_not_a_ray_traceback(
    settings: Settings, ray_address: str, lfw_image: Any
) -> None:
    from facesearch.errors import ModelError
    from facesearch.gallery.ray_ingest import RayAnalyser, RayOptions
    from facesearch.pipeline import Decodable

    path = lfw_image("Aaron_Eckhart")
    unknown_model = settings.replace(embedder="no_such_model")  # the actors cannot load it
    analyser = RayAnalyser(unknown_model, RayOptions(ray_address))
    with pytest.raises(ModelError, match="run the same command again to resume"):
        list(analyser([Decodable(str(path), path.read_bytes())]))


def pg_images(url: str) -> int:
    import psycopg

    try:
        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT count(*) FROM facesearch_catalog.images").fetchone()
            return int(row[0]) if row else 0
    except psycopg.Error:  # the schema not made yet
        return 0


def catalog_faces(home: Path, url: str) -> set[tuple[str, int, str | None]]:
    """(image sha256, face index, subject) of every face, in SQLite (``url`` empty) or not."""
    with Catalog.open_home(home, database_url=url) as catalog:
        out = set()
        for info in catalog.collections():
            for ids, _ in catalog.face_vectors([info.name], model_id()):
                for rec in catalog.faces(ids.tolist()):
                    out.add((catalog.image(rec.image_id).sha256, rec.face_index, rec.subject))
        return out


def test_kill_9_of_a_ray_ingest_into_postgresql_then_resume(
    settings: Settings,
    listing: Path,
    ray_address: str,
    ray_run: Run,
    pg_url: str,
    tmp_path: Path,
) -> None:
    """The distributed deployment's catalog (PostgreSQL): kill -9 of the Ray driver mid-run,
    the same command again, and the faces are those of the uninterrupted (embedded) run."""
    home = tmp_path / "home"
    env = {**env_for(settings, home), "FACESEARCH_DATABASE_URL": pg_url}
    driver = subprocess.Popen(
        command(listing, "--ray", ray_address),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 240
        while pg_images(pg_url) < COMMIT_EVERY and driver.poll() is None:
            assert time.monotonic() < deadline, "no batch committed in 240 s"
            time.sleep(0.05)
        driver.send_signal(signal.SIGKILL)
        driver.wait(timeout=30)
    finally:
        driver.kill()
    assert driver.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    at_kill = pg_images(pg_url)
    assert COMMIT_EVERY <= at_kill < N_PHOTOS, at_kill
    done = subprocess.run(
        command(listing, "--ray", ray_address), env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.splitlines()[-1])
    assert summary["duplicates"] == at_kill
    assert summary["images_added"] == N_PHOTOS - at_kill
    want = catalog_faces(ray_run.home, "")  # the embedded, uninterrupted run
    assert catalog_faces(home, pg_url) == want and len(want) > N_PHOTOS * 0.9
