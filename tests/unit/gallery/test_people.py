"""gallery.people: build and attach on a catalog of synthetic people (no pipeline).

Person ``p``'s faces are a fixed random unit vector plus a little noise: two faces of one
person score about 0.95, two people about 0; the threshold 0.5 sits between.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from facesearch.core import clustering
from facesearch.gallery import people
from facesearch.gallery.catalog import Catalog, NewFace, NewImage
from facesearch.types import BBox

MODEL = "sface"
THRESHOLD = 0.5
LANDMARKS = ((1.0, 2.0), (3.0, 2.0), (2.0, 3.0), (1.0, 4.0), (3.0, 4.0))


def vector(person: int, shot: int) -> np.ndarray:
    base = np.random.default_rng(person).standard_normal(64)
    noise = np.random.default_rng((person, shot)).standard_normal(64) * 0.2
    v = base / np.linalg.norm(base) * 8 + noise
    return (v / np.linalg.norm(v)).astype(np.float32)


def photo(key: str, *faces: tuple[int, int], subject: str | None = None) -> NewImage:
    """An image holding one face per (person, shot), the first the largest."""
    new = tuple(
        NewFace(i, BBox(50.0 * i, 0, 40 - i, 40 - i), LANDMARKS, 0.9, {"size": 40.0}, MODEL,
                vector(p, s))
        for i, (p, s) in enumerate(faces)
    )  # fmt: skip
    digest = hashlib.sha256(key.encode()).hexdigest()
    return NewImage(digest, f"/p/{key}.png", 1, 100, 40, subject=subject, faces=new)


@pytest.fixture
def cat(open_catalog: Callable[[], Catalog]) -> Iterator[Catalog]:
    """Collection "c": persons 0, 1, 2 with three photos each (faces 1-9), person 3 once
    (face 10)."""
    with open_catalog() as catalog:
        photos = [photo(f"{p}-{s}", (p, s)) for p in range(3) for s in range(3)]
        catalog.add_images("c", [*photos, photo("3-0", (3, 0))])
        yield catalog


def groups(cat: Catalog, collection: str = "c") -> dict[int, list[int]]:
    """person id -> its face ids, ascending."""
    return {p.id: sorted(f.face_id for f in p.faces) for p in cat.persons(collection)}


def partition(cat: Catalog) -> set[frozenset[int]]:
    return {frozenset(faces) for faces in groups(cat).values()}


def build(cat: Catalog) -> people.BuildSummary:
    return people.build(cat, "c", MODEL, THRESHOLD)


def test_a_build_puts_every_face_in_exactly_one_person(cat: Catalog) -> None:
    summary = build(cat)
    assert partition(cat) == {frozenset({1, 2, 3}), frozenset({4, 5, 6}),
                              frozenset({7, 8, 9}), frozenset({10})}  # fmt: skip
    assert (summary.faces, summary.persons, summary.singletons) == (10, 4, 1)
    assert (summary.kept, summary.pinned) == (0, 0)
    assert all(-1 <= f.certainty <= 1 for p in cat.persons("c") for f in p.faces)
    assert cat.people_snapshot("c", MODEL).built


def test_two_faces_of_one_photo_are_never_one_person(cat: Catalog) -> None:
    cat.add_images("c", [photo("twins", (0, 7), (0, 8))])  # faces 11, 12: the same person
    build(cat)
    (with_11,) = [set(f) for f in groups(cat).values() if 11 in f]
    assert 12 not in with_11 and len(with_11) > 1  # one joined person 0, the other not


def test_a_rebuild_keeps_the_person_ids(cat: Catalog) -> None:
    build(cat)
    before = groups(cat)
    summary = build(cat)
    assert groups(cat) == before and summary.kept == 4


def test_labels_anchor_their_persons(cat: Catalog) -> None:
    # "ann" labels faces of persons 4 and 5 (unlike each other): one person all the same;
    # "bob" labels another face of person 4: never with ann, however alike
    cat.add_images("c", [photo("a1", (4, 0), subject="ann"), photo("a2", (5, 0), subject="ann"),
                         photo("b1", (4, 1), subject="bob")])  # fmt: skip
    summary = build(cat)
    assert {frozenset({11, 12}), frozenset({13})} <= partition(cat)
    assert summary.pinned == 3
    assert all(f.pinned for p in cat.persons("c") for f in p.faces if f.face_id > 10)


def test_a_label_on_two_faces_of_one_photo_anchors_only_the_largest(cat: Catalog) -> None:
    cat.add_images("c", [photo("pair", (4, 0), (5, 0), subject="ann"),
                         photo("ann2", (4, 1), subject="ann")])  # fmt: skip
    build(cat)  # faces 11 (largest, person 4), 12 (person 5), 13 (person 4)
    assert {frozenset({11, 13}), frozenset({12})} <= partition(cat)


def test_a_build_never_undoes_a_reviewers_decisions(cat: Catalog) -> None:
    build(cat)
    ids = {frozenset(f): p for p, f in groups(cat).items()}
    p0, p1, p2 = ids[frozenset({1, 2, 3})], ids[frozenset({4, 5, 6})], ids[frozenset({7, 8, 9})]
    p3 = ids[frozenset({10})]
    cat.merge_persons(p0, p3)  # face 10 (person 3) is p0, says the reviewer
    cat.split_person(p1, [6])  # face 6 is someone else
    cat.not_person(p2, 9)  # face 9 is not p2
    cat.name_person(p0, "Ann")
    decided = groups(cat)
    build(cat)
    after = groups(cat)
    assert after[p0] == [1, 2, 3, 10] and cat.person(p0).name == "Ann"
    assert 6 not in after[p1] and after[p1] == [4, 5]
    assert 9 not in after[p2] and after[p2] == [7, 8]
    assert set(after) >= set(decided) - {p3}


def test_attach_places_only_new_faces_and_only_once_built(cat: Catalog) -> None:
    cat.add_images("c", [photo("x", (0, 5))])
    assert people.attach(cat, "c", MODEL, THRESHOLD) is None
    assert groups(cat) == {}
    build(cat)
    before = groups(cat)
    (p0,) = [p for p, f in before.items() if 1 in f]
    cat.add_images("c", [photo("new", (0, 6), (9, 0)), photo("new2", (9, 1))])  # 12, 13, 14
    summary = people.attach(cat, "c", MODEL, THRESHOLD)
    assert summary == people.AttachSummary("c", faces=3, joined=1, new_persons=1)
    after = groups(cat)
    assert after[p0] == [*before[p0], 12]
    assert {frozenset({13, 14})} <= partition(cat)
    assert all(after[p] == before[p] for p in before if p != p0)
    assert people.attach(cat, "c", MODEL, THRESHOLD) == people.AttachSummary("c", 0, 0, 0)


def test_attach_puts_a_labelled_face_with_its_subject(cat: Catalog) -> None:
    cat.add_images("c", [photo("a1", (4, 0), subject="ann")])
    build(cat)
    (ann,) = [p for p, f in groups(cat).items() if 11 in f]
    cat.add_images("c", [photo("a2", (5, 0), subject="ann")])  # unlike face 11
    people.attach(cat, "c", MODEL, THRESHOLD)
    assert groups(cat)[ann] == [11, 12]
    assert cat.person(ann).faces[-1].pinned or cat.person(ann).faces[0].pinned


def test_attach_remembers_not_this_person(cat: Catalog) -> None:
    build(cat)
    (p0,) = [p for p, f in groups(cat).items() if 1 in f]
    alone = cat.not_person(p0, 3)
    cat.delete_faces([1, 2])  # p0 is gone, face 3 alone; a new face of person 0 comes
    cat.add_images("c", [photo("again", (0, 9))])
    people.attach(cat, "c", MODEL, THRESHOLD)
    assert groups(cat)[alone.id] == [3, 11]


def test_index_search_answers_rows_for_face_ids() -> None:
    face_ids = np.array([3, 5, 9], np.int64)

    def search(queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return np.ones((len(queries), 4), np.float32), np.array([[9, 4, -1, 3]] * len(queries))

    sims, rows = people.index_search(search, face_ids)(np.zeros((2, 8), np.float32), 4)
    assert rows.tolist() == [[2, -1, -1, 0]] * 2 and sims.shape == (2, 4)


def assert_certainty_current(cat: Catalog, *person_ids: int) -> None:
    """Each face of each person holds ``clustering.certainty`` over that person's faces."""
    for pid in person_ids:
        faces = sorted(cat.person(pid).faces, key=lambda f: f.face_id)
        shots = [divmod(f.face_id - 1, 3) for f in faces]  # fixture: face 1 + 3 * person + shot
        embeddings = np.stack([vector(p, s) for p, s in shots])
        want = clustering.certainty(embeddings, np.zeros(len(faces), np.int64))
        got = np.array([f.certainty for f in faces], np.float32)
        np.testing.assert_allclose(got, want, atol=1e-5)


def test_review_changes_recompute_the_certainty_of_the_persons_they_touch(cat: Catalog) -> None:
    build(cat)
    ids = {frozenset(f): p for p, f in groups(cat).items()}
    p0, p1, p2 = ids[frozenset({1, 2, 3})], ids[frozenset({4, 5, 6})], ids[frozenset({7, 8, 9})]
    cat.merge_persons(p0, p1)  # faces 1-6 now one person
    assert_certainty_current(cat, p0)
    new = cat.split_person(p0, [2, 5])
    assert_certainty_current(cat, p0, new.id)
    alone = cat.not_person(p2, 9)
    assert_certainty_current(cat, p2, alone.id)
