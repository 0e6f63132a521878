"""What a person at the CLI reads (issue 7, items 15-17), through the real entry point.

Errors name the file, ``search`` names the options it wants, ``detect`` reports an unreadable
file once, ``stats`` is a table, progress shows when stderr is not a terminal, and a
candidate that is the probe's own file says so (text, ``--json`` and the HTML report, which
carries what makes it evidence: case, purpose, operator, time, audit entry, chain head and
the parameters). In-process through ``facesearch.cli.main``, on the fake pipeline.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from tests.fakes import GALLERY_SHOTS, PEOPLE, no_face_photo, person_name, write_photo
from tests.homes import Ran, run_cli

from facesearch.cli import main


@pytest.fixture()
def run(capsys: pytest.CaptureFixture[str], fake_models: None) -> Any:
    """run(home, *args): the CLI in this process, on the fake pipeline."""

    def go(home: Path, *args: str) -> Ran:
        return run_cli(capsys, home, *args)

    return go


@pytest.fixture(scope="module")
def home(fake_homes: Any) -> Any:
    """The fake gallery with user accounts (so case and purpose are required)."""
    return fake_homes("cli-messages")


@pytest.fixture()
def probe_photo(tmp_path: Path) -> Any:
    """probe_photo(person, shot=0): a photo file of a person; shot 0 is never in the gallery."""

    def get(person: int, shot: int = 0) -> Path:
        return write_photo(tmp_path / "probes", person, shot)

    return get


@pytest.fixture()
def sky(tmp_path: Path) -> Path:
    """A photo without a face."""
    path = tmp_path / "noface.jpg"
    path.write_bytes(no_face_photo(fmt="JPEG"))
    return path


def test_verify_names_the_photo_without_a_face(
    home: Any, probe_photo: Any, sky: Path, run: Any
) -> None:
    r = run(
        home.home,
        "verify",
        str(probe_photo(0)),
        str(sky),
        "--case",
        "K-15",
        "--purpose",
        "messages",
    )
    assert r.code == 2, r.out
    assert f"{sky}: no face found" in r.err
    assert "<bytes>" not in r.err and "Traceback" not in r.err


def test_search_without_case_names_both_options(home: Any, probe_photo: Any, run: Any) -> None:
    r = run(home.home, "search", str(probe_photo(1)))
    assert r.code == 2
    assert "--case" in r.err and "--purpose" in r.err, r.err
    r = run(home.home, "search", str(probe_photo(1)), "--case", "K-1")
    assert r.code == 2 and "--purpose" in r.err, r.err


def test_detect_reports_a_missing_file_once(
    home: Any, tmp_path: Path, run: Any, fake_models: None
) -> None:
    missing = tmp_path / "missing.jpg"
    # stdout and stderr on one stream, as on a terminal: one report, not two
    both = tmp_path / "terminal.txt"
    with (
        both.open("w") as stream,
        contextlib.redirect_stdout(stream),
        contextlib.redirect_stderr(stream),
    ):
        code = main(["--home", str(home.home), "detect", str(missing)])
    assert code == 2
    shown = both.read_text()
    assert [line for line in shown.splitlines() if "missing.jpg" in line] == [
        json.dumps(
            {
                "path": str(missing),
                "face": None,
                "error": f"{missing}: cannot read file: No such file or directory",
            },
            separators=(",", ":"),
        )
    ], shown
    # apart: the JSON line on stdout (data) and the one-line message on stderr
    r = run(home.home, "detect", str(missing))
    assert r.code == 2
    assert json.loads(r.out)["error"].endswith("No such file or directory")
    assert r.err.count("missing.jpg") == 1, r.err


def test_stats_is_a_readable_table(home: Any, run: Any) -> None:
    data = json.loads(run(home.home, "stats", "--json").out)
    faces = data["faces"]
    assert faces == PEOPLE * len(GALLERY_SHOTS) and data["models"][0]["faces"] == faces
    assert data["database"] == f"sqlite {Path(home.home) / 'catalog.sqlite'}"
    r = run(home.home, "stats")
    assert r.code == 0, r.err
    assert "[" not in r.out and "{" not in r.out and "'" not in r.out, r.out
    assert re.search(rf"^faces\s+{faces}$", r.out, re.M), r.out
    assert re.search(rf"^indexed faces\s+{faces}$", r.out, re.M), r.out
    assert re.search(rf"sface\S*\s+128\s+{faces}$", r.out, re.M), r.out
    names = [k.replace("_", " ") for k, v in data.items() if not isinstance(v, list)]
    starts = set()  # where each value begins: one column, the longest name's included
    for line in r.out.split("\n\n")[0].splitlines():
        name = max((n for n in names if line.startswith(n + " ")), key=len)
        starts.add(len(line) - len(line[len(name) :].lstrip(" ")))
    assert len(starts) == 1, r.out


def test_ingest_shows_progress_when_stderr_is_not_a_terminal(
    tmp_path: Path, probe_photo: Any, run: Any
) -> None:
    fresh = tmp_path / "home"
    photos = [str(probe_photo(5, n)) for n in (5, 6, 7)]
    r = run(fresh, "ingest", *photos)
    assert r.code == 0, r.err
    lines = [line for line in r.err.splitlines() if line.startswith("ingest:")]
    assert lines, r.err
    assert "3 img" in lines[-1] and "\r" not in r.err, r.err
    # the last line counts every face, the last batch's included (it said 15,641 of 15,706)
    added = re.search(r"([\d,]+) faces added", r.out)
    assert added and f"faces {added.group(1)}" in lines[-1], (r.out, lines[-1])


def test_same_file_flag_and_evidence_report(
    home: Any, fake_photos: Path, tmp_path: Path, run: Any
) -> None:
    own = fake_photos / person_name(4) / "shot_2.png"  # a gallery photo, searched as a probe
    report = tmp_path / "report.html"
    args = ["search", str(own), "--case", "K-16", "--purpose", "evidence <test>", "--top", "3"]
    r = run(home.home, *args, "--json")
    assert r.code == 0, r.err
    out = json.loads(r.out)
    hits = out["faces"][0]["hits"]
    assert hits[0]["same_file"] is True and hits[0]["image_path"].endswith(own.name)
    assert all(h["same_file"] is False for h in hits[1:])
    r = run(home.home, *args, "--report", str(report), "--max-fmr", "0.01")
    assert r.code == 0, r.err
    assert "same file as the probe" in r.out
    seq = int(re.search(r"recorded as audit entry (\d+)", r.out).group(1))  # type: ignore[union-attr]
    head = run(home.home, "audit", "head").out.strip()
    text = report.read_text(encoding="utf-8")
    assert "K-16" in text and "evidence &lt;test&gt;" in text
    assert "os:" in text  # the operator
    assert f"audit entry {seq}" in text.replace("\n", " ")
    assert head.split(":", 1)[1] in text  # the chain head after this search
    assert "same file as the probe" in text
    for parameter in ("collections", "default", "top", "max FMR", "0.01", "allow poor", "sface"):
        assert parameter in text, parameter
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", text)


def test_report_and_audit_export_are_owner_only(
    home: Any, probe_photo: Any, tmp_path: Path, run: Any
) -> None:
    """Second attack pass: the HTML report (face crops) and the audit export were 0644."""
    import stat

    old = os.umask(0o022)  # a usual login umask
    try:
        report, export = tmp_path / "r.html", tmp_path / "trail.csv"
        export.write_text("an older export, left readable by others\n")  # overwritten below
        export.chmod(0o644)
        args = ["search", str(probe_photo(1)), "--case", "K-17", "--purpose", "modes"]
        r = run(home.home, *args, "--report", str(report))
        assert r.code == 0, r.err
        r = run(home.home, "audit", "export", "--format", "csv", "--out", str(export))
        assert r.code == 0, r.err
    finally:
        os.umask(old)
    for path in (report, export):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_an_unusable_index_folder_is_named_not_a_traceback(
    fake_homes: Any, run: Any, probe_photo: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An index folder the user cannot open (chmod 000, another user's) gave a PermissionError
    traceback on search; it is reported like an unusable catalog, exit 2."""
    h = fake_homes("index-denied", users=False)

    def denied(path: Path, *, shared: bool = False) -> Any:
        raise PermissionError(errno.EACCES, "Permission denied", str(path))

    monkeypatch.setattr("facesearch.gallery.collections.file_lock", denied)
    r = run(h.home, "search", str(probe_photo(1)))
    assert r.code == 2 and r.out == "", r.err
    index = Path(h.home) / "index"
    assert f"facesearch: error: {index}: cannot use the index folder: Permission denied" in r.err


def test_users_add_without_a_terminal_says_to_pipe_the_password(tmp_path: Path) -> None:
    """``users add NAME`` with no terminal to ask at (a script, cron, CI) printed Python's
    EOFError traceback and exited 1; it says to use --password-stdin instead, exit 2, and adds
    no account."""
    import subprocess
    import sys

    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "c"), "XDG_STATE_HOME": str(tmp_path)}
    args = [sys.executable, "-m", "facesearch", "--home", str(tmp_path / "h"), "users"]
    ran = subprocess.run(
        [*args, "add", "alice", "--role", "admin"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        start_new_session=True,  # no controlling terminal: getpass cannot open /dev/tty
        timeout=120,
    )
    assert ran.returncode == 2, ran.stderr
    assert "Traceback" not in ran.stderr and "--password-stdin" in ran.stderr
    listed = subprocess.run([*args, "list"], capture_output=True, text=True, env=env, timeout=120)
    assert "alice" not in listed.stdout
