"""`facesearch audit verify` and `/api/v1/audit/verify` on a keyed, anchored trail (issue 7,
item 7): a forged entry appended with a correct hash chain, a cut-off chain and a deleted
anchor are named by seq and reason, with exit code 1, without a written-down head."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from facesearch.accountability import (
    FILENAME,
    AccountabilityStore,
    AuditEnvelope,
    entry_hash,
    local_actor,
)
from facesearch.settings import Settings

PASSWORD = "correct-horse-battery-staple-42"


def cli(home: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "facesearch", "--home", str(home), *args],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=120,
        input=stdin,
    )


def forge_confirmed_decision(home: Path) -> int:
    """What issue 7 did: append a correctly chained "confirmed" decision, head row moved."""
    conn = sqlite3.connect(home / FILENAME)
    seq, prev = conn.execute("SELECT seq, hash FROM audit_head").fetchone()
    seq += 1
    when = "2030-01-01T00:00:00.000000+00:00"
    payload = {"search_seq": 1, "face_id": 7, "verdict": "confirmed"}
    digest = entry_hash(
        AuditEnvelope(seq, when, "inv2", "decision", "K-1", "review", payload, prev)
    )
    conn.execute(
        "INSERT INTO audit_log VALUES (?, ?, 'inv2', 'decision', 'K-1', 'review', ?, ?, ?, NULL)",
        (seq, when, json.dumps(payload, sort_keys=True, separators=(",", ":")), prev, digest),
    )
    conn.execute("UPDATE audit_head SET seq = ?, hash = ?", (seq, digest))
    conn.execute("INSERT INTO decisions VALUES (?, 1, 7)", (seq,))  # its index row too
    conn.commit()
    conn.close()
    return int(seq)


def make_trail(home: Path) -> None:
    for name, role in (("alice", "admin"), ("bob", "auditor")):
        r = cli(home, "users", "add", name, "--role", role, "--password-stdin", stdin=PASSWORD)
        assert r.returncode == 0, r.stderr


def test_cli_verify_names_a_forged_appended_entry(tmp_path: Path) -> None:
    home = tmp_path / "home"
    make_trail(home)
    r = cli(home, "audit", "verify")
    assert r.returncode == 0 and "intact" in r.stdout, r.stdout + r.stderr
    head = cli(home, "audit", "head").stdout.strip()
    seq = forge_confirmed_decision(home)
    for extra in ([], ["--head", head]):
        r = cli(home, "audit", "verify", *extra)
        assert r.returncode == 1, r.stdout
        assert f"mac [{seq}]: entry {seq}" in r.stdout and "forged" in r.stdout
        assert f"unanchored [{seq}]" in r.stdout
        assert "Traceback" not in r.stderr
    # the export of a broken trail still works (that is how it gets looked at)
    r = cli(home, "audit", "export", "--format", "jsonl")
    assert r.returncode == 0 and f'"seq":{seq}' in r.stdout


def test_cli_verify_names_a_cut_chain_and_a_lost_anchor(tmp_path: Path) -> None:
    from facesearch.accountability import default_anchor_file

    home = tmp_path / "home"
    make_trail(home)
    cli(home, "audit", "export", "--format", "csv", "--out", str(tmp_path / "a.csv"))
    conn = sqlite3.connect(home / FILENAME)
    seq, _ = conn.execute("SELECT seq, hash FROM audit_head").fetchone()
    (prev,) = conn.execute("SELECT hash FROM audit_log WHERE seq = ?", (seq - 1,)).fetchone()
    for statement in (
        "DROP TRIGGER audit_log_no_delete",
        f"DELETE FROM audit_log WHERE seq = {seq}",
        f"UPDATE audit_head SET seq = {seq - 1}, hash = '{prev}'",
    ):
        conn.execute(statement)
    conn.commit()
    conn.close()
    r = cli(home, "audit", "verify")
    assert r.returncode == 1 and f"truncated [{seq}]" in r.stdout, r.stdout
    default_anchor_file(home).unlink()
    r = cli(home, "audit", "verify")
    assert r.returncode == 1 and "anchor-lost" in r.stdout and "is missing" in r.stdout
    r = cli(home, "audit", "verify", "--anchor-lost")
    assert r.returncode == 0 and "WARNING anchor-lost" in r.stdout, r.stdout


def test_api_verify_says_the_same(tmp_path: Path, settings: Settings, serve: Any) -> None:
    home = tmp_path / "home"
    me = local_actor("tester")
    with AccountabilityStore.open(home) as store:
        store.accounts.add_user("aud", "auditor", PASSWORD, by=me)
        token = store.accounts.issue_token("aud", by=me)
    seq = forge_confirmed_decision(home)
    with serve(settings.replace(home=home)) as url:
        r = httpx.get(
            url + "/api/v1/audit/verify",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
    assert r.status_code == 200
    body = r.json()
    assert body["ok"] is False
    found = {(b["kind"], b["first"]) for b in body["breaks"]}
    assert ("mac", seq) in found and ("unanchored", seq) in found
    assert f"mac [{seq}]" in body["summary"]


def test_cli_and_server_appending_at_once_keep_chain_and_anchor_whole(
    tmp_path: Path, settings: Settings, serve: Any
) -> None:
    from facesearch.accountability import default_anchor_file

    home = tmp_path / "home"
    me = local_actor("tester")
    with AccountabilityStore.open(home) as store:
        store.accounts.add_user("aud", "auditor", PASSWORD, by=me)
        token = store.accounts.issue_token("aud", by=me)
    auth = {"Authorization": f"Bearer {token}"}
    with serve(settings.replace(home=home)) as url:
        # every export is an audit entry: the server's and the CLI's go into one chain at once
        export = [sys.executable, "-m", "facesearch", "--home", str(home), "audit", "export"]
        clis = [
            subprocess.Popen(
                [*export, "--format", "jsonl", "--out", str(tmp_path / f"cli{i}.jsonl")],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            for i in range(4)
        ]
        with httpx.Client(base_url=url, headers=auth, timeout=60) as api:
            n_api = 0  # the server exports for as long as the CLIs run, and a few more
            while n_api < 5 or any(p.poll() is None for p in clis):
                assert api.get("/api/v1/audit/export?format=jsonl").status_code == 200
                n_api += 1
        errors = [p.communicate(timeout=120)[1] for p in clis]
        assert [p.returncode for p in clis] == [0] * 4, errors
        with httpx.Client(base_url=url, headers=auth, timeout=60) as api:
            body = api.get("/api/v1/audit/verify").json()
    assert body["ok"] is True, body["summary"]
    assert body["entries"] == 2 + n_api + 4  # the user, its token, then the exports
    lines = [json.loads(x) for x in default_anchor_file(home).read_text().splitlines()]
    heads = sorted(x["seq"] for x in lines if not x.get("start"))
    assert heads == list(range(1, body["entries"] + 1))


# --- review of item 7: no erasure or ingest without its audit entry ---------------------------


def _cli_env(home: Any, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "facesearch", "--home", str(home.home), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "FACESEARCH_CACHE_DIR": str(home.settings.cache_dir), **env},
        timeout=300,
    )


def _counts(home: Any) -> dict[str, int]:
    with sqlite3.connect(home.home / "catalog.sqlite") as conn:
        return {
            table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("faces", "images")
        }


@pytest.mark.lfw
def test_forget_with_the_wrong_key_erases_nothing_and_says_so(
    server_home: Any, tmp_path: Path
) -> None:
    """The reviewer's reproduction: a wrong key file used to erase the face and its image,
    then fail to log it with "Nothing was written"."""
    h = server_home("wrong-key")
    wrong = tmp_path / "wrong.key"
    fd = os.open(wrong, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, os.urandom(32))
    os.close(fd)
    before, head = _counts(h), _cli_env(h, "audit", "head").stdout
    r = _cli_env(
        h, "forget", "--face", "5", "--reason", "DSR-1", FACESEARCH_AUDIT_KEY_FILE=str(wrong)
    )
    assert r.returncode == 2, r.stderr
    assert str(wrong) in r.stderr and "not the key this trail was written with" in r.stderr
    assert _counts(h) == before and _cli_env(h, "audit", "head").stdout == head
    assert "Traceback" not in r.stderr


@pytest.fixture()
def unanchorable(server_home: Any, tmp_path: Path) -> Any:
    """A home whose anchor file cannot be written (its folder is a regular file)."""
    h = server_home("unanchorable")
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    return h, blocker / "anchor.jsonl"


@pytest.mark.lfw
def test_an_erasure_whose_entry_cannot_be_written_erases_nothing(
    unanchorable: Any, pipeline: Any
) -> None:
    from facesearch.app import EraseRequest, erase
    from facesearch.engine import Engine
    from facesearch.errors import ConfigError

    h, anchor = unanchorable
    before = _counts(h)
    engine = Engine(h.settings, pipeline=pipeline)
    try:
        with AccountabilityStore.open(h.home, anchor_file=anchor) as store:
            admin = store.accounts.get_user("admin1")
            with pytest.raises(ConfigError, match="anchor"):
                erase(engine, store, admin, EraseRequest("DSR-2", subject="Colin_Powell"))
            assert store.audit.entries(action=acc_action("erase")) == []
    finally:
        engine.catalog.close()
    assert _counts(h) == before


@pytest.mark.lfw
def test_an_ingest_whose_entry_cannot_be_written_adds_nothing(
    unanchorable: Any, pipeline: Any, probe_photo: Any
) -> None:
    from facesearch.app import IngestRequest, ingest
    from facesearch.engine import Engine
    from facesearch.errors import ConfigError

    h, anchor = unanchorable
    before = _counts(h)
    engine = Engine(h.settings, pipeline=pipeline)
    try:
        with AccountabilityStore.open(h.home, anchor_file=anchor) as store:
            admin = store.accounts.get_user("admin1")
            with pytest.raises(ConfigError, match="anchor"):
                ingest(engine, store, admin, IngestRequest((probe_photo("Colin_Powell", 12),)))
    finally:
        engine.catalog.close()
    assert _counts(h) == before


@pytest.mark.lfw
def test_an_entry_lost_after_the_erasure_says_what_was_erased(
    server_home: Any, pipeline: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where the entry can only be written after the change (the database fails between the
    two), the message says what was done and that its entry is missing."""
    from facesearch.app import EraseRequest, erase
    from facesearch.engine import Engine
    from facesearch.errors import CatalogError

    h = server_home("entry-lost")
    engine = Engine(h.settings, pipeline=pipeline)
    try:
        with AccountabilityStore.open(h.home) as store:
            admin = store.accounts.get_user("admin1")

            def fail(**_: Any) -> Any:
                raise CatalogError("database or disk is full")

            monkeypatch.setattr(store.audit, "append", fail)
            with pytest.raises(CatalogError) as raised:
                erase(engine, store, admin, EraseRequest("DSR-3", subject="Colin_Powell"))
    finally:
        engine.catalog.close()
    message = str(raised.value)
    assert "Nothing was written" not in message
    assert "erased 5 faces" in message and "no audit entry" in message, message
    assert "database or disk is full" in message


def acc_action(name: str) -> Any:
    from facesearch.accountability import Action

    return Action(name)


# --- review of item 7: which key and anchor files a process uses -----------------------------


def test_audit_verify_names_its_key_and_anchor_files_even_when_the_key_is_refused(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    make_trail(home)
    wrong = tmp_path / "wrong.key"
    fd = os.open(wrong, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, os.urandom(32))
    os.close(fd)
    anchor = tmp_path / "elsewhere" / "anchor.jsonl"
    r = subprocess.run(
        [sys.executable, "-m", "facesearch", "--home", str(home), "audit", "verify"],
        capture_output=True,
        text=True,
        timeout=120,
        env={
            **os.environ,
            "FACESEARCH_AUDIT_KEY_FILE": str(wrong),
            "FACESEARCH_AUDIT_ANCHOR_FILE": str(anchor),
        },
    )
    assert r.returncode == 2, r.stderr  # refused at open: a usage error, not a broken trail
    assert f"audit key: {wrong}" in r.stderr and f"audit anchor: {anchor}" in r.stderr
    assert "not the key this trail was written with" in r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""


def test_serve_names_its_key_and_anchor_files_at_start(tmp_path: Path, settings: Settings) -> None:
    """The key and anchor defaults follow the process's HOME/XDG: a server run as another
    user than the CLI would silently use other files, so serve says which it uses."""
    import select
    import signal
    import socket
    import time

    key, anchor = tmp_path / "k" / "audit.key", tmp_path / "a" / "anchor.jsonl"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [sys.executable, "-m", "facesearch", "--home", str(tmp_path / "home"), "serve"]
    proc = subprocess.Popen(
        [*command, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={
            **os.environ,
            "FACESEARCH_CACHE_DIR": str(settings.cache_dir),
            "FACESEARCH_AUDIT_KEY_FILE": str(key),
            "FACESEARCH_AUDIT_ANCHOR_FILE": str(anchor),
        },
    )
    try:
        assert proc.stderr is not None
        fd, seen = proc.stderr.fileno(), b""
        deadline = time.monotonic() + 60
        while b"audit anchor:" not in seen or not seen.endswith(b"\n"):
            assert time.monotonic() < deadline and proc.poll() is None, seen
            # the server prints nothing more once it serves: never block on a missing line
            if select.select([fd], [], [], 1.0)[0]:
                seen += os.read(fd, 65536)
        # Stop it once it serves: a Ctrl-C in the moment before uvicorn takes over its signals
        # was seen lost (third attack pass), and the child then outlived the test.
        while not _answers(f"http://127.0.0.1:{port}/health"):
            assert time.monotonic() < deadline and proc.poll() is None, seen
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate(timeout=60)
    text = seen.decode()
    assert f"audit key: {key}" in text and f"audit anchor: {anchor}" in text, text


def _answers(url: str) -> bool:
    import httpx

    try:
        return httpx.get(url, timeout=2).status_code in (200, 503)
    except httpx.HTTPError:
        return False
