"""app.people_reads: the crops and photos of a People or person read are part of it for an
hour (``PEOPLE_READ_LASTS``), then refused, saying to reload the page; within it, neither
logged again nor anything but the faces that read showed.

On the fake pipeline (tests/fakes.py): six synthetic people, four shots each, labelled."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tests.fakes import FakePipeline

from facesearch.accountability import AccountabilityStore, Action, local_actor
from facesearch.app import BuildRequest, build_people, list_people, show_person
from facesearch.app.gallery import file_bytes
from facesearch.app.people_reads import PEOPLE_READ_LASTS
from facesearch.engine import Engine
from facesearch.errors import InputError, NotFoundError


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture()
def world(
    fake_homes: Any, fake_pipeline: FakePipeline
) -> Iterator[tuple[Engine, AccountabilityStore, Clock, Any]]:
    home = fake_homes("app-people-reads")
    clock = Clock()
    engine = Engine(home.settings, pipeline=fake_pipeline)
    with AccountabilityStore.open(home.home, clock=clock) as store:
        build_people(engine, store, local_actor("tester"), BuildRequest())
        yield engine, store, clock, home.settings
    engine.catalog.close()


def reads_after(store: AccountabilityStore, seq: int) -> list[int]:
    return [e.seq for e in store.audit.entries(action=Action.READ, limit=None) if e.seq > seq]


def test_a_people_read_covers_its_crops_for_an_hour_then_says_to_reload(world: Any) -> None:
    engine, store, clock, settings = world
    inv = store.accounts.get_user("inv1")
    listed = list_people(engine, store, inv)
    face = listed.people[0].cover.face_id

    def crop() -> bytes:
        return file_bytes(
            store, engine.catalog, settings, inv, "face_crop", face, people_read=listed.id
        )

    assert crop()[:2] == b"\xff\xd8"  # a JPEG
    clock.now += PEOPLE_READ_LASTS - timedelta(seconds=1)
    assert crop()[:2] == b"\xff\xd8"
    assert reads_after(store, listed.id) == []  # part of the read: not logged again
    clock.now += timedelta(seconds=2)
    with pytest.raises(NotFoundError, match="reload the page"):
        crop()
    assert reads_after(store, listed.id) == []


def test_a_person_read_covers_the_faces_and_photos_it_showed_only(world: Any) -> None:
    engine, store, _, settings = world
    inv = store.accounts.get_user("inv1")
    first, second = list_people(engine, store, inv).people[:2]
    shown = show_person(engine, store, inv, first.person)
    assert shown.read == store.audit.head().seq

    def read(what: Any, item: int, seq: int | None = shown.read, **kw: Any) -> bytes:
        return file_bytes(store, engine.catalog, settings, inv, what, item, people_read=seq, **kw)

    mine, theirs = shown.faces[0], second.faces[0]
    assert read("face_crop", mine.face_id)
    assert read("image_file", mine.image_id)
    for what, item in (("face_crop", theirs.face_id), ("image_file", theirs.image_id)):
        with pytest.raises(NotFoundError):
            read(what, item)
    with pytest.raises(NotFoundError):  # another user's read of the same person
        file_bytes(
            store,
            engine.catalog,
            settings,
            store.accounts.get_user("inv2"),
            "face_crop",
            mine.face_id,
            people_read=shown.read,
        )
    with pytest.raises(InputError):  # a search's or a page's, not both
        read("face_crop", mine.face_id, search=1)
    assert reads_after(store, shown.read) == []
