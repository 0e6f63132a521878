"""Clustering faces into persons on synthetic embeddings (well separated blobs)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest

from facesearch.core.clustering import (
    attach,
    certainty,
    cluster,
    dbscan_immich,
    knn_graph,
)
from facesearch.errors import InputError
from facesearch.evaluation.clustering import bcubed, pairwise

F32 = npt.NDArray[np.float32]


def blobs(
    people: int = 6, each: int = 8, spread: float = 0.05, seed: int = 0
) -> tuple[F32, npt.NDArray[np.int64]]:
    """``each`` faces of each of ``people`` random directions in 64-d (similarity within a
    person ~0.9, between people ~0), and the person of each face."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((people, 64))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    truth = np.repeat(np.arange(people, dtype=np.int64), each)
    x = centres[truth] + spread * rng.standard_normal((len(truth), 64))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32), truth


def own_images(n: int) -> npt.NDArray[np.int64]:
    return np.arange(n, dtype=np.int64)


def test_knn_graph_keeps_each_edge_once_above_the_threshold() -> None:
    x, truth = blobs(people=3, each=4)
    g = knn_graph(x, k=10, threshold=0.5)
    assert np.all(g.src < g.dst)
    assert len(set(zip(g.src.tolist(), g.dst.tolist(), strict=True))) == len(g.src)
    assert np.all(truth[g.src] == truth[g.dst])  # no edge between people
    assert len(g.src) == 3 * 6  # every pair within each person of 4
    np.testing.assert_allclose(g.weight, np.einsum("ij,ij->i", x[g.src], x[g.dst]), rtol=1e-5)
    assert len(knn_graph(x, k=1, threshold=0.5).src) <= len(x)


@pytest.mark.parametrize("method", ["chinese_whispers", "components"])
def test_well_separated_people_are_found_exactly(method: str) -> None:
    x, truth = blobs()
    labels = cluster(x, own_images(len(x)), threshold=0.5, method=method)  # type: ignore[arg-type]
    assert labels.dtype == np.int64
    assert sorted(set(labels.tolist())) == list(range(6))
    assert pairwise(labels, truth).f == 1.0
    assert bcubed(labels, truth).f == 1.0


def test_chinese_whispers_is_deterministic_for_a_seed() -> None:
    x, _ = blobs(people=20, each=5, spread=0.12, seed=3)
    a = cluster(x, own_images(len(x)), threshold=0.3, seed=7)
    b = cluster(x, own_images(len(x)), threshold=0.3, seed=7)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("method", ["chinese_whispers", "components"])
def test_two_faces_of_one_image_are_never_one_person(method: str) -> None:
    x, _ = blobs(people=2, each=6)
    images = own_images(len(x))
    images[3] = images[0]  # faces 0 and 3: same person's blob, same photo
    labels = cluster(x, images, threshold=0.5, method=method)  # type: ignore[arg-type]
    assert labels[0] != labels[3]
    assert len(set(labels[:6].tolist())) == 2  # the rest of the blob still goes with one


@pytest.mark.parametrize("method", ["chinese_whispers", "components"])
def test_cannot_link_is_respected(method: str) -> None:
    x, _ = blobs(people=2, each=6)
    labels = cluster(x, own_images(len(x)), threshold=0.5, method=method, cannot_link=[(1, 4)])  # type: ignore[arg-type]
    assert labels[1] != labels[4]


@pytest.mark.parametrize("method", ["chinese_whispers", "components"])
def test_anchors_keep_their_keys(method: str) -> None:
    x, _ = blobs(people=3, each=6)
    # Faces 0 and 1 named one person, face 2 (same blob) named another; faces 6 and 12
    # (two other blobs) named one person together by a reviewer.
    anchors = {0: 100, 1: 100, 2: 200, 6: 300, 12: 300}
    labels = cluster(x, own_images(len(x)), threshold=0.5, method=method, anchors=anchors)  # type: ignore[arg-type]
    assert labels[0] == labels[1]
    assert labels[2] != labels[0]
    assert labels[6] == labels[12]
    assert len({labels[0], labels[2], labels[6]}) == 3
    assert labels[7] == labels[6] and labels[13] == labels[12]  # the blobs follow their anchors


def test_unknown_method_and_bad_rows_are_refused() -> None:
    x, _ = blobs(people=2, each=2)
    with pytest.raises(InputError):
        cluster(x, own_images(4), threshold=0.5, method="louvain")  # type: ignore[arg-type]
    with pytest.raises(InputError):
        cluster(x, own_images(3), threshold=0.5)
    with pytest.raises(InputError):
        cluster(x, own_images(4), threshold=0.5, cannot_link=[(0, 9)])


def test_attach_puts_a_new_shot_with_its_person_and_a_stranger_alone() -> None:
    x, truth = blobs(people=3, each=6, seed=1)
    new, new_truth = blobs(people=4, each=2, seed=1)  # same first 3 people + a 4th
    rng = np.random.default_rng(9)
    stranger = rng.standard_normal((2, 64)).astype(np.float32)
    stranger /= np.linalg.norm(stranger, axis=1, keepdims=True)
    shots = np.concatenate([new[[0, 2]], stranger[:1]])  # person 0, person 1, stranger
    labels = truth + 10  # any label values
    got = attach(shots, [100, 101, 102], x, labels, own_images(len(x)), threshold=0.5)
    assert got.tolist() == [10, 11, 13]  # labels 10-12 taken: the stranger starts 13
    del new_truth


def test_attach_lets_new_faces_start_a_person_together() -> None:
    x, truth = blobs(people=4, each=4, seed=2)
    placed = truth < 3
    got = attach(
        x[~placed], [50, 51, 52, 53], x[placed], truth[placed], own_images(12), threshold=0.5
    )
    assert got.tolist() == [3, 3, 3, 3]


def test_attach_respects_same_image_and_not_person() -> None:
    x, truth = blobs(people=2, each=5, seed=4)
    new, _ = blobs(people=2, each=2, seed=4)
    images = own_images(len(x))
    got = attach(
        new[[0, 2]], [images[0], 999], x, truth, images, threshold=0.5, not_person=[(1, 1)]
    )
    assert got[0] != 0  # its photo already has a face of person 0
    assert got[1] != 1  # a reviewer said it is not person 1
    assert got.tolist() == [2, 3]


def test_immich_needs_three_faces_to_start_a_person() -> None:
    x, truth = blobs(people=3, each=4)
    pair, _ = blobs(people=5, each=2, seed=8)
    both = np.concatenate([x, pair[8:]])  # a person with only two faces
    labels = dbscan_immich(both)
    assert pairwise(labels[:12], truth).f == 1.0
    assert labels[12] != labels[13]  # two faces are not enough: both stay singletons
    assert len(set(labels.tolist())) == 5


def test_certainty_is_lowest_for_the_face_that_fits_worst() -> None:
    x, _ = blobs(people=1, each=5, seed=5)
    odd = x.copy()
    odd[4] = (x[4] + x[0] * 0 + np.eye(64, dtype=np.float32)[0]) / 2
    odd[4] /= np.linalg.norm(odd[4])
    c = certainty(odd, [0, 0, 0, 0, 0])
    assert int(np.argmin(c)) == 4
    assert certainty(x[:2], [0, 1]).tolist() == [1.0, 1.0]


def test_attach_to_an_empty_collection_groups_the_new_faces() -> None:
    x, truth = blobs(people=2, each=3, seed=6)
    got = attach(x, own_images(6), np.empty((0, 64), np.float32), [], [], threshold=0.5)
    assert pairwise(got, truth).f == 1.0
    assert sorted(set(got.tolist())) == [0, 1]


def test_anchors_without_an_anchored_neighbour_are_clustered() -> None:
    # One blob all anchored, one without an anchor: the anchor-vote step finds no voter for
    # the second blob's faces (it used to fail: an empty bincount is int64, refusing -inf).
    x, truth = blobs(people=2, each=3)
    labels = cluster(x, own_images(len(x)), threshold=0.5, anchors={0: 7, 1: 7, 2: 7})
    assert pairwise(labels, truth).f == 1.0


def test_every_face_anchored_keeps_the_anchors() -> None:
    # Nothing left to move (every face labelled): no batch to split, the keys are the persons.
    x, _ = blobs(people=2, each=2)
    labels = cluster(x, own_images(4), threshold=0.5, anchors={0: 1, 1: 1, 2: 2, 3: 3})
    assert labels[0] == labels[1] and len({labels[0], labels[2], labels[3]}) == 3
