"""app.people: building, reading and reviewing the persons of a collection, checked and audited.

On the fake pipeline (tests/fakes.py): six synthetic people, four shots each. The fake gallery
is ingested with ``--label-from-dir`` (labels anchor persons); ``unlabelled`` ingests the same
photos without labels into a fresh home.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.fakes import GALLERY_SHOTS, PEOPLE, FakePipeline, person_name, write_photo

from facesearch.accountability import AccountabilityStore, Action, Actor, local_actor
from facesearch.app import (
    BuildRequest,
    EraseRequest,
    IngestRequest,
    ReviewRequest,
    build_people,
    erase,
    ingest,
    list_people,
    merge_persons,
    name_person,
    not_person,
    people_built,
    persons_of,
    show_person,
    split_person,
)
from facesearch.engine import Engine
from facesearch.errors import InputError, NotFoundError, PermissionDeniedError

ME = local_actor("tester")
Setup = tuple[Engine, AccountabilityStore]


@pytest.fixture()
def labelled(fake_homes: Any, fake_pipeline: FakePipeline) -> Iterator[Setup]:
    """The fake gallery (labelled person_N) with users of every role."""
    home = fake_homes("people")
    engine = Engine(home.settings, pipeline=fake_pipeline)
    with AccountabilityStore.open(home.home) as store:
        yield engine, store
    engine.catalog.close()


@pytest.fixture()
def unlabelled(fake_pipeline: FakePipeline, fake_photos: Path, tmp_path: Path) -> Iterator[Setup]:
    """The fake gallery's photos ingested without labels into a fresh home (no users)."""
    settings = fake_pipeline.settings.replace(home=tmp_path / "home")
    engine = Engine(settings, pipeline=fake_pipeline)
    with AccountabilityStore.open(settings.home) as store:
        ingest(engine, store, ME, IngestRequest(tuple(sorted(fake_photos.rglob("*.png")))))
        yield engine, store
    engine.catalog.close()


def partition(engine: Engine, store: AccountabilityStore) -> dict[int, set[int]]:
    return {p.person: {f.face_id for f in p.faces} for p in list_people(engine, store, ME).people}


def subjects_of(engine: Engine, faces: set[int]) -> set[str | None]:
    return {f.subject for f in engine.catalog.faces(sorted(faces))}


def sources_of(engine: Engine, faces: set[int]) -> set[str]:
    """The folder (person_N) of each face's photo."""
    return {Path(f.source).parent.name for f in engine.catalog.faces(sorted(faces))}


def build(engine: Engine, store: AccountabilityStore, actor: Actor = ME) -> Any:
    return build_people(engine, store, actor, BuildRequest())


def test_a_build_of_the_labelled_gallery_finds_its_people_and_is_logged(
    labelled: Setup,
) -> None:
    engine, store = labelled
    admin = store.accounts.get_user("admin1")
    record = build(engine, store, admin)
    entry = store.audit.get(record.id)
    assert entry.action == "people_build" and entry.actor == "admin1"
    assert entry.payload["faces"] == PEOPLE * len(GALLERY_SHOTS) == record.summary.faces
    assert entry.payload["persons"] == PEOPLE and entry.payload["collection"] == "default"
    groups = partition(engine, store)
    assert sorted(len(g) for g in groups.values()) == [len(GALLERY_SHOTS)] * PEOPLE
    assert all(len(subjects_of(engine, g)) == 1 for g in groups.values())
    assert people_built(engine, store, admin, "default")


def test_people_json_has_the_issues_shape_and_the_read_is_logged(labelled: Setup) -> None:
    engine, store = labelled
    build(engine, store)
    inv = store.accounts.get_user("inv1")
    record = list_people(engine, store, inv, case="K-7")
    data = record.as_json()
    assert set(data) == {"people"}
    for person in data["people"]:
        assert set(person) == {"person", "name", "faces"}
        for face in person["faces"]:
            assert set(face) == {"face_id", "image_path", "bbox"} and len(face["bbox"]) == 4
    face_ids = [f["face_id"] for p in data["people"] for f in p["faces"]]
    assert sorted(face_ids) == list(range(1, PEOPLE * len(GALLERY_SHOTS) + 1))
    entry = store.audit.get(record.id)
    assert (entry.action, entry.actor, entry.case) == ("read", "inv1", "K-7")
    assert entry.payload["what"] == "people" and entry.payload["faces"] == len(face_ids)
    one = show_person(engine, store, inv, data["people"][0]["person"])
    shown = store.audit.entries(action=Action.READ, limit=None)[-1]
    assert shown.payload["what"] == "person" and shown.payload["person"] == one.person
    assert shown.payload["face_ids"] == [f.face_id for f in one.faces]
    assert one.as_json(detail=True)["cover"] == one.cover.face_id


def test_the_unlabelled_gallery_is_grouped_by_likeness(unlabelled: Setup) -> None:
    engine, store = unlabelled
    summary = build(engine, store).summary
    assert (summary.persons, summary.singletons, summary.pinned) == (PEOPLE, 0, 0)
    groups = partition(engine, store)
    assert all(len(sources_of(engine, g)) == 1 for g in groups.values())
    assert {subject for g in groups.values() for subject in subjects_of(engine, g)} == {None}


def test_two_faces_of_one_photo_are_two_persons(unlabelled: Setup, tmp_path: Path) -> None:
    engine, store = unlabelled
    pair = write_photo(tmp_path / "pair", 2, 7, faces=2)  # person 2 and person 3, side by side
    ingest(engine, store, ME, IngestRequest((pair,)))
    build(engine, store)
    (first, second) = [f.id for f in engine.catalog.faces_of_image(PEOPLE * 4 + 1)]
    persons = persons_of(engine, store, ME, [first, second])
    assert persons[first] != persons[second]
    groups = partition(engine, store)
    assert sources_of(engine, groups[persons[first]] - {first, second}) == {person_name(2)}
    assert sources_of(engine, groups[persons[second]] - {first, second}) == {person_name(3)}


def test_an_ingest_attaches_new_faces_once_the_people_are_built(
    unlabelled: Setup, tmp_path: Path
) -> None:
    engine, store = unlabelled
    before = ingest(engine, store, ME, IngestRequest((write_photo(tmp_path / "a", 0, 7),)))
    assert store.audit.get(before.id).payload["people"] is None
    assert not people_built(engine, store, ME, "default")
    build(engine, store)
    groups = partition(engine, store)
    (zero,) = [p for p, g in groups.items() if sources_of(engine, g) == {person_name(0)}]
    new = [write_photo(tmp_path / "b", 0, 8), write_photo(tmp_path / "b", 9, 1)]
    record = ingest(engine, store, ME, IngestRequest(tuple(new)))
    payload = store.audit.get(record.id).payload["people"]
    assert payload == {"collection": "default", "faces": 2, "joined": 1, "new_persons": 1,
                       "error": None}  # fmt: skip
    after = partition(engine, store)
    assert len(after[zero]) == len(groups[zero]) + 1
    assert len(after) == len(groups) + 1
    assert all(after[p] == g for p, g in groups.items() if p != zero)


def test_reviews_are_audited_and_a_rebuild_keeps_them(unlabelled: Setup) -> None:
    engine, store = unlabelled
    build(engine, store)
    inv = ME
    groups = partition(engine, store)
    a, b, c, d = sorted(groups)[:4]
    named = name_person(engine, store, inv, ReviewRequest(a, name="Ann", case="K-1"))
    merged = merge_persons(engine, store, inv, ReviewRequest(a, other=b))
    (cut, *_) = sorted(groups[c])
    split = split_person(engine, store, inv, ReviewRequest(c, face_ids=(cut,)))
    (out, *_) = sorted(groups[d])
    alone = not_person(engine, store, inv, ReviewRequest(d, face_ids=(out,)))
    entries = [store.audit.get(r.id) for r in (named, merged, split, alone)]
    assert [e.action for e in entries] == [
        "person_name", "person_merge", "person_split", "person_not"]  # fmt: skip
    assert entries[0].payload["name"] == "Ann" and entries[0].case == "K-1"
    assert entries[1].payload["face_ids"] == sorted(groups[b])
    assert entries[2].payload == {"person": c, "new_person": split.person.person,
                                  "face_ids": [cut]}  # fmt: skip
    assert entries[3].payload == {"person": d, "face_id": out, "new_person": alone.person.person}
    decided = partition(engine, store)
    assert decided[a] == groups[a] | groups[b] and b not in decided
    build(engine, store)
    after = partition(engine, store)
    assert after[a] == decided[a] and after[c] == groups[c] - {cut}
    assert after[split.person.person] == {cut}
    assert out not in after[d]
    assert show_person(engine, store, ME, a).name == "Ann"


def test_review_refusals(unlabelled: Setup, tmp_path: Path) -> None:
    engine, store = unlabelled
    pair = write_photo(tmp_path / "pair", 2, 7, faces=2)
    ingest(engine, store, ME, IngestRequest((pair,)))
    build(engine, store)
    first, second = (f.id for f in engine.catalog.faces_of_image(PEOPLE * 4 + 1))
    persons = persons_of(engine, store, ME, [first, second])
    with pytest.raises(InputError, match="one photo"):
        merge_persons(engine, store, ME, ReviewRequest(persons[first], other=persons[second]))
    with pytest.raises(InputError):
        merge_persons(engine, store, ME, ReviewRequest(persons[first]))
    with pytest.raises(InputError):
        not_person(engine, store, ME, ReviewRequest(persons[first], face_ids=(first, second)))
    with pytest.raises(NotFoundError):
        name_person(engine, store, ME, ReviewRequest(99_999, name="x"))
    with pytest.raises(InputError):
        name_person(engine, store, ME, ReviewRequest(persons[first], name="a\nb"))
    assert not store.audit.entries(action=Action.PERSON_MERGE)


def test_who_may_build_read_and_review(labelled: Setup) -> None:
    engine, store = labelled
    auditor, inv = store.accounts.get_user("aud1"), store.accounts.get_user("inv1")
    for call in (
        lambda: build(engine, store, auditor),
        lambda: list_people(engine, store, auditor),
        lambda: show_person(engine, store, auditor, 1),
        lambda: name_person(engine, store, auditor, ReviewRequest(1, name="x")),
    ):
        with pytest.raises(PermissionDeniedError):
            call()
    record = build(engine, store, inv)
    assert store.audit.get(record.id).actor == "inv1"


def test_erasing_a_face_takes_it_out_of_its_person(labelled: Setup) -> None:
    engine, store = labelled
    build(engine, store)
    groups = partition(engine, store)
    person, faces = next(iter(groups.items()))
    gone = min(faces)
    erase(engine, store, ME, EraseRequest("a request", face_ids=(gone,)))
    assert partition(engine, store)[person] == faces - {gone}
    assert persons_of(engine, store, ME, [gone]) == {}


def test_person_names_skip_a_person_merged_away_meanwhile(
    labelled: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a home of several organisations the names of a search's persons were read, then
    each person's collection by loading the person with every face (one query per person):
    a person merged away between the two reads made the search page an error (NotFoundError).
    Now one read of the persons' collections; a person gone meanwhile is left out."""
    from facesearch.app.people import person_names

    engine, store = labelled
    store.orgs.add("south", by=ME)
    store.orgs.claim("south-photos", "south", by=ME)  # default no longer owns everything
    build(engine, store)
    persons = sorted(partition(engine, store))
    real = engine.catalog.person_names
    monkeypatch.setattr(
        engine.catalog, "person_names", lambda ids: {**real(ids), 999_999: "merged away"}
    )
    admin = store.accounts.get_user("admin1")
    names = person_names(engine, store, admin, [*persons, 999_999])
    assert sorted(names) == persons


def test_a_review_logs_what_it_replaced_with_another_writer_at_the_person(
    unlabelled: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Attack pass (CLI renames while the server renamed the same person): the entry's
    ``previous_name``, and a merge's ``other_name`` and ``face_ids``, were read before the
    change, in a transaction of their own: a rename or a face added by another process in
    between left an entry that named a name the person no longer had, or merged faces it
    did not list. Now read in the change's transaction."""
    engine, store = unlabelled
    build(engine, store)
    a, b, c = sorted(partition(engine, store))[:3]
    catalog = engine.catalog
    name, merge = catalog.name_person, catalog.merge_persons

    def renamed_meanwhile(person: int, new: str | None) -> Any:
        name(person, "Meanwhile")  # another process, between the read and the write
        return name(person, new)

    monkeypatch.setattr(catalog, "name_person", renamed_meanwhile)
    named = name_person(engine, store, ME, ReviewRequest(a, name="Ann"))
    assert store.audit.get(named.id).payload["previous_name"] == "Meanwhile"

    grown = {f.face_id for f in catalog.person(b).faces} | {
        f.face_id for f in catalog.person(c).faces
    }

    def grew_meanwhile(keep: int, other: int) -> Any:
        merge(other, c)  # e.g. an ingest's attach put faces in ``other`` meanwhile
        return merge(keep, other)

    monkeypatch.setattr(catalog, "merge_persons", grew_meanwhile)
    merged = merge_persons(engine, store, ME, ReviewRequest(a, other=b))
    assert store.audit.get(merged.id).payload["face_ids"] == sorted(grown)


def test_an_erasure_like_a_photo_takes_the_name_of_a_person_it_leaves_with_a_stranger(
    unlabelled: Setup, tmp_path: Path
) -> None:
    """Attack pass: a stranger's face merged into the person named "Al Gore", then the
    erasure like Al Gore's photo; the person lived on with the stranger's face and the name
    "Al Gore": personal data after the erasure, labelling the stranger."""
    engine, store = unlabelled
    build(engine, store)
    groups = partition(engine, store)
    of = {sources_of(engine, faces).pop(): p for p, faces in groups.items()}
    gore, stranger = of[person_name(0)], of[person_name(1)]
    name_person(engine, store, ME, ReviewRequest(gore, name="Al Gore"))
    (theirs, *_) = sorted(groups[stranger])
    moved = split_person(engine, store, ME, ReviewRequest(stranger, face_ids=(theirs,)))
    merge_persons(engine, store, ME, ReviewRequest(gore, other=moved.person.person))
    done = erase(engine, store, ME, EraseRequest("DSR-30", like=write_photo(tmp_path, 0, 0)))
    left = show_person(engine, store, ME, gore)
    assert [f.face_id for f in left.faces] == [theirs]
    assert left.name is None
    assert done.persons_unnamed == (gore,)  # said, and in its audit entry
    assert store.audit.get(done.id).payload["persons_unnamed"] == [gore]
    assert show_person(engine, store, ME, stranger).faces  # the stranger's own person stays
