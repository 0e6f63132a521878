"""What a person at the CLI reads (issue 7, items 15-17), through the real entry point.

Errors name the file, ``search`` names the options it wants, ``detect`` reports an unreadable
file once, ``stats`` is a table, progress shows when stderr is not a terminal, and a
candidate that is the probe's own file says so (text, ``--json`` and the HTML report, which
carries what makes it evidence: case, purpose, operator, time, audit entry, chain head and
the parameters).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

pytestmark = pytest.mark.lfw


def run(home: Path, settings: Any, *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FACESEARCH_CACHE_DIR": str(settings.cache_dir)}
    options: dict[str, Any] = {"capture_output": True, **kw}
    return subprocess.run(
        [sys.executable, "-m", "facesearch", "--home", str(home), *args],
        text=True,
        env=env,
        timeout=300,
        **options,
    )


@pytest.fixture(scope="module")
def home(server_home: Any) -> Any:
    """The 40-photo gallery with user accounts (so case and purpose are required)."""
    return server_home("cli-messages")


@pytest.fixture()
def sky(tmp_path: Path) -> Path:
    """A photo without a face."""
    path = tmp_path / "noface.jpg"
    Image.new("RGB", (160, 120), (100, 150, 220)).save(path)
    return path


def test_verify_names_the_photo_without_a_face(home: Any, probe_photo: Any, sky: Path) -> None:
    r = run(
        home.home,
        home.settings,
        "verify",
        str(probe_photo("Colin_Powell")),
        str(sky),
        "--case",
        "K-15",
        "--purpose",
        "messages",
    )
    assert r.returncode == 2, r.stdout
    assert f"{sky}: no face found" in r.stderr
    assert "<bytes>" not in r.stderr and "Traceback" not in r.stderr


def test_search_without_case_names_both_options(home: Any, probe_photo: Any) -> None:
    r = run(home.home, home.settings, "search", str(probe_photo("Tony_Blair")))
    assert r.returncode == 2
    assert "--case" in r.stderr and "--purpose" in r.stderr, r.stderr
    r = run(home.home, home.settings, "search", str(probe_photo("Tony_Blair")), "--case", "K-1")
    assert r.returncode == 2 and "--purpose" in r.stderr, r.stderr


def test_detect_reports_a_missing_file_once(home: Any, tmp_path: Path) -> None:
    missing = tmp_path / "missing.jpg"
    # stdout and stderr on one stream, as on a terminal: one report, not two
    r = run(
        home.home,
        home.settings,
        "detect",
        str(missing),
        capture_output=False,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert r.returncode == 2
    assert [line for line in r.stdout.splitlines() if "missing.jpg" in line] == [
        json.dumps(
            {
                "path": str(missing),
                "face": None,
                "error": f"{missing}: cannot read file: No such file or directory",
            },
            separators=(",", ":"),
        )
    ], r.stdout
    # apart: the JSON line on stdout (data) and the one-line message on stderr
    r = run(home.home, home.settings, "detect", str(missing))
    assert r.returncode == 2
    assert json.loads(r.stdout)["error"].endswith("No such file or directory")
    assert r.stderr.count("missing.jpg") == 1, r.stderr


def test_stats_is_a_readable_table(home: Any) -> None:
    data = json.loads(run(home.home, home.settings, "stats", "--json").stdout)
    faces = data["faces"]
    assert faces > 40 and data["models"][0]["faces"] == faces  # 40 photos, some with 2 faces
    r = run(home.home, home.settings, "stats")
    assert r.returncode == 0, r.stderr
    assert "[" not in r.stdout and "{" not in r.stdout and "'" not in r.stdout, r.stdout
    assert re.search(rf"^faces\s+{faces}$", r.stdout, re.M), r.stdout
    assert re.search(rf"^indexed faces\s+{faces}$", r.stdout, re.M), r.stdout
    assert re.search(rf"sface\S*\s+128\s+{faces}$", r.stdout, re.M), r.stdout


def test_ingest_shows_progress_when_stderr_is_not_a_terminal(
    settings: Any, tmp_path: Path, probe_photo: Any
) -> None:
    fresh = tmp_path / "home"
    photos = [str(probe_photo("Hugo_Chavez", n)) for n in (11, 12, 13)]
    r = run(fresh, settings, "ingest", *photos)
    assert r.returncode == 0, r.stderr
    lines = [line for line in r.stderr.splitlines() if line.startswith("ingest:")]
    assert lines, r.stderr
    assert "3 img" in lines[-1] and "\r" not in r.stderr, r.stderr
    # the last line counts every face, the last batch's included (it said 15,641 of 15,706)
    added = re.search(r"([\d,]+) faces added", r.stdout)
    assert added and f"faces {added.group(1)}" in lines[-1], (r.stdout, lines[-1])


def test_same_file_flag_and_evidence_report(home: Any, lfw: Path, tmp_path: Path) -> None:
    own = (
        lfw / "lfw-deepfunneled" / "Ariel_Sharon" / "Ariel_Sharon_0002.jpg"
    )  # a gallery photo, searched as a probe
    report = tmp_path / "report.html"
    args = ["search", str(own), "--case", "K-16", "--purpose", "evidence <test>", "--top", "3"]
    r = run(home.home, home.settings, *args, "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    hits = out["faces"][0]["hits"]
    assert hits[0]["same_file"] is True and hits[0]["image_path"].endswith(own.name)
    assert all(h["same_file"] is False for h in hits[1:])
    r = run(home.home, home.settings, *args, "--report", str(report), "--max-fmr", "0.01")
    assert r.returncode == 0, r.stderr
    assert "same file as the probe" in r.stdout
    seq = int(re.search(r"recorded as audit entry (\d+)", r.stdout).group(1))  # type: ignore[union-attr]
    head = run(home.home, home.settings, "audit", "head").stdout.strip()
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
    home: Any, probe_photo: Any, tmp_path: Path
) -> None:
    """Second attack pass: the HTML report (face crops) and the audit export were 0644."""
    import stat

    old = os.umask(0o022)  # a usual login umask
    try:
        report, export = tmp_path / "r.html", tmp_path / "trail.csv"
        export.write_text("an older export, left readable by others\n")  # overwritten below
        export.chmod(0o644)
        args = ["search", str(probe_photo("Tony_Blair")), "--case", "K-17", "--purpose", "modes"]
        r = run(home.home, home.settings, *args, "--report", str(report))
        assert r.returncode == 0, r.stderr
        r = run(
            home.home, home.settings, "audit", "export", "--format", "csv", "--out", str(export)
        )
        assert r.returncode == 0, r.stderr
    finally:
        os.umask(old)
    for path in (report, export):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
