"""IndexSet over a real catalog with synthetic faces: approximate mode, erasure, staleness."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from facesearch.gallery.catalog import Catalog, NewFace, NewImage
from facesearch.gallery.collections import IndexSet
from facesearch.gallery.vectors import FaissIndex
from facesearch.types import BBox

MODEL = "synthetic:0"
DIM = 32


def add_faces(
    cat: Catalog, n: int, seed: int = 0, collection: str = "c"
) -> tuple[np.ndarray, np.ndarray]:
    """Commit ``n`` one-face images; the ids the catalog gave the faces, and their vectors."""
    rng = np.random.default_rng(seed)
    vecs = rng.normal(size=(n, DIM)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    items = [
        NewImage(
            sha256=f"{seed:04d}{i:060d}",
            source=f"img{seed}-{i}.jpg",
            size_bytes=1,
            width=100,
            height=100,
            faces=(
                NewFace(0, BBox(10, 10, 50, 50), ((1.0, 1.0),) * 5, 0.9, {"size": 50.0}, MODEL, v),
            ),
        )
        for i, v in enumerate(vecs)
    ]
    added = cat.add_images(collection, items)
    return np.asarray([f for a in added for f in a.face_ids], np.int64), vecs


def manifest_inode(home: Path) -> int:
    """The index manifest's inode: every save (and so every rebuild) writes a new file."""
    return (home / "index" / "manifest.json").stat().st_ino


def fill(cat: Catalog, n: int, seed: int = 0, collection: str = "c") -> np.ndarray:
    return add_faces(cat, n, seed, collection)[1]


def test_auto_switches_to_approximate_and_erases(
    tmp_path: Path, open_catalog: Callable[[], Catalog]
) -> None:
    with open_catalog() as cat:
        vecs = fill(cat, 3000)
        indexes = IndexSet(tmp_path, cat, MODEL, DIM, approx_threshold=1000)
        indexes.ensure_loaded()
        index = indexes._indexes["c"]
        assert isinstance(index, FaissIndex) and index.mode == "ivf"
        probe = vecs[123] + 0.05 * np.random.default_rng(9).normal(size=DIM).astype(np.float32)
        probe /= np.linalg.norm(probe)
        _, ids = indexes.search(probe[None, :], 5, ["c"])
        target = cat.faces_of_image(124)[0].id  # image ids and face ids start at 1
        assert ids[0, 0] == target
        gone = cat.delete_faces([target])
        assert indexes.remove(f.id for f in gone) == 1
        indexes.save()
        _, ids = indexes.search(probe[None, :], 5, ["c"])
        assert target not in ids[0]
    # reopened: the saved index agrees with the catalog, without a rebuild (nothing written)
    saved = manifest_inode(tmp_path)
    with open_catalog() as cat:
        again = IndexSet(tmp_path, cat, MODEL, DIM, approx_threshold=1000)
        assert again.size() == 2999 and manifest_inode(tmp_path) == saved
        assert target not in again.search(probe[None, :], 5, None)[1][0]


def test_faces_added_behind_its_back_are_caught_up(
    tmp_path: Path, open_catalog: Callable[[], Catalog]
) -> None:
    with open_catalog() as cat:
        fill(cat, 50)
        first = IndexSet(tmp_path, cat, MODEL, DIM)
        first.ensure_loaded()
        saved = manifest_inode(tmp_path)
        fill(cat, 30, seed=1)  # committed by "another process"; the index files are older
        second = IndexSet(tmp_path, cat, MODEL, DIM)
        assert second.size() == 80 and manifest_inode(tmp_path) == saved  # caught up, not rebuilt
        cat.delete_faces([1])  # an erasure the files do not know about: repaired
        third = IndexSet(tmp_path, cat, MODEL, DIM)
        assert third.size() == 79 and manifest_inode(tmp_path) == saved
        assert 1 not in np.concatenate([i.ids() for i in third._indexes.values()])
