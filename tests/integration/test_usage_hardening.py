"""The audited layer (``usage.py``) and the CLI over it: erasure reaches kept probes and empty
upload folders, failed searches are logged, ``export --subject`` is a logged, case-bound use."""

from __future__ import annotations

import getpass
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from facesearch.accountability import AccountabilityStore, local_actor
from facesearch.app.usage import audited_forget, audited_ingest, audited_search
from facesearch.engine import Engine
from facesearch.errors import NoFaceError, NotFoundError

pytestmark = pytest.mark.lfw


@pytest.fixture()
def home(server_home: Any) -> Any:
    return server_home("usage-hardening")


@pytest.fixture()
def engine(home: Any, pipeline: Any) -> Iterator[Engine]:
    e = Engine(home.settings, pipeline=pipeline)
    yield e
    e.catalog.close()


@pytest.fixture()
def store(home: Any) -> Iterator[AccountabilityStore]:
    with AccountabilityStore.open(home.home) as s:
        yield s


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_forget_like_deletes_the_kept_probes_of_that_person(
    engine: Engine, store: AccountabilityStore, probe_photo: Any
) -> None:
    inv, admin = store.accounts.get_user("inv1"), store.accounts.get_user("admin1")
    colin, tony = probe_photo("Colin_Powell", 10), probe_photo("Tony_Blair", 10)
    for photo in (colin, tony):
        audited_search(engine, store, inv, case="K-P", purpose="probe kept", image=photo)
    assert store.probes.get(sha(colin)) and store.probes.get(sha(tony))
    _, entry = audited_forget(
        engine, store, admin, reason="DSR-5", like=probe_photo("Colin_Powell", 11)
    )
    assert entry.payload["probes_deleted"] == {"count": 1, "sha256": [sha(colin)]}
    with pytest.raises(NotFoundError):
        store.probes.get(sha(colin))
    assert store.probes.get(sha(tony)) == tony.read_bytes()
    assert store.verify().ok


def test_erasure_removes_emptied_upload_folders(
    engine: Engine, store: AccountabilityStore, probe_photo: Any, home: Any
) -> None:
    uploads = home.home / "uploads"
    mine = uploads / "0123456789abcdef" / "plain"
    other = uploads / "fedcba9876543210" / "plain"
    for folder, person in ((mine, "Laura_Bush"), (other, "John_Ashcroft")):
        folder.mkdir(parents=True)
        shutil.copy(probe_photo(person, 1), folder / "000001-photo.jpg")
    admin = store.accounts.get_user("admin1")
    summary, _ = audited_ingest(engine, store, admin, [mine, other], collection="uploaded")
    assert summary.images_added == 2
    laura = next(
        f
        for f in engine.catalog.faces(list(range(1, 500)))
        if f.source.startswith(str(mine.resolve()))
    )
    _, entry = audited_forget(engine, store, admin, reason="DSR-6", image_id=laura.image_id)
    assert entry.payload["uploaded_files_deleted"] == 1
    assert not (uploads / "0123456789abcdef").exists()  # the job folder went with its file
    assert (other / "000001-photo.jpg").is_file() and uploads.is_dir()


def test_a_failed_search_is_logged_with_its_outcome(
    engine: Engine, store: AccountabilityStore, tmp_path: Path
) -> None:
    inv = store.accounts.get_user("inv1")
    sky = tmp_path / "sky.png"
    Image.new("RGB", (120, 90), (100, 150, 220)).save(sky)
    before = store.audit.head().seq
    with pytest.raises(NoFaceError):
        audited_search(engine, store, inv, case="K-N", purpose="nothing there", image=sky)
    entry = store.audit.get(before + 1)
    assert entry.action == "search" and entry.actor == "inv1" and entry.case == "K-N"
    assert entry.payload["outcome"] == "no_face" and entry.payload["candidates"] == []
    assert entry.payload["probe_sha256"] == sha(sky)
    with pytest.raises(NotFoundError):  # nothing was searched: the probe is not kept
        store.probes.get(sha(sky))


# --- the CLI through its real entry point --------------------------------------------------


def cli(home: Path, settings: Any, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FACESEARCH_CACHE_DIR": str(settings.cache_dir)}
    return subprocess.run(
        [sys.executable, "-m", "facesearch", "--home", str(home), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_cli_failed_search_and_subject_export_are_logged(home: Any, tmp_path: Path) -> None:
    me = local_actor().name
    sky = tmp_path / "sky.jpg"
    buf = io.BytesIO()
    Image.new("RGB", (160, 120), (90, 140, 200)).save(buf, "JPEG")
    sky.write_bytes(buf.getvalue())
    with AccountabilityStore.open(home.home) as s:
        start = s.audit.head().seq
    r = cli(home.home, home.settings, "search", str(sky), "--case", "K-C", "--purpose", "p")
    assert r.returncode == 2 and "no face" in r.stderr, r.stderr

    r = cli(home.home, home.settings, "export", "--subject", "Colin_Powell")
    assert r.returncode == 2 and "--case" in r.stderr and not r.stdout, (r.stdout, r.stderr)
    r = cli(
        home.home,
        home.settings,
        "export",
        "--subject",
        "Colin_Powell",
        "--case",
        "K-SAR-3",
        "--purpose",
        "subject access request",
    )
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert len(data["faces"]) == 5 and len(data["faces"][0]["embedding"]) == 128
    with AccountabilityStore.open(home.home) as s:
        new = s.audit.entries(limit=None)[start:]
    assert [(e.actor, e.action, e.case) for e in new] == [
        (me, "search", "K-C"),
        (me, "read", "K-SAR-3"),
    ]
    assert new[0].payload["outcome"] == "no_face"
    p = new[1].payload
    assert p["what"] == "subject_export" and p["subject"] == "Colin_Powell"
    assert sorted(p["face_ids"]) == sorted(f["id"] for f in data["faces"])
    assert p["embeddings"] is True
    assert me == "os:" + getpass.getuser()


def test_cli_export_without_accounts_needs_no_case_but_is_logged(
    gallery_template: Path, settings: Any, tmp_path: Path
) -> None:
    bare = tmp_path / "bare"
    shutil.copytree(gallery_template, bare)
    r = cli(bare, settings, "export", "--subject", "Tony_Blair")
    assert r.returncode == 0, r.stderr
    with AccountabilityStore.open(bare) as s:
        last = s.audit.entries(limit=None)[-1]
    assert last.action == "read" and last.payload["what"] == "subject_export"
    assert last.case is None and last.actor.startswith("os:")


def test_cli_forget_like_reports_the_kept_probes_it_deleted(home: Any, probe_photo: Any) -> None:
    use = ["--case", "K-L", "--purpose", "search, then erasure"]
    probe = probe_photo("Gerhard_Schroeder", 10)
    r = cli(home.home, home.settings, "search", str(probe), *use)
    assert r.returncode == 0, r.stderr
    like = str(probe_photo("Gerhard_Schroeder", 11))
    r = cli(home.home, home.settings, "forget", "--like", like, "--reason", "DSR-9", "--json", *use)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["probes_deleted"] == 1 and out["faces_removed"] >= 1
    r = cli(home.home, home.settings, "forget", "--like", like, "--reason", "DSR-9", *use)
    assert r.returncode == 0 and "0 kept probe photo(s)" in r.stdout, r.stdout
    with AccountabilityStore.open(home.home) as s, pytest.raises(NotFoundError):
        s.probes.get(sha(probe))
