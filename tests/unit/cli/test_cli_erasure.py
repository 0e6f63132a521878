"""``forget`` reports the vector store's part of an erasure, and ``erasure status`` lists what
the store has yet to remove from its disk: with FAISS files (the default; nothing) and with
Milvus Lite (a ``.db`` path: the erasure proved, its physical removal left to Milvus).
The CLI in this process on the fake pipeline (tests/fakes.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.homes import Ran, run_cli

from facesearch.accountability import AccountabilityStore, Action

VECTOR_KEYS = {
    "store",
    "vectors_deleted",
    "done",
    "flushed",
    "compaction",
    "proved_absent",
    "left_to_server",
}
PENDING_KEYS = {
    "faces",
    "requested_at",
    "compaction_job",
    "compaction_state",
    "note",
    "requested",
    "collections",
}


@pytest.fixture()
def cli(capsys: pytest.CaptureFixture[str], fake_models: None) -> Any:
    def run(home: Path, *args: str) -> Ran:
        return run_cli(capsys, home, *args)

    return run


def forget_face(cli: Any, home: Path, *extra: str) -> Ran:
    r: Ran = cli(home, "forget", "--face", "1", "--reason", "DSR-1", *extra)
    assert r.code == 0, r.err
    return r


def last_erasure_entry(home: Path) -> dict[str, Any]:
    with AccountabilityStore.open(home) as s:
        entry = [e for e in s.audit.entries(limit=None) if e.action == "erase"][-1]
    return dict(entry.payload)


def audit_length(home: Path) -> int:
    with AccountabilityStore.open(home) as s:
        return len(s.audit.entries(limit=None))


def test_forget_with_faiss_files_says_they_were_rewritten_and_nothing_is_left(
    fake_homes: Any, cli: Any
) -> None:
    home = fake_homes("erasure-faiss", users=False).home
    out = json.loads(forget_face(cli, home, "--json").out)
    part = out["vector_store"]
    assert set(part) == VECTOR_KEYS
    assert part["store"] == "files" and part["vectors_deleted"] == 1 == out["faces_removed"]
    assert part["flushed"] is True and part["proved_absent"] is None
    assert "rewritten whole" in part["compaction"] and part["left_to_server"] == ""
    assert "written again without them" in part["done"]
    assert last_erasure_entry(home)["vector_store"] == part  # the audit entry records it

    before = audit_length(home)
    r = cli(home, "forget", "--face", "1", "--reason", "DSR-1")  # again: the face is gone
    assert r.code == 2 and "no face with id 1" in r.err and audit_length(home) == before

    r = cli(home, "erasure", "status", "--json")
    assert r.code == 0, r.err
    status = json.loads(r.out)
    assert status["store"] == "files" and status["faces_pending"] == 0 and status["pending"] == []
    assert "no physical deletion is left" in status["note"]
    r = cli(home, "erasure", "status")
    assert r.code == 0 and "0 erased vector(s)" in r.out and "FAISS files" in r.out
    assert audit_length(home) == before  # reading it is not logged


def test_forget_with_milvus_lite_is_proved_and_left_pending(
    fake_homes: Any, cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("pymilvus", reason="Milvus needs the distributed extra")
    home = fake_homes("erasure-milvus", users=False).home
    monkeypatch.setenv("FACESEARCH_VECTORS_URL", str(tmp_path / "vectors.db"))
    r = cli(home, "erasure", "status", "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["pending"] == []  # nothing erased yet

    out = json.loads(forget_face(cli, home, "--json").out)
    part = out["vector_store"]
    assert set(part) == VECTOR_KEYS and part["store"] == "milvus-lite"
    assert part["vectors_deleted"] == 1 and part["flushed"] is True
    assert part["proved_absent"] is True and part["compaction"].startswith("automatic")
    assert "next compaction" in part["left_to_server"]
    assert last_erasure_entry(home)["vector_store"] == part

    r = cli(home, "forget", "--face", "2", "--reason", "DSR-3")
    assert r.code == 0, r.err
    assert "vector store (milvus-lite): deleted in Milvus, flushed" in r.out
    assert "proved absent: yes" in r.out and "left to the server: Milvus Lite drops" in r.out

    r = cli(home, "erasure", "status", "--json")
    assert r.code == 0, r.err
    status = json.loads(r.out)
    assert status["store"] == "milvus-lite" and status["faces_pending"] == 2
    assert [set(p) for p in status["pending"]] == [PENDING_KEYS, PENDING_KEYS]
    assert {p["compaction_state"] for p in status["pending"]} == {"automatic"}
    r = cli(home, "erasure", "status")
    assert r.code == 0 and "2 erased vector(s) in 2 erasure(s) pending" in r.out


def test_forget_of_many_images_says_how_many_it_does_not_list(fake_homes: Any, cli: Any) -> None:
    """The text output lists 20 of the images the erased faces came from and says how many
    more there were (it listed 20 and stopped, under 'removed 24 face(s)')."""
    home = fake_homes("erasure-many", users=False).home
    ids = [str(i) for i in range(1, 25)]
    r = cli(home, "forget", *(a for i in ids for a in ("--face", i)), "--reason", "DSR-1")
    assert r.code == 0, r.err
    assert "removed 24 face(s)" in r.out
    assert sum(line.startswith("  from ") for line in r.out.splitlines()) == 20
    assert "  ... and 4 more image(s) (see --json)" in r.out.splitlines()


def test_stats_say_how_ingests_match_the_blocklist_after_forget_like(
    fake_homes: Any, cli: Any, tmp_path: Path
) -> None:
    """``forget --like`` blocklists the person; ``stats`` then says how ingests match that
    entry (false match rate, threshold, share of other people's new faces skipped, share of
    new photos of the person let in), and what the price of a stricter threshold is."""
    from tests.fakes import write_photo

    home = fake_homes("erasure-blocklist-stats", users=False).home
    photo = write_photo(tmp_path / "probes", 2, 9)
    forgot = cli(home, "forget", "--like", str(photo), "--reason", "DSR-2")
    assert forgot.code == 0, forgot.err
    assert "added to the erasure blocklist" in forgot.out
    (row,) = json.loads(cli(home, "stats", "--json").out)["blocklist_ingests"]
    assert row == {
        "org": None,
        "entries": 1,
        "fmr": 1e-4,
        "threshold": 0.485,
        "skipped": 1e-4,
        "missed": 0.018,
        "bounded": True,
    }
    shown = cli(home, "stats").out
    assert "blocklist ingests" in shown and "0.485" in shown
    assert "more new photos of an erased person go in all the same" in " ".join(shown.split())


def test_ingest_tells_photos_an_erasure_opted_out_from_photos_that_failed(
    fake_homes: Any, cli: Any, tmp_path: Path
) -> None:
    """A re-ingest after ``forget --like`` said "2 failed" and listed each photo as
    "failed: ...: every face matches the erasure blocklist": skipped on purpose, not broken.
    It now says "0 failed, 2 blocklisted" and lists them as blocklisted."""
    from tests.fakes import write_photo

    home = fake_homes("erasure-blocklist-ingest", users=False).home
    photos = tmp_path / "photos"
    for shot in (1, 2):
        write_photo(photos, 3, shot)
    forgot = cli(home, "forget", "--like", str(write_photo(tmp_path / "p", 3, 9)), "--reason", "x")
    assert forgot.code == 0, forgot.err
    again = cli(home, "ingest", str(photos), "--collection", "later")
    assert again.code == 2, again.err  # nothing ingested
    assert "0 failed, 2 blocklisted" in again.out, again.out
    assert again.err.count("  blocklisted: ") == 2 and "  failed: " not in again.err
    why = "nothing ingested from the paths given: every image was skipped by the erasure blocklist"
    assert f"facesearch: error: {why}" in again.err
    with AccountabilityStore.open(home) as store:  # the trail says what the exit code says
        ended = store.audit.entries(action=Action.INGEST, limit=None)[-1].payload
    assert (ended["outcome"], ended["error"], ended["blocklisted"]) == ("nothing_ingested", why, 2)


def test_a_pending_blocklist_entry_of_a_dead_erasure_is_listed_warned_of_and_settled(
    fake_homes: Any, cli: Any, tmp_path: Path
) -> None:
    """``erasure blocklist`` lists a blocklist entry whose erasure's process died before its
    audit entry was written, ``forget`` warns of it, and ``erasure settle`` takes it back in
    an ``erase`` entry (``test_erasure_killed`` kills a real erasure)."""
    import subprocess
    import sys

    import numpy as np
    from tests.fakes import DIM, FakePipeline, write_photo

    from facesearch.gallery.catalog import Catalog, RunOwner
    from facesearch.gallery.run_lease import this_process

    home = fake_homes("erasure-blocklist-pending", users=False)
    listed = cli(home.home, "erasure", "blocklist")
    assert listed.code == 0 and "no pending blocklist entries" in listed.out
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    me = this_process()
    owner = RunOwner(me.host, me.space, dead.pid, "1")  # its pid is free now
    with Catalog.open_home(home.home) as cat:
        model = FakePipeline(home.settings).model_id
        entry = cat.blocklist_add(model, np.ones(DIM), pending=owner)
    listed = cli(home.home, "erasure", "blocklist")
    assert f"entry {entry}:" in listed.out and "its process is gone" in listed.out
    photo = write_photo(tmp_path / "probes", 2, 9)
    forgot = cli(home.home, "forget", "--like", str(photo), "--reason", "DSR-3")
    assert forgot.code == 0 and "erasure blocklist" in forgot.err
    blank = cli(home.home, "erasure", "settle", str(entry), "--take-back", "--reason", " ")
    assert blank.code != 0 and "reason is required" in blank.err
    settled = cli(
        home.home, "erasure", "settle", str(entry), "--take-back", "--reason", "crashed DSR-3"
    )
    assert settled.code == 0 and "taken back" in settled.out, settled.err
    assert last_erasure_entry(home.home)["pending_blocklist"]["settled"] == "taken back"
    assert "no pending" in cli(home.home, "erasure", "blocklist").out
