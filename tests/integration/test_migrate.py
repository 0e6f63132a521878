"""``facesearch migrate``: an embedded home (SQLite + FAISS) into PostgreSQL + Milvus Lite, and
the CLI on the migrated deployment does what it did at home. Real PostgreSQL (a throwaway
cluster), real Milvus Lite, the fake pipeline (tests/fakes.py)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from tests.fakes import write_photo
from tests.homes import Home, Ran, run_cli

pytest.importorskip("pymilvus", reason="SKIPPED LOUDLY: Milvus Lite needs the test extra")


@pytest.fixture()
def cli(capsys: pytest.CaptureFixture[str], fake_models: None) -> Any:
    def run(home: Path, *args: str) -> Ran:
        return run_cli(capsys, home, *args)

    return run


def counts(home: Path) -> dict[str, int]:
    with sqlite3.connect(home / "catalog.sqlite") as c:
        faces = c.execute("SELECT count(*) FROM faces").fetchone()[0]
    with sqlite3.connect(home / "accountability.sqlite") as c:
        entries = c.execute("SELECT count(*) FROM audit_log").fetchone()[0]
        users = c.execute("SELECT count(*) FROM users").fetchone()[0]
    return {"faces": faces, "entries": entries, "users": users}


def catalog_identity(url: str) -> tuple[str, str, str]:
    """The target's catalog_id, the database it records, and the database it is in."""
    psycopg = pytest.importorskip("psycopg")
    with psycopg.connect(url) as conn:
        conn.execute("SET search_path TO facesearch_catalog")
        row = conn.execute(
            "SELECT catalog_id, database_id, database_identity() FROM catalog_state"
        ).fetchone()
    assert row is not None
    return (str(row[0]), str(row[1]), str(row[2]))


def test_migrate_then_use_the_distributed_deployment(
    cli: Any,
    fake_gallery: Home,
    fake_photos: Path,
    pg_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    home = fake_gallery.home
    assert cli(home, "orgs", "add", "customs", "--policy", "max_fmr=1e-4").code == 0
    extra_org = write_photo(tmp_path / "customs", 7, 1)
    assert cli(home, "ingest", str(extra_org.parent), "--org", "customs").code == 0
    before = counts(home)
    vectors = str(tmp_path / "vectors.db")
    r = cli(home, "migrate", "--database-url", pg_url, "--vectors-url", vectors, "--json")
    assert r.code == 0, r.err
    report = json.loads(r.out)
    assert report["trail"] == "empty" and report["audit_ok"]
    assert report["stores"]["catalog"]["faces"] == {
        "home": before["faces"],
        "target": before["faces"],
    }
    assert report["stores"]["accountability"]["users"]["target"] == before["users"]
    assert report["vectors_indexed"] == before["faces"]
    assert report["audit_head"] == before["entries"]

    # the target's catalog has an id of its own (so its own Milvus collection: the home stays
    # usable) and records its database, so it is no copy
    with sqlite3.connect(home / "catalog.sqlite") as c:
        home_id = c.execute("SELECT catalog_id FROM catalog_state").fetchone()[0]
    target_id = catalog_identity(pg_url)
    assert target_id[0] != home_id and target_id[1] == target_id[2]

    # re-running is safe: the copy is refreshed, nothing doubles
    again = json.loads(cli(home, "migrate", "--database-url", pg_url, "--vectors-url", vectors,
                           "--json").out)  # fmt: skip
    assert again["trail"] == "refreshed"
    assert again["stores"] == report["stores"]
    assert catalog_identity(pg_url) == target_id

    # the CLI on the distributed deployment (another, empty home: nothing comes from files)
    monkeypatch.setenv("FACESEARCH_DATABASE_URL", pg_url)
    monkeypatch.setenv("FACESEARCH_VECTORS_URL", vectors)
    replica = tmp_path / "replica-home"
    stats = cli(replica, "stats", "--json")
    assert stats.code == 0, stats.err
    assert json.loads(stats.out)["faces"] == before["faces"]
    assert "admin1" in cli(replica, "users", "list").out
    (customs,) = [json.loads(x) for x in cli(replica, "orgs", "list", "--json").out.split("\n")
                  if x and json.loads(x)["name"] == "customs"]  # fmt: skip
    assert customs["policy"]["max_fmr"] == 1e-4
    assert cli(replica, "orgs", "add", "border").code == 0  # the copied ids left room
    assert cli(replica, "cases", "open", "X", "--org", "customs", "--title", "t").code == 0
    theirs = cli(replica, "search", str(extra_org), "--org", "customs", "--case", "X", "--purpose",
                 "p", "--json")  # fmt: skip
    assert theirs.code == 0 and {c["name"] for c in json.loads(theirs.out)["collections"]} == {
        "customs"
    }, theirs.err
    verified = cli(replica, "audit", "verify")
    assert verified.code == 0, verified.out + verified.err
    probe = sorted(fake_photos.rglob("*.png"))[0]
    found = cli(replica, "search", str(probe), "--case", "C-1", "--purpose", "test", "--json")
    assert found.code == 0, found.err
    assert json.loads(found.out)["faces"][0]["hits"], found.out
    # ingest and forget from the CLI, on PostgreSQL + Milvus Lite
    extra = write_photo(tmp_path / "more", 5, 9)
    added = cli(replica, "ingest", str(extra.parent), "--collection", "more", "--json")
    assert added.code == 0, added.err
    assert json.loads(added.out.splitlines()[-1])["faces_added"] == 1
    after = json.loads(cli(replica, "stats", "--json").out)
    assert after["faces"] == before["faces"] + 1
    top = json.loads(found.out)["faces"][0]["hits"][0]["face_id"]
    gone = cli(replica, "forget", "--face", str(top), "--reason", "DSR-9", "--json")
    assert gone.code == 0, gone.err
    assert json.loads(gone.out)["catalog_store"]["database"] == "postgresql"
    assert json.loads(cli(replica, "stats", "--json").out)["faces"] == before["faces"]

    # once used, the target continues the home's trail: a later migrate copies nothing
    monkeypatch.delenv("FACESEARCH_DATABASE_URL")
    monkeypatch.delenv("FACESEARCH_VECTORS_URL")
    late = json.loads(cli(home, "migrate", "--database-url", pg_url, "--vectors-url", vectors,
                          "--json").out)  # fmt: skip
    assert late["trail"] == "continued"


def test_a_target_with_another_trail_is_refused(
    cli: Any, fake_homes: Any, pg_url: str, tmp_path: Path
) -> None:
    first, second = fake_homes("m-first"), fake_homes("m-second")
    assert cli(first.home, "migrate", "--database-url", pg_url).code == 0
    r = cli(second.home, "migrate", "--database-url", pg_url)
    assert r.code == 2
    assert "different audit trail" in r.err


def test_a_rerun_carries_the_erasures_made_at_home_since(
    cli: Any, fake_homes: Any, fake_photos: Path, pg_url: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """Moving house never undoes an erasure: faces forgotten at home after a first run leave
    the target's catalog and its rebuilt vector index at the next run."""
    home = fake_homes("m-erase", users=False).home
    vectors = str(tmp_path / "vectors.db")
    assert cli(home, "migrate", "--database-url", pg_url, "--vectors-url", vectors).code == 0
    with sqlite3.connect(home / "catalog.sqlite") as c:
        rows = c.execute("SELECT f.id FROM faces f JOIN subjects s ON s.id = f.subject_id "
                         "WHERE s.name = 'person_0'")  # fmt: skip
        erased = {r[0] for r in rows}
    assert erased
    gone = cli(home, "forget", "--subject", "person_0", "--reason", "DSR-1")
    assert gone.code == 0, gone.err
    r = cli(home, "migrate", "--database-url", pg_url, "--vectors-url", vectors, "--json")
    assert r.code == 0, r.err
    report = json.loads(r.out)
    assert report["trail"] == "resumed"
    for table in ("faces", "images", "subjects", "erased_faces"):
        rows = report["stores"]["catalog"][table]
        assert rows["target"] == rows["home"], table
    psycopg = pytest.importorskip("psycopg")
    with psycopg.connect(pg_url) as conn:
        conn.execute("SET search_path TO facesearch_catalog")
        left = conn.execute("SELECT count(*) FROM faces WHERE id = ANY(%s)", (list(erased),))
        assert left.fetchone() == (0,)
        assert conn.execute("SELECT id FROM subjects WHERE name = 'person_0'").fetchall() == []
        logged = conn.execute("SELECT face_id FROM erased_faces").fetchall()
        assert erased <= {r[0] for r in logged}
    assert report["vectors_indexed"] == report["stores"]["catalog"]["faces"]["home"]

    monkeypatch.setenv("FACESEARCH_DATABASE_URL", pg_url)
    monkeypatch.setenv("FACESEARCH_VECTORS_URL", vectors)
    probe = sorted((fake_photos / "person_0").glob("*.png"))[0]
    found = cli(tmp_path / "replica", "search", str(probe), "--top", "50", "--json")
    assert found.code == 0, found.err
    hits = {h["face_id"] for f in json.loads(found.out)["faces"] for h in f["hits"]}
    assert not hits & erased


def test_a_target_and_home_both_used_since_are_refused_as_such(
    cli: Any, fake_homes: Any, fake_photos: Path, pg_url: str, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """The deployment used after the migration (a search) and the home too (an erasure): the
    rerun is refused, and says so (it said the target 'belongs to another deployment')."""
    home = fake_homes("m-both", users=False).home
    vectors = str(tmp_path / "vectors.db")
    first = cli(home, "migrate", "--database-url", pg_url, "--vectors-url", vectors, "--json")
    assert first.code == 0, first.err
    shared = json.loads(first.out)["audit_head"]
    with monkeypatch.context() as env:
        env.setenv("FACESEARCH_DATABASE_URL", pg_url)
        env.setenv("FACESEARCH_VECTORS_URL", vectors)
        probe = sorted(fake_photos.rglob("*.png"))[0]
        assert cli(tmp_path / "replica", "search", str(probe)).code == 0
    assert cli(home, "forget", "--subject", "person_0", "--reason", "DSR-1").code == 0
    r = cli(home, "migrate", "--database-url", pg_url, "--vectors-url", vectors)
    assert r.code == 2
    assert "another deployment" not in r.err
    assert f"shares this home's up to entry {shared}, then entry {shared + 1} differs" in r.err
    assert "must be done again on the distributed deployment" in r.err, r.err
