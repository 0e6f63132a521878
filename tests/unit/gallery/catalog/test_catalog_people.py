"""Catalog: persons (snapshot, writing a build, review operations) and their erasure."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from facesearch.errors import InputError, NotFoundError
from facesearch.gallery.catalog import Catalog, NewFace, NewImage, PeopleAssignment
from facesearch.types import BBox

LANDMARKS = ((1.0, 2.0), (3.0, 2.0), (2.0, 3.0), (1.0, 4.0), (3.0, 4.0))


def new_image(key: str, n_faces: int = 1, subject: str | None = None) -> NewImage:
    digest = hashlib.sha256(key.encode()).hexdigest()
    rng = np.random.default_rng(int(digest[:8], 16))
    faces = tuple(
        NewFace(i, BBox(10 * i, 0, 10 + i, 10), LANDMARKS, 0.9, {"size": 10.0}, "sface",
                rng.standard_normal(8).astype(np.float32))
        for i in range(n_faces)
    )  # fmt: skip
    return NewImage(digest, f"/p/{key}.jpg", 1, 64, 64, subject=subject, faces=faces)


@pytest.fixture
def cat(open_catalog: Callable[[], Catalog]) -> Iterator[Catalog]:
    with open_catalog() as catalog:
        # faces 1, 2 (one image), 3, 4 in "main"; face 5 in "other"
        catalog.add_images("main", [new_image("a", 2, "ann"), new_image("b"), new_image("c")])
        catalog.add_images("other", [new_image("d")])
        yield catalog


def assign(cat: Catalog, collection: str, groups: list[list[int]], **kw: object) -> list[int]:
    """Write one group of faces per person (all new persons, unpinned)."""
    faces = [f for g in groups for f in g]
    labels = [n for n, g in enumerate(groups) for _ in g]
    assignment = PeopleAssignment(
        face_ids=np.array(faces, np.int64),
        groups=np.array(labels, np.int64),
        persons=tuple(kw.pop("persons", [None] * len(groups))),  # type: ignore[arg-type]
        pinned=np.zeros(len(faces), bool),
        certainty=np.full(len(faces), 0.5, np.float32),
    )
    return list(cat.write_people(collection, assignment, **kw))  # type: ignore[arg-type]


def membership(cat: Catalog, collection: str = "main") -> dict[int, list[int]]:
    return {p.id: [f.face_id for f in p.faces] for p in cat.persons(collection)}


def test_snapshot_reads_the_collections_faces_labels_and_persons(cat: Catalog) -> None:
    snap = cat.people_snapshot("main", "sface")
    assert snap.face_ids.tolist() == [1, 2, 3, 4]
    assert snap.image_ids.tolist() == [1, 1, 2, 3]
    assert snap.embeddings.shape == (4, 8) and snap.embeddings.dtype == np.float32
    assert (snap.subjects[:2] > 0).all() and (snap.subjects[2:] == -1).all()
    assert snap.areas.tolist() == [100.0, 110.0, 100.0, 100.0]
    assert (snap.persons == -1).all() and not snap.pinned.any() and not snap.built
    assert cat.people_snapshot("main", "no-such-model").face_ids.size == 0
    with pytest.raises(NotFoundError):
        cat.people_snapshot("nope", "sface")


def test_a_build_is_written_in_one_go_and_recorded(cat: Catalog) -> None:
    first, second = assign(cat, "main", [[1, 3], [2, 4]], build=("test", 0.3))
    assert membership(cat) == {first: [1, 3], second: [2, 4]}
    snap = cat.people_snapshot("main", "sface")
    assert snap.built and snap.persons.tolist() == [first, second, first, second]
    # a rebuild that keeps ``second`` and drops ``first``: the empty person goes
    (kept, new) = assign(cat, "main", [[2, 4, 3], [1]], persons=[second, None], build=("t", 0.3))
    assert kept == second and new not in (first, second)
    assert membership(cat) == {second: [2, 3, 4], new: [1]}
    assert cat.persons_of([1, 2, 5, 99]) == {1: new, 2: second}
    assert not cat.people_snapshot("other", "sface").built


def test_a_write_never_moves_a_pinned_face_nor_revives_an_erased_one(cat: Catalog) -> None:
    first, second = assign(cat, "main", [[1, 3], [2, 4]])
    cat.name_person(first, "Ann")  # pins faces 1 and 3
    cat.delete_faces([4])
    assign(cat, "main", [[1, 2, 3, 4]], persons=[second])
    assert membership(cat) == {first: [1, 3], second: [2]}
    assert cat.person(first).name == "Ann" and all(f.pinned for f in cat.person(first).faces)
    assert cat.faces([4]) == []


def test_erasing_faces_removes_their_rows_and_a_person_left_empty(cat: Catalog) -> None:
    first, second = assign(cat, "main", [[1, 3], [2, 4]])
    cat.name_person(second, "Bob")
    cat.not_person(first, 3)
    cat.delete_faces([2])
    assert membership(cat)[second] == [4]
    cat.delete_image(3)  # face 4, the last of "Bob"
    with pytest.raises(NotFoundError):
        cat.person(second)
    assert cat._live().execute("SELECT count(*) FROM persons WHERE name = 'Bob'").fetchone() == (0,)
    cat.delete_faces([3])
    assert cat.people_snapshot("main", "sface").not_person == ()
    assert membership(cat) == {first: [1]}


def test_merge_moves_and_pins_the_faces_and_keeps_a_name(cat: Catalog) -> None:
    first, second, third = assign(cat, "main", [[1], [3], [4]])
    cat.name_person(third, "Cy")
    gone, merged = cat.merge_persons(first, third)
    assert gone.id == third and gone.name == "Cy"
    assert merged.id == first and merged.name == "Cy"
    assert sorted(f.face_id for f in merged.faces) == [1, 4] and all(f.pinned for f in merged.faces)
    with pytest.raises(NotFoundError):
        cat.person(third)
    assert not cat.person(second).faces[0].pinned


def test_merge_refuses_two_faces_of_one_photo_and_two_collections(cat: Catalog) -> None:
    first, second = assign(cat, "main", [[1, 3], [2, 4]])
    (other,) = assign(cat, "other", [[5]])
    with pytest.raises(InputError, match="two faces of one photo"):
        cat.merge_persons(first, second)
    with pytest.raises(InputError, match="two collections"):
        cat.merge_persons(first, other)
    with pytest.raises(InputError):
        cat.merge_persons(first, first)
    assert membership(cat) == {first: [1, 3], second: [2, 4]}


def test_split_pins_both_sides(cat: Catalog) -> None:
    (person,) = assign(cat, "main", [[1, 3, 4]])
    new = cat.split_person(person, [4, 3])
    assert [f.face_id for f in new.faces] == [3, 4] and all(f.pinned for f in new.faces)
    assert [(f.face_id, f.pinned) for f in cat.person(person).faces] == [(1, True)]
    with pytest.raises(InputError, match="at least one face"):
        cat.split_person(person, [1])
    with pytest.raises(InputError, match="not faces of person"):
        cat.split_person(person, [2])


def test_not_person_is_remembered_and_the_face_moves_out(cat: Catalog) -> None:
    (person,) = assign(cat, "main", [[1, 3, 4]])
    alone = cat.not_person(person, 4)
    assert [f.face_id for f in alone.faces] == [4] and not alone.faces[0].pinned
    assert cat.people_snapshot("main", "sface").not_person == ((4, person),)
    with pytest.raises(InputError, match="not faces of person"):
        cat.not_person(person, 4)
    with pytest.raises(InputError, match="only face"):
        cat.not_person(alone.id, 4)
    with pytest.raises(NotFoundError):
        cat.not_person(999, 4)


def test_a_build_from_before_a_not_person_does_not_put_the_face_back(cat: Catalog) -> None:
    """A build snapshots, a reviewer says "face 4 is not this person" meanwhile, and the
    build writes what it clustered from its snapshot: face 4 stays out (it went back, and its
    new person was deleted as empty: the review silently undone)."""
    (person,) = assign(cat, "main", [[1, 3, 4]])
    alone = cat.not_person(person, 4)  # after the build's snapshot, before its write
    assign(cat, "main", [[1, 3, 4]], persons=[person], build=("test", 0.3))
    assert membership(cat) == {person: [1, 3], alone.id: [4]}
    assert cat.people_snapshot("main", "sface").not_person == ((4, person),)


def test_a_build_from_before_a_review_leaves_the_rows_the_review_changed(cat: Catalog) -> None:
    """A build that split the person (from its older snapshot) put face 4, said meanwhile
    not to be that person, into a new person with the person's other faces (and its own
    person was deleted as empty): each row is written only if it is as the build read it."""
    (person,) = assign(cat, "main", [[1, 3, 4]])
    snap = cat.people_snapshot("main", "sface")
    alone = cat.not_person(person, 4)  # after the build's snapshot, before its write
    faces = np.array([1, 3, 4], np.int64)
    rows = np.searchsorted(snap.face_ids, faces)
    assignment = PeopleAssignment(
        face_ids=faces,
        groups=np.array([0, 1, 1], np.int64),  # the build splits: [1] and [3, 4]
        persons=(person, None),
        pinned=np.zeros(3, bool),
        certainty=np.full(3, 0.5, np.float32),
        previous=snap.persons[rows],
    )
    (kept, new) = cat.write_people("main", assignment, build=("test", 0.3))
    assert kept == person
    assert membership(cat) == {person: [1], alone.id: [4], new: [3]}


def test_merging_a_face_back_forgets_that_it_was_not_that_person(cat: Catalog) -> None:
    (person,) = assign(cat, "main", [[1, 3, 4]])
    alone = cat.not_person(person, 4)
    cat.merge_persons(person, alone.id)  # the reviewer changed their mind
    assert cat.people_snapshot("main", "sface").not_person == ()
    assert sorted(f.face_id for f in cat.person(person).faces) == [1, 3, 4]


@pytest.mark.parametrize("person_id", [2**63, -(2**63) - 1, 10**20])
def test_a_person_id_past_int64_is_not_found_not_a_database_error(
    cat: Catalog, person_id: int
) -> None:
    """Attack pass: `people show 99999999999999999999` (and merge with such an id) said "a
    number or date is out of range (Python int too large to convert to SQLite INTEGER)"."""
    with pytest.raises(NotFoundError, match=f"no person with id {person_id}"):
        cat.person(person_id)
    with pytest.raises(NotFoundError):
        cat.merge_persons(1, person_id)


@pytest.mark.parametrize("meanwhile", ["merge", "erase"])
def test_a_build_whose_person_went_meanwhile_puts_its_faces_in_a_new_person(
    cat: Catalog, meanwhile: str
) -> None:
    """Attack pass: a build (or an ingest's attach) snapshots, then a reviewer merges a person
    away or an erasure takes its last face, and the build writes faces into that person:
    "catalog database error: FOREIGN KEY constraint failed", the whole build lost (an
    attach's faces left without a person). The gone person's faces go to a new person."""
    first, second, third = assign(cat, "main", [[1], [3], [4]])
    snap = cat.people_snapshot("main", "sface")
    if meanwhile == "merge":  # after the build's snapshot, before its write
        cat.merge_persons(second, first)
    else:
        cat.delete_faces([1])
    faces = np.array([1, 3, 4], np.int64)
    assignment = PeopleAssignment(
        face_ids=faces,
        groups=np.array([0, 1, 0], np.int64),  # the build puts face 4 with face 1
        persons=(first, second),
        pinned=np.zeros(3, bool),
        certainty=np.full(3, 0.5, np.float32),
        previous=snap.persons[np.searchsorted(snap.face_ids, faces)],
    )
    (gone, kept) = cat.write_people("main", assignment, build=("test", 0.3))
    assert gone not in (first, second, third) and kept == second
    expected = {second: [1, 3], gone: [4]} if meanwhile == "merge" else {second: [3], gone: [4]}
    assert {p: sorted(f) for p, f in membership(cat).items()} == expected
    with pytest.raises(NotFoundError):
        cat.person(first)


def test_an_erasure_of_someone_takes_the_names_of_the_persons_it_took_a_face_from(
    cat: Catalog,
) -> None:
    """Attack pass: a stranger's face merged into person "Al Gore", then the erasure like Al
    Gore's photo took his faces; the person lived on with the stranger's face and the name
    "Al Gore", personal data after the erasure, labelling the stranger. An erasure of
    someone (like a photo, a subject) now takes the names of the persons it took a face
    from; an erasure of a face (an edit) does not."""
    gore, other = assign(cat, "main", [[1, 3], [2, 4]])  # faces 1 and 2 share an image
    cat.name_person(gore, "Al Gore")
    cat.name_person(other, "Bea")
    cat.delete_faces([3], prune_images=True)  # one face, as an edit: the name stays
    assert cat.person(gore).name == "Al Gore" and cat.last_unnamed == ()
    cat.delete_faces([4], prune_images=True, unname_persons=True)  # like a photo
    assert cat.person(other).name is None and [f.face_id for f in cat.person(other).faces] == [2]
    assert cat.person(gore).name == "Al Gore" and cat.last_unnamed == (other,)


def test_an_erasure_of_a_subject_takes_the_names_of_its_faces_persons(cat: Catalog) -> None:
    ann, plain = assign(cat, "main", [[1, 3], [4]])  # face 1 is labelled "ann", 3 and 4 not
    cat.name_person(ann, "Ann")
    cat.name_person(plain, "Bo")
    cat.delete_subject("ann")  # faces 1 and 2
    assert cat.person(ann).name is None and [f.face_id for f in cat.person(ann).faces] == [3]
    assert cat.person(plain).name == "Bo" and cat.last_unnamed == (ann,)
    cat.delete_faces([3, 4], unname_persons=True)  # both persons go: none is left unnamed
    assert cat.persons("main") == [] and cat.last_unnamed == ()
