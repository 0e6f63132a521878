"""``facesearch verify --pairs`` through its real entry point (a subprocess) on real LFW pairs,
with the real models fused: one JSON line per pair in order, same-person pairs above
different-person ones, an unreadable photo a line with its error and exit code 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from facesearch.settings import Settings

pytestmark = pytest.mark.lfw

SAME = [
    ("Colin_Powell", 1, 2),
    ("Tony_Blair", 3, 7),
    ("Serena_Williams", 1, 4),
    ("Hugo_Chavez", 2, 5),
]
DIFFERENT = [
    ("Colin_Powell", 1, "Tony_Blair", 3),
    ("Serena_Williams", 1, "Hugo_Chavez", 2),
    ("Ariel_Sharon", 1, "Jean_Chretien", 1),
    ("Donald_Rumsfeld", 1, "Gerhard_Schroeder", 1),
]


def run(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "FACESEARCH_CACHE_DIR": str(settings.cache_dir),
        "FACESEARCH_HOME": str(settings.home),
    }
    return subprocess.run(
        [sys.executable, "-m", "facesearch", "verify", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_verify_pairs_on_lfw(settings: Settings, lfw_image: Any, tmp_path: Path) -> None:
    same = [(lfw_image(n, i), lfw_image(n, j)) for n, i, j in SAME]
    apart = [(lfw_image(a, i), lfw_image(b, j)) for a, i, b, j in DIFFERENT]
    pairs = tmp_path / "pairs.txt"
    rows = [*same, *apart]
    pairs.write_text("# LFW\n" + "".join(f"{a}\t{b}\n" for a, b in rows))
    r = run(settings, "--pairs", str(pairs), "--json")
    assert r.returncode == 0, r.stderr
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    assert [(x["a"], x["b"]) for x in lines] == [(str(a), str(b)) for a, b in rows]
    keys = {"a", "b", "similarity", "same", "fmr", "models", "scores"}  # the issue's, and:
    keys |= {"line", "threshold", "same_file"}
    assert all(set(x) == keys for x in lines)
    models = lines[0]["models"]
    assert [m.split(":")[0] for m in models] == ["sface", "dlib_resnet"]  # fused by default
    assert all(x["models"] == models and list(x["scores"]) == models for x in lines)
    genuine = [x["similarity"] for x in lines[: len(same)]]
    impostor = [x["similarity"] for x in lines[len(same) :]]
    assert min(genuine) > max(impostor)
    assert all(x["same"] for x in lines[: len(same)])
    assert not any(x["same"] for x in lines[len(same) :])
    assert all(0 < x["fmr"] <= 1 for x in lines)

    pairs.write_text(f"{same[0][0]}\t{tmp_path / 'missing.jpg'}\n{same[0][0]}\t{same[0][1]}\n")
    r = run(settings, "--pairs", str(pairs), "--json")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    missing, ok = (json.loads(line) for line in r.stdout.splitlines())
    assert "missing.jpg" in missing["error"] and missing["similarity"] is None
    assert ok["same"] is True and ok["similarity"] == lines[0]["similarity"]

    pairs.write_text(f"{same[0][0]}\t{same[0][1]}\nnot a pair\n")
    r = run(settings, "--pairs", str(pairs), "--json")
    assert r.returncode == 2 and r.stdout == "" and "line 2" in r.stderr
