"""The erasure-like scan on a real local Ray cluster (``ray.init(num_cpus=2)``, started once
for the module): on a catalog of 3,000 random unit vectors with near matches of the probe
planted in two of three collections, ids with gaps and exact copies of the probe (ties),
``faces_at_least_on_ray`` returns exactly ``Catalog.faces_at_least``'s list, in SQLite and
PostgreSQL, whatever the collections and the number of ranges; nothing to scan is an empty
list; a worker that would scan another catalog, or none, fails the scan; and ``facesearch
forget --like PHOTO --ray ADDRESS`` erases the faces the same command without ``--ray`` does."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.fakes import gallery_photos, write_photo
from tests.homes import Ran, run_cli

from facesearch.errors import CatalogError, NotFoundError
from facesearch.gallery.catalog import Catalog, NewFace, NewImage
from facesearch.gallery.ray_scan import RayScan, faces_at_least_on_ray
from facesearch.settings import Settings
from facesearch.types import BBox

pytestmark = [pytest.mark.slow]

MODEL, DIM = "test-model", 128
RANDOM = 3_000
THRESHOLD = 0.5


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.normal(size=(n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def near(rng: np.random.Generator, probe: np.ndarray, n: int) -> np.ndarray:
    """``n`` faces at cosine 0.4 to 0.95 to ``probe`` (some under the threshold)."""
    away = unit(rng, n)
    away -= np.outer(away @ probe, probe)
    away /= np.linalg.norm(away, axis=1, keepdims=True)
    cos = np.linspace(0.4, 0.95, n)[:, None]
    return (cos * probe + np.sqrt(1 - cos**2) * away).astype(np.float32)


def add(cat: Catalog, collection: str, vectors: np.ndarray, start: int) -> int:
    box, points = BBox(10, 10, 50, 50), ((1.0, 1.0),) * 5
    for lo in range(0, len(vectors), 1000):
        cat.add_images(
            collection,
            [
                NewImage(
                    sha256=f"{start + lo + i:064x}",
                    source=f"img{start + lo + i}.jpg",
                    size_bytes=1,
                    width=100,
                    height=100,
                    faces=(NewFace(0, box, points, 0.9, {"size": 50.0}, MODEL, v),),
                )
                for i, v in enumerate(vectors[lo : lo + 1000])
            ],
        )
    return start + len(vectors)


@pytest.fixture(params=["sqlite", "postgresql"])
def settings_of(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    url = str(request.getfixturevalue("pg_url")) if request.param == "postgresql" else ""
    return Settings.from_env(env={}, home=tmp_path / "home", database_url=url)


@pytest.fixture
def probe() -> np.ndarray:
    return unit(np.random.default_rng(1), 1)[0]


@pytest.fixture
def catalog(settings_of: Settings, probe: np.ndarray) -> Any:
    rng = np.random.default_rng(2)
    with Catalog.open_home(settings_of.home, settings_of.database_url) as cat:
        n = add(cat, "a", unit(rng, RANDOM // 2), 0)
        n = add(cat, "b", near(rng, probe, 40), n)
        n = add(cat, "a", np.repeat(probe[None, :], 2, axis=0), n)  # ties: by id
        n = add(cat, "c", unit(rng, RANDOM // 2), n)
        n = add(cat, "a", near(rng, probe, 40), n)
        n = add(cat, "b", np.repeat(probe[None, :], 2, axis=0), n)
        cat.add_images("empty", [])
        ids = next(cat.face_vectors(None, MODEL))[0].tolist()
        cat.delete_faces(ids[:3] + ids[700:900] + ids[1500:1520] + ids[-1:])  # gaps
        yield cat


@pytest.mark.parametrize("ranges", [None, 7, 64])
def test_the_ray_scan_is_the_single_process_scan(
    ray_address: str, settings_of: Settings, catalog: Catalog, probe: np.ndarray, ranges: Any
) -> None:
    options = RayScan(ray_address, ranges=ranges)
    # at 0.0 about half the faces pass: the first and last ids of most ranges among them
    for threshold in (THRESHOLD, 0.0):
        for collections in (None, ["a"], ["b", "c"], ["c"], ["a", "b", "c", "empty"]):
            want = catalog.faces_at_least(collections, MODEL, probe, threshold)
            got = faces_at_least_on_ray(
                options, settings_of, catalog, collections, MODEL, probe, threshold
            )
            assert got == want, (threshold, collections)
    everything = catalog.faces_at_least(None, MODEL, probe, THRESHOLD)
    assert 50 < len(everything) < 80  # the planted faces above 0.5, and no random one
    assert everything[:3] == sorted(everything[:3])  # the copies left, tied at the top


def test_nothing_to_scan_is_an_empty_list_and_an_unknown_collection_is_not_found(
    ray_address: str, settings_of: Settings, catalog: Catalog, probe: np.ndarray
) -> None:
    options = RayScan(ray_address)

    def scan(collections: Any, model: str = MODEL, threshold: float = THRESHOLD) -> list[int]:
        return faces_at_least_on_ray(
            options, settings_of, catalog, collections, model, probe, threshold
        )

    assert scan([]) == [] == catalog.faces_at_least([], MODEL, probe, THRESHOLD)
    assert scan(["empty"]) == [] == catalog.faces_at_least(["empty"], MODEL, probe, THRESHOLD)
    assert scan(None, threshold=1.01) == []
    assert scan(None, model="no-such-model") == []
    with pytest.raises(NotFoundError, match="no collection named 'nope'"):
        scan(["a", "nope"])


def test_a_worker_that_would_scan_another_catalog_or_none_fails_the_scan(
    ray_address: str, settings_of: Settings, catalog: Catalog, probe: np.ndarray, tmp_path: Path
) -> None:
    options = RayScan(ray_address)
    elsewhere = tmp_path / "elsewhere"
    if settings_of.database_url:  # a PostgreSQL catalog is found by its URL, not the home
        return
    with pytest.raises(CatalogError, match=r"cannot read the catalog .*no catalog there"):
        faces_at_least_on_ray(
            options, settings_of.replace(home=elsewhere), catalog, None, MODEL, probe, THRESHOLD
        )
    assert not elsewhere.exists()  # no empty catalog made there
    with Catalog.open_home(elsewhere) as other:
        add(other, "a", unit(np.random.default_rng(3), 10), 0)
    with pytest.raises(CatalogError, match="opened another catalog than the driver's"):
        faces_at_least_on_ray(
            options, settings_of.replace(home=elsewhere), catalog, None, MODEL, probe, THRESHOLD
        )


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], fake_models: None) -> Any:
    def run(home: Path, *args: str) -> Ran:
        return run_cli(capsys, home, *args)

    return run


def test_forget_like_with_ray_erases_what_forget_like_erases(
    ray_address: str, cli: Any, tmp_path: Path
) -> None:
    """The CLI end to end (the fake pipeline; the Ray workers only read the catalog): two
    homes with the same gallery, one erasure like the same photo each, with and without
    ``--ray``: the same faces, in the same order, and both blocklist the person."""
    photos = tmp_path / "photos"
    gallery_photos(photos)
    like = write_photo(tmp_path, 2, 5)
    homes = [tmp_path / "plain", tmp_path / "ray"]
    for home in homes:
        r = cli(home, "ingest", str(photos), "--label-from-dir")
        assert r.code == 0, r.err
    plain = cli(homes[0], "forget", "--like", str(like), "--json")
    assert plain.code == 0, plain.err
    on_ray = cli(homes[1], "forget", "--like", str(like), "--ray", ray_address, "--json")
    assert on_ray.code == 0, on_ray.err
    want, got = json.loads(plain.out), json.loads(on_ray.out)
    assert got["face_ids"] == want["face_ids"] and len(want["face_ids"]) >= 2
    assert got["blocklisted"] is want["blocklisted"] is True
    refused = cli(homes[1], "forget", "--face", "1", "--ray", ray_address)
    assert refused.code != 0 and "--ray is for an erasure with --like" in refused.err
    shutil.rmtree(photos)


def test_the_ray_address_setting_sends_forget_like_to_ray_without_the_flag(
    ray_address: str,
    cli: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """``FACESEARCH_RAY_ADDRESS`` names the cluster every scan of the whole catalog runs on
    (the web UI's erasure and its preview have no ``--ray``): ``forget --like`` without the
    flag scans on Ray and erases what the same command in one process erases."""
    photos = tmp_path / "photos"
    gallery_photos(photos)
    like = write_photo(tmp_path, 2, 5)
    homes = [tmp_path / "plain", tmp_path / "ray"]
    for home in homes:
        assert cli(home, "ingest", str(photos), "--label-from-dir").code == 0
    plain = cli(homes[0], "forget", "--like", str(like), "--json")
    assert plain.code == 0, plain.err
    monkeypatch.setenv("FACESEARCH_RAY_ADDRESS", ray_address)
    with caplog.at_level("INFO", logger="facesearch.gallery.ray_scan"):
        on_ray = cli(homes[1], "forget", "--like", str(like), "--json")
    assert on_ray.code == 0, on_ray.err
    assert any(r.getMessage().startswith("Ray: ") for r in caplog.records), caplog.text
    want, got = json.loads(plain.out), json.loads(on_ray.out)
    assert got["face_ids"] == want["face_ids"] and len(want["face_ids"]) >= 2
    shutil.rmtree(photos)
