"""What an organisation's admin reads of the gallery at the machine: its own collections and
those shared with it, never another organisation's (``export --subject``, ``stats``, what a
``forget --like`` says of the gallery it erased in, ``erasure status``)."""

from __future__ import annotations

import hashlib
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from accountability_helpers import FakeClock
from tests.fakes import GALLERY_SHOTS, face_photo, person_name, write_photo

from facesearch.accountability import AccountabilityStore, Action, local_actor
from facesearch.app import (
    EraseRequest,
    IngestRequest,
    SearchRequest,
    erase,
    erasure_status,
    export_subject,
    ingest,
    load_search,
    probe_of,
    search,
)
from facesearch.app.gallery import overview
from facesearch.engine import Engine
from facesearch.errors import NotFoundError
from facesearch.gallery.vectors import PendingDeletion


def _police(engine: Engine, store: AccountabilityStore, tmp_path: Path) -> Any:
    """An organisation 'police' that owns one collection, 'mugshots', holding one photo of
    person 0 (whose other photos are in the default organisation's gallery)."""
    me = local_actor("tester")
    store.orgs.add("police", by=me)
    store.orgs.claim("mugshots", "police", by=me)
    officer = local_actor("tester", org="police")
    photo = write_photo(tmp_path / "mugs" / person_name(0), 0, 7)
    request = IngestRequest((photo.parent.parent,), collection="mugshots", label_from_dir=True)
    assert ingest(engine, store, officer, request).summary.images_added == 1
    return officer


def test_an_organisation_exports_a_subject_s_data_from_its_own_collections_only(
    engine: Engine, store: AccountabilityStore, tmp_path: Path
) -> None:
    """``--org police export --subject X`` printed the default organisation's images of X,
    with their paths and embeddings, though police sees none of them."""
    officer = _police(engine, store, tmp_path)
    data, entry = export_subject(
        engine, store, officer, person_name(0), case="SAR-1", purpose="subject access"
    )
    assert {i["collection"] for i in data["images"]} == {"mugshots"}
    assert len(data["faces"]) == 1 and data["faces"][0]["image_id"] == data["images"][0]["id"]
    assert entry.payload["image_ids"] == [data["images"][0]["id"]]
    with pytest.raises(NotFoundError, match="no subject named"):  # only the default's photos
        export_subject(engine, store, officer, person_name(1), case="SAR-1", purpose="p")
    host, _ = export_subject(
        engine, store, local_actor("tester"), person_name(0), case="SAR-2", purpose="p"
    )
    assert len(host["faces"]) == len(GALLERY_SHOTS) + 1  # the host's CLI sees everything


def test_an_organisation_s_stats_count_its_own_collections_only(
    engine: Engine, store: AccountabilityStore, tmp_path: Path
) -> None:
    officer = _police(engine, store, tmp_path)
    mine = overview(engine, store, officer)
    assert (mine["images"], mine["faces"], mine["collections"]) == (1, 1, 1)
    everything = overview(engine, store, local_actor("tester"))
    assert everything["images"] > 1


def test_an_organisation_s_like_erasure_counts_strangers_in_its_own_collections_only(
    engine: Engine, store: AccountabilityStore, tmp_path: Path
) -> None:
    """``--org police forget --like`` erases within police's collections, but its answer and
    entry gave the whole deployment's face count as ``like.gallery_faces`` and priced the
    strangers it would take along (``like.expected_strangers``) over every organisation's
    faces."""
    officer = _police(engine, store, tmp_path)
    probe = write_photo(tmp_path / "probes", 0, 0)
    done = erase(engine, store, officer, EraseRequest("DSR-1", like=probe))
    assert len(done.face_ids) == 1 and done.like is not None
    assert done.like["gallery_faces"] == 1  # mugshots' one face, not the deployment's
    assert done.like["expected_strangers"] == pytest.approx(done.like["fmr"], abs=1e-3)
    assert store.audit.get(done.id).payload["like"] == done.like


def test_an_organisation_at_the_machine_sees_its_own_pending_erasures_only(
    engine: Engine, store: AccountabilityStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--org police erasure status`` listed the vector store's pending deletions of every
    organisation (the local actor saw all of them, whatever its ``--org``): when and how many
    faces the default organisation erased. Police sees its own; the host's CLI every one."""
    officer = _police(engine, store, tmp_path)
    ids = {name: cid for cid, name in engine.catalog.collection_names().items()}

    def pending(cid: int, faces: int) -> PendingDeletion:
        return PendingDeletion(faces, 1_700_000_000.0, 0, "automatic", "", (cid,))

    held = [pending(ids["default"], 5), pending(ids["mugshots"], 1)]
    monkeypatch.setattr(engine.indexes, "pending_physical_deletions", lambda: list(held))
    mine = erasure_status(engine, store, officer)
    assert [p.faces for p in mine.pending] == [1]
    everything = erasure_status(engine, store, local_actor("tester"))
    assert [p.faces for p in everything.pending] == [5, 1]


def test_a_probe_another_organisation_keeps_longer_ends_with_one_s_own_retention(
    engine: Engine, home: Any, tmp_path: Path
) -> None:
    """Kept probes are stored once per sha256, kept as long as the longest retention of
    those who searched them. Police keeps its probes 1 day; the default organisation 30. When
    both searched one photo, police's search still showed its probe after its day, so police
    learnt that someone else had searched that very photo since (or keeps them longer). A
    search's probe now ends for its organisation with the retention it was kept for, and
    police's erasure like that person counts it no more."""
    clock = FakeClock(datetime.now(UTC))
    with AccountabilityStore.open(home.home, clock=clock) as store:
        officer = _police(engine, store, tmp_path)
        store.orgs.change("police", policy={"probe_retention_days": 1}, by=local_actor("tester"))
        store.cases.open("P-1", "a probe both searched", by=officer)
        store.cases.open("D-1", "a probe both searched", by=local_actor("tester"))
        photo = face_photo(0, 8)  # person 0: in police's collection and the default one
        theirs = search(engine, store, officer, SearchRequest(photo, case="P-1", purpose="p"))
        ours = search(engine, store, local_actor("tester"), SearchRequest(photo, "D-1", "p"))
        assert theirs.id is not None and ours.id is not None
        assert probe_of(store, officer, theirs.id)[0] == photo
        clock.advance(days=2)
        with pytest.raises(NotFoundError, match="no longer kept"):
            probe_of(store, officer, theirs.id)
        assert not load_search(store, engine.catalog, engine.calibration, theirs.id).probe_kept
        assert probe_of(store, local_actor("tester"), ours.id)[0] == photo  # its 30 days
        like = EraseRequest("asked", like=face_photo(0, 9), case="P-1")
        erased = erase(engine, store, officer, like)  # police's face of person 0
        assert (len(erased.face_ids), erased.probes_deleted) == (1, 0)  # its probe: gone already
        assert probe_of(store, local_actor("tester"), ours.id)[0] == photo


def test_a_probe_both_organisations_erased_loses_its_bytes(
    engine: Engine, store: AccountabilityStore, tmp_path: Path
) -> None:
    """Police and customs searched one photo of person 0; each then erased person 0 like a
    photo. Police's erasure kept the probe's bytes, as customs' record still held it; but
    customs' erasure kept them too, because police's entries still named it, though police
    had taken it already. Both entries said the probe was deleted, no organisation could see
    it, and its bytes stayed until the longest retention ran out. The last organisation
    still keeping it deletes them."""
    officer = _police(engine, store, tmp_path)
    me = local_actor("tester")
    store.orgs.add("customs", by=me)
    store.orgs.claim("border", "customs", by=me)
    agent = local_actor("tester", org="customs")
    photo = write_photo(tmp_path / "border" / person_name(0), 0, 6)
    request = IngestRequest((photo.parent.parent,), collection="border", label_from_dir=True)
    assert ingest(engine, store, agent, request).summary.images_added == 1
    store.cases.open("P-1", "a probe both searched", by=officer)
    store.cases.open("C-1", "a probe both searched", by=agent)
    probe = face_photo(0, 8)
    theirs = search(engine, store, officer, SearchRequest(probe, case="P-1", purpose="p"))
    ours = search(engine, store, agent, SearchRequest(probe, case="C-1", purpose="p"))
    assert theirs.id is not None and ours.id is not None
    digest = store.audit.get(ours.id).payload["probe_sha256"]
    like = face_photo(0, 9)
    first = erase(engine, store, officer, EraseRequest("asked", like=like, case="P-1"))
    assert first.probes_deleted == 1
    assert probe_of(store, agent, ours.id)[0] == probe  # customs still keeps it
    second = erase(engine, store, agent, EraseRequest("asked", like=like, case="C-1"))
    assert second.probes_deleted == 1
    with pytest.raises(NotFoundError):
        store.probes.expires(digest)  # the bytes are gone, not only hidden


def test_an_organisation_s_like_erasure_takes_its_verification_photos_of_the_person(
    engine: Engine, store: AccountabilityStore, tmp_path: Path
) -> None:
    """A verification keeps its two photos as a search keeps its probe, but its entry names
    them as a list, which an organisation's erasure did not read: police's erasure like
    person 0 left police's verification photo of person 0 stored until its retention ran
    out. Now it goes (and is counted); the photo of person 1 stays; and one customs also
    verified stays stored for customs, while police's erasure still counts it as gone."""
    from facesearch.app.verify import VerifyRequest, verify

    officer = _police(engine, store, tmp_path)
    me = local_actor("tester")
    store.orgs.add("customs", by=me)
    agent = local_actor("tester", org="customs")
    store.cases.open("P-2", "verifications", by=officer)
    store.cases.open("C-2", "verifications", by=agent)
    mine, other, shared = face_photo(0, 8), face_photo(1, 8), face_photo(0, 9)
    verify(engine, store, officer, VerifyRequest(mine, other, case="P-2", purpose="p"))
    verify(engine, store, officer, VerifyRequest(shared, other, case="P-2", purpose="p"))
    verify(engine, store, agent, VerifyRequest(shared, face_photo(2, 8), case="C-2", purpose="p"))
    digest = {
        name: hashlib.sha256(data).hexdigest()
        for name, data in (("mine", mine), ("other", other), ("shared", shared))
    }
    assert set(digest.values()) <= set(store.probes.kept("police"))
    done = erase(engine, store, officer, EraseRequest("asked", like=face_photo(0, 10), case="P-2"))
    assert done.probes_deleted == 2  # mine and shared: both show person 0
    with pytest.raises(NotFoundError):
        store.probes.get(digest["mine"])
    assert store.probes.get(digest["other"]) == other  # person 1: not erased
    assert store.probes.get(digest["shared"]) == shared  # kept for customs' record
    assert store.probes.named_by(digest["shared"]) == {"police", "customs"}


def _customs(engine: Engine, store: AccountabilityStore, tmp_path: Path) -> Any:
    """An organisation 'customs' that owns one collection, 'border', holding one photo each
    of persons 0 and 2."""
    me = local_actor("tester")
    store.orgs.add("customs", by=me)
    store.orgs.claim("border", "customs", by=me)
    agent = local_actor("tester", org="customs")
    for person in (0, 2):
        write_photo(tmp_path / "border" / person_name(person), person, 6)
    request = IngestRequest((tmp_path / "border",), collection="border", label_from_dir=True)
    assert ingest(engine, store, agent, request).summary.images_added == 2
    return agent


def test_a_verification_photo_ends_for_each_organisation_with_its_own_retention(
    engine: Engine, home: Any, tmp_path: Path
) -> None:
    """Police keeps its photos 1 day, customs 30; both verified photo ``x`` of person 0 and
    ``y`` of person 2 against one of person 1. A verification photo was kept for each
    organisation as long as its bytes were, the longest retention of any. So two days on,
    customs' erasure like person 2 left the bytes of ``y`` for police, whose day was over
    (they stayed 30 days, kept for no one); and police's erasure like person 0 still counted
    ``x`` (``probes_deleted`` 1, where a police that alone verified it counts 0: it learnt
    that another organisation keeps that photo). Each now ends with its organisation's own
    retention, as a search's probe does."""
    from facesearch.app.verify import VerifyRequest, verify

    clock = FakeClock(datetime.now(UTC))
    with AccountabilityStore.open(home.home, clock=clock) as store:
        officer = _police(engine, store, tmp_path)
        agent = _customs(engine, store, tmp_path)
        store.orgs.change("police", policy={"probe_retention_days": 1}, by=local_actor("tester"))
        store.cases.open("P-1", "photos both verified", by=officer)
        store.cases.open("C-1", "photos both verified", by=agent)
        x, y, other = face_photo(0, 8), face_photo(2, 8), face_photo(1, 8)
        for who, case in ((officer, "P-1"), (agent, "C-1")):
            for photo in (x, y):
                verify(engine, store, who, VerifyRequest(photo, other, case=case, purpose="p"))
        entry = store.audit.entries(org="police", action=Action.VERIFY)[0]
        assert entry.payload["probe_kept_until"] == (clock() + timedelta(days=1)).isoformat()
        clock.advance(days=2)
        erased = erase(engine, store, agent, EraseRequest("asked", like=face_photo(2, 9)))
        assert erased.probes_deleted == 1  # y
        with pytest.raises(NotFoundError):  # kept for no organisation any more: the bytes go
            store.probes.expires(_sha(y))
        erased = erase(engine, store, officer, EraseRequest("asked", like=face_photo(0, 10)))
        assert (len(erased.face_ids), erased.probes_deleted) == (1, 0)  # its day is over
        assert store.probes.get(_sha(x)) == x  # customs' 30 days
        erased = erase(engine, store, agent, EraseRequest("asked", like=face_photo(0, 10)))
        assert (len(erased.face_ids), erased.probes_deleted) == (1, 1)  # x
        with pytest.raises(NotFoundError):
            store.probes.expires(_sha(x))
        assert store.probes.get(_sha(other)) == other  # person 1: not erased
        clock.advance(days=29)  # customs' 30 days are over too: the bytes go with the purge
        assert store.probes.purge_expired() == 1
        with pytest.raises(NotFoundError):
            store.probes.expires(_sha(other))


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("kind", ["search", "verify"])
def test_a_photo_kept_while_an_erasure_deletes_it_keeps_its_bytes(
    engine: Engine, home: Any, tmp_path: Path, kind: str
) -> None:
    """Police's erasure like person 0 takes the probe police searched; customs searches (or
    verifies) the same photo while the erasure runs, through a connection of its own. The
    erasure decided that no other organisation kept the photo, then deleted its bytes:
    customs' entry, committed in between, named a photo that was gone. The question and the
    delete are now one write transaction: customs waits for it (SQLite's lock), then stores
    the bytes anew (a verification keeps its photos in its entry's commit, as a search).
    ``ProbeStore.before_delete`` holds the erasure between the two."""
    from facesearch.app.verify import VerifyRequest, verify

    with AccountabilityStore.open(home.home) as store, AccountabilityStore.open(home.home) as its:
        officer = _police(engine, store, tmp_path)
        agent = _customs(engine, store, tmp_path)
        store.cases.open("P-1", "a photo both searched", by=officer)
        store.cases.open("C-1", "a photo both searched", by=agent)
        probe = face_photo(0, 8)
        search(engine, store, officer, SearchRequest(probe, case="P-1", purpose="p"))
        decided, go = threading.Event(), threading.Event()

        def hold(digests: list[str]) -> None:
            decided.set()
            assert go.wait(30)

        store.probes.before_delete = hold
        done: dict[str, Any] = {}

        def run(name: str, work: Any) -> None:
            try:
                done[name] = work()
            except BaseException as exc:  # re-raised below, in the test's thread
                done[name] = exc

        like = EraseRequest("asked", like=face_photo(0, 9), case="P-1")
        eraser = threading.Thread(
            target=run, args=("erase", lambda: erase(engine, store, officer, like))
        )
        eraser.start()
        assert decided.wait(30)

        def customs_keeps() -> Any:  # the same photo, through customs' own connection
            if kind == "search":
                return search(engine, its, agent, SearchRequest(probe, "C-1", "p"))
            return verify(engine, its, agent, VerifyRequest(probe, face_photo(1, 8), "C-1", "p"))

        keeper = threading.Thread(target=run, args=("customs", customs_keeps))
        keeper.start()
        keeper.join(timeout=2)  # it ran in that window; now it waits for the erasure
        waited = keeper.is_alive()
        go.set()
        eraser.join(timeout=60)
        keeper.join(timeout=60)
        for outcome in done.values():
            if isinstance(outcome, BaseException):
                raise outcome
        assert done["erase"].probes_deleted == 1  # police's own, gone for police
        assert store.probes.named_by(_sha(probe)) == {"police", "customs"}
        assert store.probes.get(_sha(probe)) == probe  # customs' entry names bytes still there
        if kind == "search":
            assert probe_of(store, agent, done["customs"].id)[0] == probe
        assert waited


def _approvals(engine: Engine, store: AccountabilityStore) -> tuple[Any, Any]:
    """Police's searches need a supervisor's approval: its supervisor and its investigator
    (trained)."""
    from tests.homes import PASSWORD, pass_training

    from facesearch.accountability import Role

    me = local_actor("tester")
    store.orgs.change("police", policy={"search_approval": True}, by=me)
    sup = store.accounts.add_user("sup-police", Role.SUPERVISOR, PASSWORD, by=me, org="police")
    inv = store.accounts.add_user("inv-police", Role.INVESTIGATOR, PASSWORD, by=me, org="police")
    pass_training(store, engine.settings, "inv-police")
    return sup, inv


def test_a_search_request_keeps_its_probe_beside_a_failed_search_of_it(
    engine: Engine, store: AccountabilityStore, tmp_path: Path
) -> None:
    """Police's approved request of a photo of person 0 ran and failed (no face number 5):
    the failed search names the photo but keeps nothing, and the request, still approved and
    runnable, keeps it. Police's erasure like person 0 counted the request's probe only when
    no search named it at all: beside the failed search it counted it as not kept, left its
    bytes stored and the request runnable on the erased person's photo."""
    from facesearch.app.approvals import approve, get_request, request_search, run_approved
    from facesearch.errors import InputError

    officer = _police(engine, store, tmp_path)
    sup, inv = _approvals(engine, store)
    store.cases.open("P-1", "a request that failed", by=inv)
    probe = face_photo(0, 8)
    asked = request_search(engine, store, inv, SearchRequest(probe, "P-1", "p", face=5))
    approve(store, sup, asked.id, None)
    with pytest.raises(InputError, match="no face number 5"):
        run_approved(engine, store, inv, asked.id)
    erased = erase(engine, store, officer, EraseRequest("asked", like=face_photo(0, 9)))
    assert erased.probes_deleted == 1
    with pytest.raises(NotFoundError):
        store.probes.expires(_sha(probe))  # kept for no one else: the bytes are gone
    with pytest.raises(NotFoundError, match="no longer kept"):
        run_approved(engine, store, inv, asked.id)
    # nor through the Python API with the photo's bytes in hand (the review: it ran there)
    with pytest.raises(NotFoundError, match="no longer kept"):
        search(engine, store, inv, SearchRequest(probe, "P-1", "p", face=5, approval=asked.id))
    shown = get_request(store, inv, asked.id)  # still approved, but not runnable: it says so
    assert (shown.state.value, shown.as_json()["probe_kept"]) == ("approved", False)


def test_a_search_request_after_an_erasure_keeps_its_probe_for_the_next_one(
    engine: Engine, store: AccountabilityStore, tmp_path: Path
) -> None:
    """A request alone kept its probe only until an erasure had once taken that photo: a
    second request of it after the erasure stored the bytes anew, and the next erasure like
    the person neither counted nor deleted them."""
    from facesearch.app.approvals import request_search

    officer = _police(engine, store, tmp_path)
    _, inv = _approvals(engine, store)
    store.cases.open("P-1", "asked twice", by=inv)
    probe = face_photo(0, 8)
    like = EraseRequest("asked", like=face_photo(0, 9))
    request_search(engine, store, inv, SearchRequest(probe, "P-1", "p"))
    assert erase(engine, store, officer, like).probes_deleted == 1
    request_search(engine, store, inv, SearchRequest(probe, "P-1", "p"))
    assert store.probes.get(_sha(probe)) == probe
    assert erase(engine, store, officer, like).probes_deleted == 1
    with pytest.raises(NotFoundError):
        store.probes.expires(_sha(probe))


def test_a_search_request_s_probe_ends_with_its_organisation_s_retention(
    engine: Engine, home: Any, tmp_path: Path
) -> None:
    """Police keeps its probes 1 day, the default organisation 30; police asked to search a
    photo the default organisation searched too. A search request's entry said nothing of its
    retention, so after police's day the request still ran on the bytes kept for the other
    organisation, and police's erasure like the person still counted the probe. Its entry now
    says ``probe_kept_until``, as a search's does, and both honour it."""
    from facesearch.app.approvals import approve, request_search, requests, run_approved
    from facesearch.errors import PermissionDeniedError

    clock = FakeClock(datetime.now(UTC))
    with AccountabilityStore.open(home.home, clock=clock) as store:
        officer = _police(engine, store, tmp_path)
        store.orgs.change("police", policy={"probe_retention_days": 1}, by=local_actor("tester"))
        sup, inv = _approvals(engine, store)
        store.cases.open("P-1", "a probe both used", by=inv)
        store.cases.open("D-1", "a probe both used", by=local_actor("tester"))
        photo = face_photo(0, 8)
        asked = request_search(engine, store, inv, SearchRequest(photo, "P-1", "p"))
        entry = store.audit.get(asked.id)
        assert entry.payload["probe_kept_until"] == (clock() + timedelta(days=1)).isoformat()
        ours = search(engine, store, local_actor("tester"), SearchRequest(photo, "D-1", "p"))
        clock.advance(days=2)
        # its supervisor is told, and can no longer approve it (only deny it)
        (shown,) = requests(store, sup)
        assert (shown.state.value, shown.as_json()["probe_kept"]) == ("pending", False)
        with pytest.raises(NotFoundError, match="no longer kept"):
            approve(store, sup, asked.id, None)
        with pytest.raises(PermissionDeniedError, match="waits for a supervisor"):
            run_approved(engine, store, inv, asked.id)
        like = EraseRequest("asked", like=face_photo(0, 9), case="P-1")
        erased = erase(engine, store, officer, like)
        assert (len(erased.face_ids), erased.probes_deleted) == (1, 0)  # its day is over
        assert ours.id is not None
        assert probe_of(store, local_actor("tester"), ours.id)[0] == photo  # its 30 days
