"""The server-side CLI through its real entry point: serve, users, audit verify/export/head,
and the CLI's own uses going through the same audit trail."""

from __future__ import annotations

import getpass
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from facesearch.accountability import AccountabilityStore, Action

pytestmark = pytest.mark.lfw


def run(
    home: Path, settings: Any, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FACESEARCH_CACHE_DIR": str(settings.cache_dir)}
    return subprocess.run(
        [sys.executable, "-m", "facesearch", "--home", str(home), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        input=stdin,
    )


@pytest.fixture(scope="module")
def home(server_home: Any) -> Any:
    return server_home("cli")


def test_serve_prints_where_and_answers(home: Any) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "FACESEARCH_CACHE_DIR": str(home.settings.cache_dir)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "facesearch",
            "--home",
            str(home.home),
            "serve",
            "--port",
            str(port),
        ],
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.communicate()
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "serve did not answer"
                time.sleep(0.2)
        assert r.json()["status"] == "ok"
        assert httpx.get(f"http://127.0.0.1:{port}/api/v1/stats").status_code == 401
        me = httpx.get(f"http://127.0.0.1:{port}/api/v1/me", headers=home.auth("inv1"))
        assert me.json()["name"] == "inv1"
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert f"http://127.0.0.1:{port}/" in err and "log in" in err
    assert "Traceback" not in err


def test_users_commands(home: Any) -> None:
    s = home.settings
    r = run(
        home.home,
        s,
        "users",
        "add",
        "carol",
        "--role",
        "investigator",
        "--password-stdin",
        stdin="short\n",
    )
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "at least" in r.stderr
    r = run(
        home.home,
        s,
        "users",
        "add",
        "carol",
        "--role",
        "investigator",
        "--password-stdin",
        stdin="a long enough password\n",
    )
    assert r.returncode == 0, r.stderr
    r = run(home.home, s, "users", "add", "dave", "--role", "superuser", "--password-stdin")
    assert r.returncode == 2 and "invalid choice" in r.stderr
    rows = [json.loads(x) for x in run(home.home, s, "users", "list", "--json").stdout.splitlines()]
    assert {"name": "carol", "role": "investigator"}.items() <= next(
        row for row in rows if row["name"] == "carol"
    ).items()
    r = run(home.home, s, "users", "token", "carol")
    token = r.stdout.strip()
    assert r.returncode == 0 and token.startswith("fs_") and "only" in r.stderr
    assert run(home.home, s, "users", "disable", "carol").returncode == 0
    rows = [json.loads(x) for x in run(home.home, s, "users", "list", "--json").stdout.splitlines()]
    assert next(row for row in rows if row["name"] == "carol")["disabled"] is True
    r = run(home.home, s, "users", "disable", "nobody")
    assert r.returncode == 2 and "no user nobody" in r.stderr


def test_cli_uses_are_audited_as_the_os_user(home: Any, probe_photo: Any) -> None:
    s = home.settings
    photo = str(probe_photo("Gerhard_Schroeder"))
    r = run(home.home, s, "search", photo)
    assert r.returncode == 2 and "case number is required" in r.stderr  # the home has accounts
    r = run(home.home, s, "search", photo, "--case", "K-CLI", "--purpose", "cli test", "--json")
    assert r.returncode == 0, r.stderr
    seq = json.loads(r.stdout)["id"]
    out = run(home.home, s, "audit", "export", "--format", "jsonl", "--case", "K-CLI").stdout
    entries = [json.loads(line) for line in out.splitlines()]
    assert [e["seq"] for e in entries] == [seq]
    assert entries[0]["actor"] == "os:" + getpass.getuser()
    r = run(home.home, s, "forget", "--subject", "Gerhard_Schroeder")
    assert r.returncode == 2 and "reason is required" in r.stderr
    r = run(home.home, s, "forget", "--subject", "Gerhard_Schroeder", "--reason", "DSR-9", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["faces_removed"] >= 5


def test_audit_export_head_and_verify(home: Any, tmp_path: Path) -> None:
    s = home.settings
    head = run(home.home, s, "audit", "head").stdout.strip()
    seq = int(head.split(":")[0])
    r = run(home.home, s, "audit", "export", "--format", "csv", "--out", str(tmp_path / "a.csv"))
    assert r.returncode == 0
    rows = (tmp_path / "a.csv").read_text().splitlines()
    assert rows[0].startswith("seq,time,actor,action") and len(rows) == seq + 1
    assert run(home.home, s, "audit", "export", "--format", "xml").returncode == 2
    r = run(home.home, s, "audit", "verify", "--head", head)
    assert r.returncode == 0 and "intact" in r.stdout  # (the export added an entry after head)
    r = run(home.home, s, "audit", "verify", "--head", f"{seq}:{'0' * 64}")
    assert r.returncode == 1 and f"anchor [{seq}]" in r.stdout


def tampered(home: Path, dest: Path, *sql: str) -> Path:
    shutil.copytree(home, dest)
    with sqlite3.connect(dest / "accountability.sqlite") as conn:
        conn.execute("DROP TRIGGER audit_log_no_update")
        conn.execute("DROP TRIGGER audit_log_no_delete")
        for statement in sql:
            conn.execute(statement)
    return dest


def test_audit_verify_names_tampered_entries(home: Any, tmp_path: Path) -> None:
    s = home.settings
    assert run(home.home, s, "audit", "verify").returncode == 0
    cases = {
        "edited [3]": ("UPDATE audit_log SET actor = 'someone_else' WHERE seq = 3",),
        "deleted [4]": ("DELETE FROM audit_log WHERE seq = 4",),
        "reordered [5]": (
            "UPDATE audit_log SET seq = -1 WHERE seq = 5",
            "UPDATE audit_log SET seq = 5 WHERE seq = 6",
            "UPDATE audit_log SET seq = 6 WHERE seq = -1",
        ),
    }
    with AccountabilityStore.open(home.home) as store:  # the entry that added inv2
        (added,) = [e.seq for e in store.audit.entries(action=Action.USER_ADD, limit=None)
                    if e.payload["name"] == "inv2"]  # fmt: skip
    cases[f"edited [{added}]"] = (  # made to say admin
        "UPDATE audit_log SET payload = replace(payload, 'investigator', 'admin') "
        f"WHERE seq = {added}",
    )
    for i, (expected, sql) in enumerate(cases.items()):
        copy = tampered(home.home, tmp_path / f"t{i}", *sql)
        r = run(copy, s, "audit", "verify")
        assert r.returncode == 1, (expected, r.stdout)
        assert "BROKEN" in r.stdout and expected in r.stdout, r.stdout
        assert "Traceback" not in r.stderr
