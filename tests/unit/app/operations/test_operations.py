"""The application layer's operations: every use checked and audited, the same for the CLI and
the server.
On the fake pipeline (tests/fakes.py): the rules do not depend on real faces."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from tests.fakes import FakePipeline, person_name

from facesearch.accountability import AccountabilityStore, local_actor
from facesearch.app import (
    EraseRequest,
    IngestRequest,
    SearchRequest,
    VerifyRequest,
    check_case,
    erase,
    ingest,
    search,
    verify,
)
from facesearch.engine import Engine
from facesearch.errors import InputError, PermissionDeniedError


def floats_longer_than(value: Any, n: int) -> bool:
    if isinstance(value, dict):
        return any(floats_longer_than(v, n) for v in value.values())
    if isinstance(value, list):
        if len(value) > n and all(isinstance(v, float) for v in value):
            return True
        return any(floats_longer_than(v, n) for v in value)
    return False


def test_search_entry_holds_everything(
    engine: Engine, store: AccountabilityStore, probe_photo: Any
) -> None:
    inv = store.accounts.get_user("inv1")
    photo = probe_photo(0)
    result = search(
        engine, store, inv, SearchRequest(photo, case=" K-1 ", purpose="a robbery", top=3)
    )
    entry = store.audit.get(result.id)
    assert entry.actor == "inv1" and entry.action == "search"
    assert entry.case == "K-1" and entry.purpose == "a robbery"
    p = entry.payload
    assert p["started"] <= p["ended"]
    assert p["collections"] == [{"name": "default", "size": engine.indexes.size(["default"])}]
    digest = hashlib.sha256(photo.read_bytes()).hexdigest()
    assert p["probe_sha256"] == digest == result.probe_sha256
    assert store.probes.get(digest) == photo.read_bytes()
    expires = store.probes.expires(digest) - entry.time
    assert abs(expires.days - engine.settings.probe.retention_days) <= 1
    hits = [(h.face_id, round(h.similarity, 6)) for f in result.faces for h in f.hits]
    assert [(c["face_id"], c["score"]) for c in p["candidates"]] == hits
    assert p["parameters"]["top"] == 3 and p["parameters"]["model_id"].startswith("sface")
    assert [f["face"] for f in p["probe_faces"]] == [f.face for f in result.faces]
    assert not floats_longer_than(dict(p), 8)
    assert store.verify().ok


def test_case_and_purpose_rules(
    engine: Engine,
    store: AccountabilityStore,
    probe_photo: Any,
    fake_pipeline: FakePipeline,
    fake_homes: Any,
) -> None:
    photo = probe_photo(1)
    inv = store.accounts.get_user("inv1")
    head = store.audit.head()
    for case, purpose in ((None, "x"), ("K", None), ("  ", "x"), ("K\n2", "x")):
        with pytest.raises(InputError):
            search(engine, store, inv, SearchRequest(photo, case=case, purpose=purpose))
    with pytest.raises(InputError, match="case number is required"):  # the CLI too
        search(engine, store, local_actor("x"), SearchRequest(photo))
    assert store.audit.head() == head
    with pytest.raises(InputError, match="longer than"):
        check_case("K" * 201, "x", required=True)

    # a home without accounts: no case needed at the CLI, but always through the server
    bare = fake_homes("usage-bare", users=False).home
    e2 = Engine(fake_pipeline.settings.replace(home=bare), pipeline=fake_pipeline)
    try:
        with AccountabilityStore.open(bare) as s2:
            record = search(e2, s2, local_actor("x"), SearchRequest(photo))
            assert record.case is None and record.actor == "os:x"
            s2.accounts.add_user(
                "inv9", "investigator", "correct-horse-battery-9", by=local_actor("x")
            )
            with pytest.raises(InputError):  # a server user always names the case
                search(e2, s2, s2.accounts.get_user("inv9"), SearchRequest(photo))
    finally:
        e2.catalog.close()


def test_roles_are_checked(engine: Engine, store: AccountabilityStore, probe_photo: Any) -> None:
    photo = probe_photo(5)
    use = {"case": "K", "purpose": "p"}
    for name in ("aud1", "admin1"):  # auditors and admins do not search
        with pytest.raises(PermissionDeniedError):
            search(engine, store, store.accounts.get_user(name), SearchRequest(photo, **use))
    with pytest.raises(PermissionDeniedError):
        erase(engine, store, store.accounts.get_user("inv1"), EraseRequest("r", face_ids=(1,)))
    with pytest.raises(PermissionDeniedError):
        ingest(engine, store, store.accounts.get_user("inv1"), IngestRequest((photo,)))
    with pytest.raises(PermissionDeniedError):
        verify(engine, store, store.accounts.get_user("aud1"), VerifyRequest(photo, photo, **use))


def test_forget_verify_and_ingest_entries(
    engine: Engine, store: AccountabilityStore, probe_photo: Any
) -> None:
    admin = store.accounts.get_user("admin1")
    with pytest.raises(InputError, match="reason"):
        erase(engine, store, admin, EraseRequest(" ", subject=person_name(1)))
    faces = engine.catalog.faces_of_subject(person_name(1))
    result = erase(engine, store, admin, EraseRequest("DSR-1", subject=person_name(1)))
    entry = store.audit.get(result.id)
    assert entry.actor == "admin1" and entry.action == "erase"
    p = entry.payload
    assert p["reason"] == "DSR-1" and p["selector"] == {"subject": person_name(1)}
    assert sorted(p["removed"]["faces"]) == sorted(f.id for f in faces)
    assert p["removed"]["images"] == sorted({f.image_id for f in faces})
    assert p["removed"]["subjects"] == [person_name(1)] and p["counts"]["faces"] == len(faces)
    assert not floats_longer_than(dict(p), 8) and len(result.face_ids) == len(faces)

    inv = store.accounts.get_user("inv1")
    a, b = probe_photo(0, 5), probe_photo(0, 6)
    v = verify(engine, store, inv, VerifyRequest(a, b, case="K-2", purpose="p"))
    entry = store.audit.get(v.id)
    assert entry.action == "verify" and entry.payload["same_person"] == v.verification.same
    assert v.verification.same is True  # two shots of one person
    assert entry.payload["probe_sha256"][1] == hashlib.sha256(b.read_bytes()).hexdigest()

    request = IngestRequest((probe_photo(7, 1),), collection="extra")
    done = ingest(engine, store, admin, request)
    entry = store.audit.get(done.id)
    assert entry.action == "ingest" and entry.payload["run_id"] == done.summary.run_id
    assert entry.payload["images_added"] == 1 and entry.payload["collection"] == "extra"
    assert store.verify().ok


@pytest.mark.parametrize("options", [{"threshold": float("nan")}, {"max_fmr": float("nan")}])
def test_a_nan_threshold_or_max_fmr_is_refused_with_a_clear_message(
    engine: Engine, store: AccountabilityStore, probe_photo: Any, options: dict[str, float]
) -> None:
    """It failed with 'audit payload is not plain JSON' (its failure entry could not be
    written either)."""
    inv = store.accounts.get_user("inv1")
    request = SearchRequest(probe_photo(0), case="K-1", purpose="p", **options)  # type: ignore[arg-type]
    with pytest.raises(InputError, match=r"threshold|false match rate"):
        search(engine, store, inv, request)


def test_upload_jobs_analyse_one_chunk_at_a_time_and_the_cli_at_the_full_schedule(
    engine: Engine, store: AccountabilityStore, probe_photo: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The server's upload jobs leave the CPU to its searches: under 50 searching clients, a
    job analysing 3 chunks at once took p99 from 2.46 to 4.57 s (README, "Throughput")."""
    from facesearch.app.uploads import ingest_job

    asked: list[object] = []
    run = engine.pipeline.run

    def spy(items: Any, **kw: Any) -> Any:
        asked.append(kw.get("analysts"))
        return run(items, **kw)

    monkeypatch.setattr(engine.pipeline, "run", spy)
    admin = store.accounts.get_user("admin1")
    folder = probe_photo(8, 1).parent
    records = ingest_job(
        engine, store, admin, "job-1", "uploads", [(folder, False)], lambda *_: None
    )
    assert records and records[0].summary.images_added >= 1
    ingest(engine, store, admin, IngestRequest((probe_photo(9, 1),), collection="extra"))
    assert asked == [1, None]  # the job: one at a time; the CLI's: the runtime's schedule
