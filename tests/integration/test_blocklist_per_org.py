"""The erasure blocklist in a home of several organisations, on a real SQLite catalog and
accountability store, through the application layer as each organisation's admin (on the
fake pipeline, tests/fakes.py: this is about who an opt-out applies to).

An organisation's erasure like a photo opts the person out of its own later ingests; it
changes nothing in another organisation's ingests, and tells them nothing (their ingest report
never says "blocklisted" because of it). The host's erasure applies to every ingest.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.fakes import FakePipeline, person_name, write_photo
from tests.homes import PASSWORD

from facesearch.accountability import AccountabilityStore, Actor, Role, local_actor
from facesearch.app import EraseRequest, IngestRequest, erase, ingest
from facesearch.app.gallery import overview, stats
from facesearch.engine import Engine
from facesearch.gallery.ingest import IngestSummary

NORTH, SOUTH = "north", "south"


@dataclass(frozen=True)
class Home:
    engine: Engine
    store: AccountabilityStore
    photos: Path
    host: Actor
    admins: dict[str, Actor]

    def ingest(self, org: str, people: tuple[int, ...], shots: tuple[int, ...]) -> IngestSummary:
        paths = tuple(write_photo(self.photos, p, s) for p in people for s in shots)
        request = IngestRequest(paths, collection=f"{org}-photos")
        return ingest(self.engine, self.store, self.admins[org], request).summary

    def erase_like(self, who: Actor, person: int) -> bool:
        photo = write_photo(self.photos / "probes", person, 9)  # never ingested
        return erase(self.engine, self.store, who, EraseRequest("DSR", like=photo)).blocklisted


@pytest.fixture
def home(tmp_path: Path, fake_pipeline: FakePipeline) -> Iterator[Home]:
    settings = fake_pipeline.settings.replace(home=tmp_path / "home")
    engine = Engine(settings, pipeline=fake_pipeline)  # not closed: that closes the pipeline
    host = local_actor("tester")
    try:
        with AccountabilityStore.open(settings.home) as store:
            admins = {}
            for org in (NORTH, SOUTH):
                store.orgs.add(org, by=host)
                store.accounts.add_user(f"{org}-admin", Role.ADMIN, PASSWORD, by=host, org=org)
                admins[org] = Actor(f"{org}-admin", Role.ADMIN, org)
            yield Home(engine, store, tmp_path / "photos", host, admins)
    finally:
        engine.catalog.close()


def blocked(summary: IngestSummary) -> list[str]:
    return [f.source for f in summary.failed if f.code == "blocklisted"]


def applying(home: Home, who: Actor) -> list[tuple[str | None, int]]:
    rows = overview(home.engine, home.store, who)["blocklist_ingests"]
    return [(row["org"], row["entries"]) for row in rows]


def test_an_organisation_s_like_erasure_opts_the_person_out_of_its_own_ingests_only(
    home: Home,
) -> None:
    """An organisation's admin erasing like a photo added no blocklist entry ("no
    deployment-wide blocklist entry then"): re-ingesting the same photos into its collection
    brought the person back. Now the entry is the organisation's: its re-ingest skips them,
    while another organisation ingesting the very same photos adds them, unaware."""
    first = home.ingest(NORTH, (1, 2), (1, 2))
    assert first.faces_added == 4
    assert home.erase_like(home.admins[NORTH], 1) is True
    again = home.ingest(NORTH, (1, 2), (1, 2, 3))  # photos 1, 2 of person 1 and 2 are back
    assert len(blocked(again)) == 3 and again.faces_blocked == 3
    assert again.faces_added == 1 and again.duplicates == 2  # person 2's shot 3; 1 and 2 kept
    theirs = home.ingest(SOUTH, (1, 2), (1, 2, 3))
    assert (theirs.faces_added, theirs.faces_blocked, theirs.failed) == (6, 0, ())
    # what each is told: its own ingests' entries; the host sees every kind of ingest
    assert applying(home, home.admins[NORTH]) == [(NORTH, 1)]
    assert applying(home, home.admins[SOUTH]) == [(SOUTH, 0)]
    assert applying(home, home.host) == [(None, 0), (NORTH, 1)]


def test_the_host_s_like_erasure_applies_to_every_organisation_s_ingests(home: Home) -> None:
    """The host's CLI erases for the whole deployment: its entry applies to every ingest,
    with each organisation's own entries besides."""
    assert home.ingest(NORTH, (3,), (1,)).faces_added == 1
    assert home.erase_like(home.admins[NORTH], 3) is True
    assert home.erase_like(home.host, 4) is True  # no face of person 4 anywhere yet
    north, south = home.ingest(NORTH, (3, 4), (1, 2)), home.ingest(SOUTH, (3, 4), (1, 2))
    assert (north.faces_added, len(blocked(north))) == (0, 4)
    assert (south.faces_added, len(blocked(south))) == (2, 2)
    assert all(person_name(4) in Path(source).parts for source in blocked(south))
    assert applying(home, home.admins[SOUTH]) == [(SOUTH, 1)]
    assert applying(home, home.host) == [(None, 1), (NORTH, 2)]


def test_the_gallery_counts_the_blocklist_entries_that_apply_to_the_reader(home: Home) -> None:
    """The gallery page's counts (``app.gallery.stats``) showed an organisation's admin no
    blocklist row at all once another organisation owned a collection; now it counts the
    entries that apply to its ingests (the deployment-wide ones and its own), never another's."""
    assert home.ingest(NORTH, (5,), (1,)).faces_added == 1
    assert home.ingest(SOUTH, (6,), (1,)).faces_added == 1
    assert home.erase_like(home.admins[NORTH], 5) is True
    count = {
        org: stats(home.store, home.engine.catalog, home.admins[org])["blocklist"]
        for org in (NORTH, SOUTH)
    }
    assert count == {NORTH: 1, SOUTH: 0}
    assert home.erase_like(home.host, 7) is True
    count = {
        org: stats(home.store, home.engine.catalog, home.admins[org])["blocklist"]
        for org in (NORTH, SOUTH)
    }
    assert count == {NORTH: 2, SOUTH: 1}


def test_an_organisation_opts_out_a_person_its_gallery_does_not_hold_yet(home: Home) -> None:
    """An organisation's erasure like a photo of someone not in its gallery answered "no face
    of your organisation's collections matches" and blocklisted nothing, so a data subject
    could not opt out before their photos arrived (the host could). Now it blocklists."""
    assert home.erase_like(home.admins[NORTH], 8) is True
    later = home.ingest(NORTH, (8,), (1, 2))
    assert (later.faces_added, len(blocked(later))) == (0, 2)
    assert home.ingest(SOUTH, (8,), (1,)).faces_added == 1


@pytest.mark.parametrize("who", ["host", NORTH])
def test_the_entry_is_in_before_the_scan_for_the_person_s_faces(home: Home, who: str) -> None:
    """The entry is added before the catalog is scanned for the person: an ingest batch
    written after the scan read the catalog checks the entry in its write transaction
    (``Catalog.add_images``), one written before is in what the scan reads, so no face of the
    person escapes both."""
    assert home.ingest(NORTH, (9,), (1,)).faces_added == 1
    model, scan = home.engine.pipeline.model_id, home.engine.faces_like
    entries_at_scan: list[int] = []

    def watched(*args: Any, **kwargs: Any) -> list[int]:
        entries_at_scan.append(sum(home.engine.catalog.blocklist_sizes(model).values()))
        return scan(*args, **kwargs)

    home.engine.faces_like = watched  # type: ignore[method-assign]
    actor = home.host if who == "host" else home.admins[NORTH]
    assert home.erase_like(actor, 9) is True
    assert entries_at_scan and all(n == 1 for n in entries_at_scan)


def test_a_collection_claimed_during_an_erasure_is_scanned_too(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An organisation's erasure read its collections before its checks and its blocklist
    entry: a collection its own ingest claimed in between, holding the person, was never
    scanned, and its batch, written before the entry, was never screened. The erasure now
    reads its collections again once the entry is in."""
    erase_module = importlib.import_module("facesearch.app.erase")
    assert home.ingest(NORTH, (12,), (1,)).faces_added == 1
    real = erase_module.like_odds

    def meanwhile(*args: Any, **kwargs: Any) -> Any:
        photos = tuple(write_photo(home.photos / "late", 12, s) for s in (2, 3))
        request = IngestRequest(photos, collection="north-late")
        assert ingest(home.engine, home.store, home.admins[NORTH], request).summary.faces_added
        return real(*args, **kwargs)

    monkeypatch.setattr(erase_module, "like_odds", meanwhile)
    photo = write_photo(home.photos / "probes", 12, 9)
    done = erase(home.engine, home.store, home.admins[NORTH], EraseRequest("DSR", like=photo))
    assert len(done.face_ids) == 3, done.face_ids
    left = home.engine.faces_like(home.engine.person_like(photo.read_bytes(), None))
    assert left == []


def test_a_failed_erasure_leaves_no_blocklist_entry_and_a_retry_adds_none(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The entry goes in before the scan: when the scan failed (Ray unreachable, ...) the
    person stayed blocklisted with nothing erased and no erase entry in the trail, and each
    retry added one more entry (each making every entry's threshold stricter). A failed scan
    now takes its entry back, and a photo already on the blocklist is not added again."""
    assert home.ingest(NORTH, (13,), (1,)).faces_added == 1
    model = home.engine.pipeline.model_id

    def broken(*args: Any, **kwargs: Any) -> list[int]:
        raise ConnectionError("the scan's cluster went away")

    with monkeypatch.context() as m:
        m.setattr(home.engine, "faces_like", broken)
        for who in (home.admins[NORTH], home.host):
            with pytest.raises(ConnectionError):
                home.erase_like(who, 13)
    assert home.engine.catalog.blocklist_sizes(model) == {}
    assert home.erase_like(home.admins[NORTH], 13) is True
    assert home.erase_like(home.admins[NORTH], 13) is True  # again: its own entry, one person
    assert home.engine.catalog.blocklist_sizes(model) == {NORTH: 1}


def test_the_default_organisation_s_admin_counts_only_entries_of_its_ingests(
    home: Home,
) -> None:
    """Owning every collection, the default organisation's admin was shown the catalog's
    raw blocklist count, another organisation's opt-outs included."""
    home.store.accounts.add_user("dflt-admin", Role.ADMIN, PASSWORD, by=home.host)
    default_admin = Actor("dflt-admin", Role.ADMIN, "default")
    assert home.erase_like(home.admins[SOUTH], 14) is True
    assert stats(home.store, home.engine.catalog, default_admin)["blocklist"] == 0
    assert stats(home.store, home.engine.catalog, home.host)["blocklist"] == 1


def test_two_erasures_of_one_photo_each_keep_their_own_entry(home: Home) -> None:
    """A retried or concurrent erasure of a photo already on the blocklist added no entry
    and relied on the other's: when that other's scan failed and took its entry back, the
    erasure that succeeded was left with none. Each now keeps its own, and the same photo
    entered twice counts once in K."""
    from facesearch.forgetting import blocklisted_for_the_scan

    photo = write_photo(home.photos / "probes", 15, 9)
    person = home.engine.person_like(photo.read_bytes(), None)
    with pytest.raises(ConnectionError), blocklisted_for_the_scan(home.engine, person, NORTH):
        with blocklisted_for_the_scan(home.engine, person, NORTH):
            pass  # the second erasure's scan succeeds
        raise ConnectionError("the first erasure's scan fails")
    model = home.engine.pipeline.model_id
    assert len(home.engine.catalog.blocklist(model, NORTH)) == 1
    assert home.erase_like(home.admins[NORTH], 15) is True
    assert len(home.engine.catalog.blocklist(model, NORTH)) == 2
    assert home.engine.catalog.blocklist_sizes(model) == {NORTH: 1}  # one person
    assert applying(home, home.admins[NORTH]) == [(NORTH, 1)]
