"""The erasure-like scan split into face-id ranges (``gallery.ray_scan``), without Ray: the
ranges cover every id once, and the ranges scanned by ``Catalog.scores_at_least`` (what each
Ray task runs) and merged by ``most_similar_first`` give exactly ``faces_at_least``'s list, on
a catalog whose ids have gaps, in SQLite and PostgreSQL. The Ray tasks themselves:
tests/integration/test_ray_scan.py."""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import numpy as np
import pytest
from tests.unit.gallery.conftest import CatalogOpener

from facesearch.errors import CatalogError, ConfigError, InputError
from facesearch.gallery.catalog import Catalog, NewFace, NewImage
from facesearch.gallery.catalog._vectors_view import _scores, most_similar_first
from facesearch.gallery.ray_scan import (
    RANGE_FACES,
    RayScan,
    faces_at_least_on_ray,
    id_ranges,
    range_count,
)
from facesearch.settings import Settings
from facesearch.types import BBox

MODEL, DIM = "test-model", 32


@pytest.mark.parametrize(
    ("span", "parts"),
    [((0, 10), 1), ((0, 10), 3), ((0, 10), 10), ((0, 10), 64), ((99, 100), 4), ((6, 1007), 7)],
)
def test_the_ranges_hold_every_id_of_the_span_once_in_order(
    span: tuple[int, int], parts: int
) -> None:
    ranges = id_ranges(span, parts)
    ids = [i for after, upto in ranges for i in range(after + 1, upto + 1)]
    assert ids == list(range(span[0] + 1, span[1] + 1))
    assert len(ranges) == min(parts, span[1] - span[0])
    assert all(after < upto for after, upto in ranges)  # none empty
    sizes = [upto - after for after, upto in ranges]
    assert max(sizes) - min(sizes) <= 1


def test_an_empty_span_has_no_range_and_a_scan_needs_one() -> None:
    assert id_ranges((5, 5), 3) == []
    with pytest.raises(InputError, match="at least one range"):
        id_ranges((0, 10), 0)


def test_one_range_per_cpu_and_more_for_a_big_span() -> None:
    assert range_count((0, 100), 2) == 2
    assert range_count((0, 0), 0) == 1
    assert range_count((0, 10 * RANGE_FACES + 1), 4) == 11


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.normal(size=(n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def add(cat: Catalog, collection: str, vectors: np.ndarray, start: int) -> None:
    box, points = BBox(10, 10, 50, 50), ((1.0, 1.0),) * 5
    cat.add_images(
        collection,
        [
            NewImage(
                sha256=f"{start + i:064x}",
                source=f"img{start + i}.jpg",
                size_bytes=1,
                width=100,
                height=100,
                faces=(NewFace(0, box, points, 0.9, {"size": 50.0}, MODEL, v),),
            )
            for i, v in enumerate(vectors)
        ],
    )


def test_the_ranges_scanned_and_merged_are_the_whole_scan(open_catalog: CatalogOpener) -> None:
    """Faces in two collections, ids with gaps (the first faces and a block in the middle
    erased), copies of the probe in both (ties, ordered by id), and a threshold low enough
    that about a third of the faces pass, the first and last ids of many ranges among them."""
    rng = np.random.default_rng(7)
    probe = unit(rng, 1)[0]
    with open_catalog() as cat:
        add(cat, "a", unit(rng, 150), 0)
        add(cat, "b", np.repeat(probe[None, :], 3, axis=0), 150)
        add(cat, "a", unit(rng, 150), 153)
        add(cat, "b", unit(rng, 100), 303)
        add(cat, "a", np.repeat(probe[None, :], 2, axis=0), 403)
        ids = next(cat.face_vectors(None, MODEL))[0].tolist()
        cat.delete_faces(ids[:5] + ids[200:260])
        span = cat.face_id_span(None, MODEL)
        assert span == (ids[5] - 1, ids[-1])
        for collections in (None, ["a"], ["b"], ["b", "a"]):
            whole = cat.faces_at_least(collections, MODEL, probe, 0.1)
            assert 25 < len(whole) < 200
            for parts in (1, 2, 3, 7, 50, span[1] - span[0]):
                found, scores = [], []
                for after, upto in id_ranges(span, parts):
                    got, sims = cat.scores_at_least(collections, MODEL, probe, 0.1, (after, upto))
                    assert all(after < i <= upto for i in got.tolist())
                    found.append(got)
                    scores.append(sims)
                merged = most_similar_first(np.concatenate(found), np.concatenate(scores))
                assert merged == whole, (collections, parts)
        copies = cat.faces_at_least(None, MODEL, probe, 0.999)
        assert copies == sorted(copies) and len(copies) == 5  # ties: by id
        assert cat.face_id_span([], MODEL) is None
        assert cat.face_id_span(None, "no-such-model") is None


def test_a_reader_reads_the_catalog_and_cannot_write_it(
    open_catalog: CatalogOpener, tmp_path: Path, database_url: str
) -> None:
    """What each Ray task opens (``Catalog.open_reader``): the writer's faces, no write."""
    rng = np.random.default_rng(3)
    probe = unit(rng, 1)[0]
    with open_catalog() as cat:
        add(cat, "a", np.concatenate([unit(rng, 20), probe[None, :]]), 0)
        with Catalog.open_reader(tmp_path, database_url) as reader:
            assert reader.state(MODEL) == cat.state(MODEL)
            assert reader.faces_at_least(None, MODEL, probe, 0.2) == cat.faces_at_least(
                None, MODEL, probe, 0.2
            )
            with pytest.raises(CatalogError, match=r"read-?only"):
                add(reader, "a", unit(rng, 1), 100)
        assert len(cat.faces_at_least(None, MODEL, probe, -1.0)) == 21  # nothing added


def test_a_reader_makes_no_catalog_and_migrates_none(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="no catalog there"):
        Catalog.open_reader(tmp_path / "home")
    assert not (tmp_path / "home").exists()
    with Catalog.open_home(tmp_path):
        pass
    with sqlite3.connect(tmp_path / "catalog.sqlite") as conn:
        conn.execute("PRAGMA user_version = 3")
    with pytest.raises(CatalogError, match="schema version 3"):
        Catalog.open_reader(tmp_path)


def test_a_face_scores_the_same_wherever_it_falls_in_a_chunk() -> None:
    """A range starts a chunk where the whole scan's chunk does not: a face's score must not
    depend on its row. ``vectors @ query`` (OpenBLAS's matrix-vector product) differed in the
    last bit for some rows, which could reorder near ties or move a face across the
    threshold between the two scans (fails with ``_scores`` as ``vectors @ query``)."""
    rng = np.random.default_rng(0)
    for dim in (128, 512):
        vectors = rng.normal(size=(20_011, dim)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        query = vectors[5].copy()
        whole = _scores(vectors, query)
        for k in (1, 2, 3, 5, 7, 13, 100, 1001):
            for part in (vectors[k:], vectors[k : k + 9], vectors[k : k + 4097]):
                assert np.array_equal(_scores(part, query), whole[k : k + len(part)])
            moved = np.empty(vectors[k:].size * 4 + 4, np.uint8)[4:].view(np.float32)
            moved = moved.reshape(-1, dim)  # another alignment in memory
            moved[:] = vectors[k:]
            assert np.array_equal(_scores(moved, query), whole[k:])


def test_without_ray_the_scan_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(1)
    settings = Settings.from_env(env={}, home=tmp_path)
    with Catalog.open_home(settings.home) as cat:
        add(cat, "a", unit(rng, 3), 0)
        monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed: import fails
        with pytest.raises(ConfigError, match=r"pip install 'facesearch\[distributed\]'"):
            faces_at_least_on_ray(RayScan(), settings, cat, None, MODEL, unit(rng, 1)[0], 0.5)
        # nothing to scan: no cluster needed, none asked for
        assert faces_at_least_on_ray(RayScan(), settings, cat, [], MODEL, unit(rng, 1)[0], 0) == []
