"""The application layer and the CLI over it: erasure reaches kept probes and empty
upload folders, failed searches are logged, ``export --subject`` is a logged, case-bound use.
On the fake pipeline (tests/fakes.py); the CLI in-process through ``facesearch.cli.main``."""

from __future__ import annotations

import getpass
import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from tests.fakes import GALLERY_SHOTS, face_photo, no_face_photo, person_name
from tests.homes import Ran, run_cli

from facesearch.accountability import AccountabilityStore, local_actor
from facesearch.app import EraseRequest, IngestRequest, SearchRequest, erase, ingest, search
from facesearch.engine import Engine
from facesearch.errors import FaceSearchError, InputError, NoFaceError, NotFoundError


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_forget_like_deletes_the_kept_probes_of_that_person(
    engine: Engine, store: AccountabilityStore, probe_photo: Any
) -> None:
    inv, admin = store.accounts.get_user("inv1"), store.accounts.get_user("admin1")
    colin, tony = probe_photo(0), probe_photo(1)
    for photo in (colin, tony):
        search(engine, store, inv, SearchRequest(photo, case="K-P", purpose="probe kept"))
    assert store.probes.get(sha(colin)) and store.probes.get(sha(tony))
    done = erase(engine, store, admin, EraseRequest("DSR-5", like=probe_photo(0, 5)))
    entry = store.audit.get(done.id)
    assert entry.payload["probes_deleted"] == {"count": 1, "sha256": [sha(colin)]}
    with pytest.raises(NotFoundError):
        store.probes.get(sha(colin))
    assert store.probes.get(sha(tony)) == tony.read_bytes()
    assert store.verify().ok


def test_in_a_home_of_several_organisations_the_host_s_forget_like_still_opts_out(
    engine: Engine, store: AccountabilityStore, probe_photo: Any
) -> None:
    """Once another organisation owned a collection, the host's ``forget --like`` blocklisted
    nothing and deleted no kept probe, and said so only as "deleted 0 kept probe photo(s)":
    the opt-out silently stopped working. The host's CLI erases for the whole deployment; an
    organisation's admin deletes the probes its own organisation's searches kept and
    blocklists the person for its own ingests only (a deployment-wide entry is not theirs to
    make)."""
    me = local_actor("tester")
    store.orgs.add("south", by=me)
    store.orgs.claim("south-photos", "south", by=me)
    inv, admin = store.accounts.get_user("inv1"), store.accounts.get_user("admin1")
    colin, tony = probe_photo(0), probe_photo(1)
    for photo in (colin, tony):
        search(engine, store, inv, SearchRequest(photo, case="K-P", purpose="probe kept"))
    by_admin = erase(engine, store, admin, EraseRequest("DSR-6", like=probe_photo(1, 5)))
    entry = store.audit.get(by_admin.id)
    assert entry.payload["probes_deleted"] == {"count": 1, "sha256": [sha(tony)]}
    assert entry.payload["blocklisted"] is True and entry.payload["counts"]["faces"] >= 1
    model = engine.pipeline.model_id
    assert engine.catalog.blocklist_sizes(model) == {admin.org: 1}
    by_host = erase(engine, store, me, EraseRequest("DSR-7", like=probe_photo(0, 5)))
    entry = store.audit.get(by_host.id)
    assert entry.payload["probes_deleted"] == {"count": 1, "sha256": [sha(colin)]}
    assert entry.payload["blocklisted"] is True
    assert engine.catalog.blocklist_sizes(model) == {None: 1, admin.org: 1}
    for photo in (colin, tony):
        with pytest.raises(NotFoundError):
            store.probes.get(sha(photo))
    assert store.verify().ok


def test_erasure_removes_emptied_upload_folders(
    engine: Engine, store: AccountabilityStore, probe_photo: Any, home: Any
) -> None:
    uploads = home.home / "uploads"
    mine = uploads / "0123456789abcdef" / "plain"
    other = uploads / "fedcba9876543210" / "plain"
    for folder, person in ((mine, 6), (other, 7)):
        folder.mkdir(parents=True)
        shutil.copy(probe_photo(person, 1), folder / "000001-photo.png")
    admin = store.accounts.get_user("admin1")
    summary = ingest(
        engine, store, admin, IngestRequest((mine, other), collection="uploaded")
    ).summary
    assert summary.images_added == 2
    laura = next(
        f
        for f in engine.catalog.faces(list(range(1, 500)))
        if f.source.startswith(str(mine.resolve()))
    )
    done = erase(engine, store, admin, EraseRequest("DSR-6", image_id=laura.image_id))
    entry = store.audit.get(done.id)
    assert entry.payload["uploaded_files_deleted"] == 1
    assert not (uploads / "0123456789abcdef").exists()  # the job folder went with its file
    assert (other / "000001-photo.png").is_file() and uploads.is_dir()


def test_a_failed_search_is_logged_with_its_outcome(
    engine: Engine, store: AccountabilityStore, tmp_path: Path
) -> None:
    inv = store.accounts.get_user("inv1")
    sky = tmp_path / "sky.png"
    sky.write_bytes(no_face_photo())
    before = store.audit.head().seq
    with pytest.raises(NoFaceError):
        search(engine, store, inv, SearchRequest(sky, case="K-N", purpose="nothing there"))
    entry = store.audit.get(before + 1)
    assert entry.action == "search" and entry.actor == "inv1" and entry.case == "K-N"
    assert entry.payload["outcome"] == "no_face" and entry.payload["candidates"] == []
    assert entry.payload["probe_sha256"] == sha(sky)
    with pytest.raises(NotFoundError):  # nothing was searched: the probe is not kept
        store.probes.get(sha(sky))


# --- the CLI through its real entry point --------------------------------------------------


@pytest.fixture()
def cli(capsys: pytest.CaptureFixture[str], fake_models: None) -> Any:
    """cli(home, *args): the CLI in this process, on the fake pipeline."""

    def run(home: Path, *args: str) -> Ran:
        return run_cli(capsys, home, *args)

    return run


def test_cli_failed_search_and_subject_export_are_logged(
    home: Any, tmp_path: Path, cli: Any
) -> None:
    me = local_actor().name
    sky = tmp_path / "sky.jpg"
    sky.write_bytes(no_face_photo(fmt="JPEG"))
    with AccountabilityStore.open(home.home) as s:
        start = s.audit.head().seq
    r = cli(home.home, "search", str(sky), "--case", "K-C", "--purpose", "p")
    assert r.code == 2 and "no face" in r.err, r.err

    r = cli(home.home, "export", "--subject", person_name(0))
    assert r.code == 2 and "--case" in r.err and not r.out, (r.out, r.err)
    r = cli(
        home.home,
        "export",
        "--subject",
        person_name(0),
        "--case",
        "K-SAR-3",
        "--purpose",
        "subject access request",
    )
    assert r.code == 0, r.err
    data = json.loads(r.out)
    assert len(data["faces"]) == len(GALLERY_SHOTS) and len(data["faces"][0]["embedding"]) == 128
    with AccountabilityStore.open(home.home) as s:
        new = s.audit.entries(limit=None)[start:]
    assert [(e.actor, e.action, e.case) for e in new] == [
        (me, "search", "K-C"),
        (me, "read", "K-SAR-3"),
    ]
    assert new[0].payload["outcome"] == "no_face"
    p = new[1].payload
    assert p["what"] == "subject_export" and p["subject"] == person_name(0)
    assert sorted(p["face_ids"]) == sorted(f["id"] for f in data["faces"])
    assert p["embeddings"] is True
    assert me == "os:" + getpass.getuser()


def test_cli_export_without_accounts_needs_no_case_but_is_logged(fake_homes: Any, cli: Any) -> None:
    bare = fake_homes("usage-bare", users=False).home
    r = cli(bare, "export", "--subject", person_name(1))
    assert r.code == 0, r.err
    with AccountabilityStore.open(bare) as s:
        last = s.audit.entries(limit=None)[-1]
    assert last.action == "read" and last.payload["what"] == "subject_export"
    assert last.case is None and last.actor.startswith("os:")


def test_cli_forget_like_reports_the_kept_probes_it_deleted(
    home: Any, probe_photo: Any, cli: Any
) -> None:
    use = ["--case", "K-L", "--purpose", "search, then erasure"]
    probe = probe_photo(3)
    r = cli(home.home, "search", str(probe), *use)
    assert r.code == 0, r.err
    like = str(probe_photo(3, 5))
    r = cli(home.home, "forget", "--like", like, "--reason", "DSR-9", "--json", *use)
    assert r.code == 0, r.err
    out = json.loads(r.out)
    assert out["probes_deleted"] == 1 and out["faces_removed"] >= 1
    r = cli(home.home, "forget", "--like", like, "--reason", "DSR-9", *use)
    assert r.code == 0 and "0 kept probe photo(s)" in r.out, r.out
    with AccountabilityStore.open(home.home) as s, pytest.raises(NotFoundError):
        s.probes.get(sha(probe))


def test_a_search_whose_entry_cannot_be_written_keeps_no_probe(
    engine: Engine, store: AccountabilityStore, probe_photo: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The probe is kept in the commit of its search's entry: when the entry fails, no probe
    stays behind without one (it was kept in a commit of its own before)."""
    inv = store.accounts.get_user("inv1")
    photo = probe_photo(2)
    before = store.audit.head()

    def broken(**_: Any) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(store.audit, "append", broken)
    with pytest.raises(OSError):
        search(engine, store, inv, SearchRequest(photo, case="K-P", purpose="entry fails"))
    monkeypatch.undo()
    with pytest.raises(NotFoundError):
        store.probes.get(sha(photo))
    assert store.audit.head() == before
    done = search(engine, store, inv, SearchRequest(photo, case="K-P", purpose="entry written"))
    assert store.probes.get(sha(photo)) == photo.read_bytes()
    assert store.audit.get(done.id).payload["probe_sha256"] == sha(photo)


def test_a_probe_path_that_is_not_utf8_is_searched_and_logged_escaped(
    engine: Engine, store: AccountabilityStore, probe_photo: Any, tmp_path: Path
) -> None:
    """``facesearch search 'p\\xff.jpg'`` crashed with a traceback writing its audit entry:
    the probe's name could not be stored. It is logged with the byte written as ``\\xff``."""
    import os

    odd = Path(os.fsdecode(os.fsencode(tmp_path) + b"/p\xff.png"))
    shutil.copy(probe_photo(0), odd)
    inv = store.accounts.get_user("inv1")
    for name in (None, str(odd)):  # the CLI names the probe by its path
        request = SearchRequest(odd, name=name, case="K-U", purpose="odd name")
        record = search(engine, store, inv, request)
        assert store.audit.get(record.id).payload["probe"].endswith("/p\\xff.png")


def test_copies_of_a_photo_that_fails_fail_alike_and_are_no_duplicates(
    engine: Engine, store: AccountabilityStore, probe_photo: Any, tmp_path: Path
) -> None:
    """Three copies of one damaged JPEG gave "0 added, 2 duplicates, 1 failed": the copies
    were in the gallery nowhere and listed nowhere. Copies of a photo that is added stay
    duplicates."""
    folder = tmp_path / "copies"
    folder.mkdir()
    damaged = probe_photo(2, 7).read_bytes()[:300]
    for name in ("a.png", "b.png", "c.png"):
        (folder / name).write_bytes(damaged)
    for name in ("d.png", "e.png"):
        shutil.copy(probe_photo(3, 7), folder / name)
    admin = store.accounts.get_user("admin1")
    summary = ingest(engine, store, admin, IngestRequest((folder,), collection="copies")).summary
    assert summary.images_added == 1 and summary.duplicates == 1
    failed = {Path(f.source).name: f for f in summary.failed}
    assert sorted(failed) == ["a.png", "b.png", "c.png"]
    assert failed["b.png"].code == failed["a.png"].code
    assert "the same bytes as" in failed["c.png"].reason


def test_ingest_of_paths_not_utf8_and_of_a_folder_that_cannot_be_a_subject(
    engine: Engine, store: AccountabilityStore, probe_photo: Any, tmp_path: Path
) -> None:
    """A path given on the command line that is not UTF-8 crashed the run (its record
    stores the paths), and one folder whose name cannot be a subject name (an invisible
    character in it) stopped a --label-from-dir ingest with nothing added: both are
    per-photo failures now."""
    import os

    root = os.fsencode(tmp_path)
    odd = Path(os.fsdecode(root + b"/p\xff.png"))
    shutil.copy(probe_photo(4, 7), odd)
    good = tmp_path / "labels" / "Good"
    bad = tmp_path / "labels" / "Ba\u2060d"
    for folder, person in ((good, 5), (bad, 6)):
        folder.mkdir(parents=True)
        shutil.copy(probe_photo(person, 7), folder / "a.png")
    admin = store.accounts.get_user("admin1")
    request = IngestRequest((odd, tmp_path / "labels"), collection="odd", label_from_dir=True)
    summary = ingest(engine, store, admin, request).summary
    assert summary.images_added == 1
    reasons = {Path(f.source).name: f.reason for f in summary.failed}
    assert "not valid UTF-8" in reasons["p\\xff.png"]
    assert "cannot be a subject name" in reasons["a.png"]


def test_forget_like_a_photo_of_two_people_of_similar_size_is_refused(
    engine: Engine, store: AccountabilityStore, tmp_path: Path
) -> None:
    """`forget --like` with Colin Powell and Serena Williams side by side erased and
    blocklisted one of them (the bigger face) and said nothing of the other."""
    admin = store.accounts.get_user("admin1")
    both = tmp_path / "both.png"
    both.write_bytes(face_photo(0, 5, faces=2))
    faces_before = engine.catalog.stats()["faces"]
    with pytest.raises(InputError, match="2 faces of similar size; crop it"):
        erase(engine, store, admin, EraseRequest("DSR-8", like=both))
    assert engine.catalog.stats()["faces"] == faces_before


def test_forget_like_an_empty_file_says_it_is_empty(
    engine: Engine, store: AccountabilityStore, tmp_path: Path
) -> None:
    """An empty file as the photo said "give exactly one of: face ids, an image id ..."."""
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    admin = store.accounts.get_user("admin1")
    with pytest.raises(FaceSearchError) as caught:
        erase(engine, store, admin, EraseRequest("DSR-9", like=empty))
    assert "exactly one of" not in str(caught.value) and "empty" in str(caught.value)


def test_erasing_a_face_id_that_does_not_exist_is_not_found(
    engine: Engine, store: AccountabilityStore
) -> None:
    """The host's `forget --face 99999` said "removed 0 face(s)", exit 0, and logged an
    erasure, where an organisation's admin (and `--image`, `--subject`) got "not found"."""
    admin, me = store.accounts.get_user("admin1"), local_actor("tester")
    before = store.audit.count()
    for who in (admin, me):
        with pytest.raises(NotFoundError, match="no face with id 99999"):
            erase(engine, store, who, EraseRequest("DSR-10", face_ids=(1, 99999)))
    assert store.audit.count() == before and engine.catalog.faces([1])  # face 1 kept
    for wrong in (("1",), (1.5,), (True,)):
        with pytest.raises(InputError, match="whole numbers"):
            erase(engine, store, me, EraseRequest("DSR-11", face_ids=wrong))  # type: ignore[arg-type]


def test_forget_like_says_how_many_strangers_match_that_well_by_chance(
    engine: Engine, store: AccountabilityStore, probe_photo: Any
) -> None:
    """A `like` erasure erases every face at or above the blocklist's threshold: in a gallery
    of N faces about FMR x N of them are other people's. It said nothing of that."""
    me = local_actor("tester")
    done = erase(engine, store, me, EraseRequest("DSR-12", like=probe_photo(2, 5)))
    like = done.like
    assert like is not None and like["gallery_faces"] == engine.indexes.size() + len(done.face_ids)
    assert like["fmr"] == pytest.approx(engine.calibration.fmr_at(like["threshold"]), rel=1e-3)
    assert like["expected_strangers"] == pytest.approx(
        like["fmr"] * like["gallery_faces"], abs=1e-3
    )
    assert store.audit.get(done.id).payload["like"] == like


def test_a_like_erasure_expected_to_take_strangers_is_refused_before_anything_goes(
    home: Any, fake_pipeline: Any, store: AccountabilityStore, probe_photo: Any
) -> None:
    """At FMR 1e-4 a gallery of a million faces holds about 100 strangers who match a photo
    that well by chance; a like erasure took them all along (and only said so afterwards).
    Past FACESEARCH_ERASE_LIKE_MAX_STRANGERS it is refused before anything is erased,
    naming the rate that keeps within it; that rate is then accepted."""
    me = local_actor("tester")
    strict = home.settings.replace(erase_like_max_strangers=1e-3)
    engine = Engine(strict, pipeline=fake_pipeline)
    try:
        faces, entries = engine.indexes.size(), store.audit.count()
        with pytest.raises(InputError, match="faces of other people") as refused:
            erase(engine, store, me, EraseRequest("DSR-13", like=probe_photo(2, 5)))
        assert engine.indexes.size() == faces and engine.catalog.stats()["faces"] == faces
        assert store.audit.count() == entries
        assert not engine.catalog.blocklist(engine.pipeline.model_id).size
        said = str(refused.value)
        assert f"x {faces:,} faces" in said and "erase them by face id" in said
        rate = float(said.split("give a false match rate of ")[1].split(" ")[0])
        assert rate == pytest.approx(1e-3 / faces, rel=0.05)
        done = erase(
            engine, store, me, EraseRequest("DSR-13", like=probe_photo(2, 5), max_fmr=rate)
        )
        assert done.like is not None and done.like["expected_strangers"] <= 1e-3
        assert done.like["max_strangers"] == 1e-3 and done.face_ids
    finally:
        engine.catalog.close()


def test_a_like_erasure_below_what_the_calibration_resolves_says_to_erase_by_face_id(
    home: Any, fake_pipeline: Any, store: AccountabilityStore, probe_photo: Any
) -> None:
    """When no false match rate the calibration resolves keeps within the limit, the
    refusal says so instead of naming a rate that would then be refused too."""
    engine = Engine(home.settings.replace(erase_like_max_strangers=0.0), pipeline=fake_pipeline)
    try:
        with pytest.raises(InputError, match="resolves no false match rate below") as refused:
            erase(engine, store, local_actor("t"), EraseRequest("DSR-14", like=probe_photo(2, 5)))
        assert "give a false match rate of" not in str(refused.value)
    finally:
        engine.catalog.close()
