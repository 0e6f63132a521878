"""The CLI through its real entry point (a subprocess running ``python -m facesearch``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.lfw


def run(args: list[str], settings, **kw) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    env = {
        **os.environ,
        "FACESEARCH_CACHE_DIR": str(settings.cache_dir),
        "FACESEARCH_HOME": str(settings.home),
    }
    return subprocess.run(
        [sys.executable, "-m", "facesearch", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        **kw,
    )


def test_detect_shape(settings, lfw_image) -> None:  # type: ignore[no-untyped-def]
    r = run(["detect", str(lfw_image("Aaron_Peirsol", 1))], settings)
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert rows and set(rows[0]) == {"path", "face", "bbox", "landmarks", "score", "quality"}
    assert len(rows[0]["bbox"]) == 4 and len(rows[0]["landmarks"]) == 5
    assert set(rows[0]["quality"]) >= {"size", "sharpness", "yaw", "pitch", "roll", "score"}


def test_embed_main_no_face_and_unreadable(settings, lfw_image, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from PIL import Image

    sky = tmp_path / "sky.png"
    Image.new("RGB", (120, 90), (100, 150, 220)).save(sky)
    r = run(["embed", "--main", str(lfw_image("Aaron_Peirsol", 1)), str(sky)], settings)
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(rows) == 2
    assert len(rows[0]["embedding"]) == 128
    assert rows[1] == {"path": str(sky), "face": None, "error": "no face found"}
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff garbage")
    r = run(["embed", str(bad), str(lfw_image("Aaron_Peirsol", 2))], settings)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr and "bad.jpg" in r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    # one line per input, in input order, the unreadable one included
    assert rows[0]["path"] == str(bad) and rows[0]["face"] is None and "bad.jpg" in rows[0]["error"]
    assert rows[1]["path"] == str(lfw_image("Aaron_Peirsol", 2)) and rows[1]["embedding"]


def test_verify_exit_codes(settings, lfw_image, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    same = run(
        ["verify", str(lfw_image("Aaron_Peirsol", 1)), str(lfw_image("Aaron_Peirsol", 3))], settings
    )
    assert same.returncode == 0, same.stderr
    assert "different people score" in same.stdout and "lead" in same.stdout
    diff = run(
        [
            "verify",
            "--json",
            str(lfw_image("Aaron_Peirsol", 1)),
            str(lfw_image("Serena_Williams", 1)),
        ],
        settings,
    )
    assert diff.returncode == 1, diff.stderr
    obj = json.loads(diff.stdout)
    assert obj["same_person"] is False and 0 < obj["fmr"] <= 1
    missing = run(
        ["verify", str(tmp_path / "nope.jpg"), str(lfw_image("Aaron_Peirsol", 1))], settings
    )
    assert missing.returncode == 2
    assert missing.stderr.count("\n") == 1 and "nope.jpg" in missing.stderr


def test_models_lists_digests(settings) -> None:  # type: ignore[no-untyped-def]
    r = run(["models", "--json"], settings)
    assert r.returncode == 0, r.stderr
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    names = {row["name"]: row for row in rows}
    assert names["sface"]["sha256"].startswith("fb143eea")
    assert names["yunet"]["status"].startswith("ok")
