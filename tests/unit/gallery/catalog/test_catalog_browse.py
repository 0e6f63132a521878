"""``Catalog.list_faces`` / ``list_images`` / ``list_subjects`` (``gallery.catalog.browse``)
on both databases (``open_catalog``): 6 people x 4 images, one face each, labelled person_0 ..
person_5 in collection "default", except the first two (unlabelled)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from facesearch.errors import InputError
from facesearch.gallery.catalog import Catalog, NewFace, NewImage
from facesearch.gallery.catalog.browse import BrowseFilter
from facesearch.types import BBox

PEOPLE, SHOTS = 6, 4
FACES = PEOPLE * SHOTS
LANDMARKS = ((1.0, 2.0), (3.0, 2.0), (2.0, 3.0), (1.0, 4.0), (3.0, 4.0))


def image(person: int, shot: int) -> NewImage:
    key = f"{person}-{shot}"
    embedding = np.random.default_rng(person * 10 + shot).standard_normal(128)
    face = NewFace(0, BBox(1, 1, 10, 10), LANDMARKS, 0.9, {"size": 10.0}, "sface",
                   embedding.astype(np.float32))  # fmt: skip
    subject = None if (person, shot) in ((0, 0), (0, 1)) else f"person_{person}"
    digest = hashlib.sha256(key.encode()).hexdigest()
    return NewImage(digest, f"/p/{key}.jpg", 10, 20, 20, None, subject, (face,))


@pytest.fixture
def catalog(open_catalog: Any) -> Iterator[Catalog]:
    with open_catalog() as c:
        c.add_images("default", [image(p, s) for p in range(PEOPLE) for s in range(SHOTS)])
        yield c


def test_faces_page_by_page_in_id_order(catalog: Catalog) -> None:
    everything = BrowseFilter()
    seen = []
    for offset in range(0, FACES, 7):
        page, total = catalog.list_faces(everything, offset, 7)
        assert total == FACES
        seen += [f.id for f in page]
    assert seen == list(range(1, FACES + 1))
    assert catalog.list_faces(everything, FACES, 7) == ([], FACES)


def test_face_filters(catalog: Catalog) -> None:
    unlabelled, n = catalog.list_faces(BrowseFilter(labelled=False), 0, 50)
    assert [f.id for f in unlabelled] == [1, 2] and n == 2
    labelled, n = catalog.list_faces(BrowseFilter(labelled=True), 0, 50)
    assert n == FACES - 2 and all(f.subject for f in labelled)
    of_3, n = catalog.list_faces(BrowseFilter(subject_prefix="Person_3"), 0, 50)
    assert n == SHOTS and {f.subject for f in of_3} == {"person_3"}
    assert catalog.list_faces(BrowseFilter(subject_prefix="person_"), 0, 1)[1] == FACES - 2
    assert catalog.list_faces(BrowseFilter(subject_prefix="person%"), 0, 50) == ([], 0)
    assert catalog.list_faces(BrowseFilter(subject_prefix="person!"), 0, 50) == ([], 0)
    assert catalog.list_faces(BrowseFilter(collection="default"), 0, 1)[1] == FACES
    assert catalog.list_faces(BrowseFilter(collection="other"), 0, 50) == ([], 0)


def test_images_with_their_faces_and_subjects(catalog: Catalog) -> None:
    page, total = catalog.list_images(BrowseFilter(), 0, 3)
    assert total == FACES and [e.image.id for e in page] == [1, 2, 3]
    assert [(e.faces, e.subjects) for e in page] == [(1, ()), (1, ()), (1, ("person_0",))]
    unlabelled, n = catalog.list_images(BrowseFilter(labelled=False), 0, 50)
    assert n == 2 and [e.image.id for e in unlabelled] == [1, 2]
    assert catalog.list_images(BrowseFilter(labelled=True), 0, 1)[1] == FACES - 2
    assert catalog.list_images(BrowseFilter(subject_prefix="person_5"), 0, 50)[1] == SHOTS


def test_subjects_by_name_with_counts(catalog: Catalog) -> None:
    page, total = catalog.list_subjects(BrowseFilter(), 0, 50)
    assert total == PEOPLE and [s.name for s in page] == [f"person_{p}" for p in range(PEOPLE)]
    assert (page[0].faces, page[0].images, page[0].first_face_id) == (2, 2, 3)  # 1, 2 unlabelled
    assert catalog.list_subjects(BrowseFilter(), 2, 2)[0][0].name == "person_2"
    assert catalog.list_subjects(BrowseFilter(subject_prefix="PERSON_4"), 0, 5)[1] == 1
    assert catalog.list_subjects(BrowseFilter(labelled=False), 0, 5) == ([], 0)


@pytest.mark.parametrize(("offset", "limit"), [(-1, 5), (0, 0), (0, 1001)])
def test_bad_paging_is_refused(catalog: Catalog, offset: int, limit: int) -> None:
    for listing in (catalog.list_faces, catalog.list_images, catalog.list_subjects):
        with pytest.raises(InputError):
            listing(BrowseFilter(), offset, limit)
