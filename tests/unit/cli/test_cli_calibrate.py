"""``facesearch calibrate DIR`` on an operator's own photos, and verify with the table it wrote
(``FACESEARCH_CALIBRATION_FILE``), on the fake pipeline with its second model on."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from tests.fakes import write_photo

from facesearch.core.calibration import load_table
from facesearch.core.fusion import load_fusion

PEOPLE, SHOTS = 40, 3


def shipped(name: str) -> str:
    return resources.files("facesearch").joinpath("data", name).read_text()


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An operator's labelled photos: ``person_N/shot_M.png``, 40 people x 3 shots."""
    folder = tmp_path_factory.mktemp("own") / "staff"
    for person in range(PEOPLE):
        for shot in range(SHOTS):
            write_photo(folder, person, shot)
    return folder


@pytest.fixture()
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    monkeypatch.setenv("FACESEARCH_CACHE_DIR", str(tmp_path / "cache"))
    for name in ("CALIBRATION_FILE", "VERIFY_MAX_FMR", "SECOND_EMBEDDER"):
        monkeypatch.delenv(f"FACESEARCH_{name}", raising=False)
    return monkeypatch


def test_calibrate_refuses_a_table_verify_cannot_use_and_writes_nothing(
    cli: Any, env: pytest.MonkeyPatch, photos: Path, tmp_path: Path
) -> None:
    """Before: 'an FMR of 0.001 is below what this calibration can resolve', exit 2, and the
    table written all the same (searches then used it); the progress said 'embedding LFW'."""
    out = tmp_path / "table.json"
    r = cli(tmp_path / "home", "calibrate", str(photos), "--out", str(out))
    assert r.code == 2 and not out.exists()
    assert "nothing was written" in r.err
    assert "FACESEARCH_VERIFY_MAX_FMR=0.001 (its default)" in r.err
    assert f"{PEOPLE} people and {PEOPLE * SHOTS} photos" in r.err
    assert "about 100 people" in r.err  # what a usable table takes
    assert "embedding staff:" in r.err and "embedding LFW" not in r.err

    env.setenv("FACESEARCH_VERIFY_MAX_FMR", "0.002")  # set, not the default: no "(its default)"
    r = cli(tmp_path / "home", "calibrate", str(photos), "--out", str(out))
    assert r.code == 2 and not out.exists()
    assert "FACESEARCH_VERIFY_MAX_FMR=0.002 is below" in r.err


def test_verify_uses_the_fused_table_of_the_operators_file(
    cli: Any, env: pytest.MonkeyPatch, photos: Path, tmp_path: Path
) -> None:
    """Before: the file's first-model table priced searches, but verify (which fuses both
    models) kept the shipped fused table, calibrated on LFW, and said so."""
    env.setenv("FACESEARCH_VERIFY_MAX_FMR", "0.3")  # what 40 fake people resolve
    out = tmp_path / "table.json"
    r = cli(tmp_path / "home", "calibrate", str(photos), "--out", str(out))
    assert r.code == 0, r.err
    assert "verify's threshold at FACESEARCH_VERIFY_MAX_FMR=0.3:" in r.out
    record = json.loads(out.read_text())  # both tables, of the models and fusion in use
    fusion = load_fusion(*json.loads(shipped("fusion-sface+dlib_resnet.json"))["model_ids"])
    assert (record["model_id"], record["fused"]["model_id"]) == (
        fusion.model_ids[0],
        fusion.model_id,
    )
    assert load_table(fusion.model_ids[0], out).source.startswith(str(photos))

    env.setenv("FACESEARCH_CALIBRATION_FILE", str(out))
    a, b = write_photo(tmp_path, 0, 5), write_photo(tmp_path, 0, 6)
    r = cli(tmp_path / "home", "verify", str(a), str(b), "--json")
    assert r.code == 0, r.err
    shown = json.loads(r.out)
    assert shown["calibration"].startswith(f"Calibrated on {photos} (")
    assert "fused" in shown["calibration"] and "LFW" not in shown["calibration"]
    assert shown["threshold_fmr"] <= 0.3

    # a file from before, or built with the second model off: refused, never the shipped one
    del record["fused"]
    out.write_text(json.dumps(record))
    r = cli(tmp_path / "home", "verify", str(a), str(b))
    assert r.code == 2 and not r.out
    assert f"calibration file {out}" in r.err and "has no table for the fused score" in r.err
    assert "FACESEARCH_SECOND_EMBEDDER=none" in r.err

    env.setenv("FACESEARCH_SECOND_EMBEDDER", "none")  # the first model alone: its table
    r = cli(tmp_path / "home", "verify", str(a), str(b), "--json")
    assert r.code == 0, r.err
    assert json.loads(r.out)["calibration"].startswith(f"Calibrated on {photos} (")


def test_a_too_strict_verify_max_fmr_setting_is_named_as_configuration(
    cli: Any, env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Before: 'a false match rate of 1e-09 is below ...: ask for 3.6e-07 or more', as if the
    user had asked for it; the setting went unnamed."""
    a, b = write_photo(tmp_path, 0, 5), write_photo(tmp_path, 1, 5)
    env.setenv("FACESEARCH_VERIFY_MAX_FMR", "1e-9")
    r = cli(tmp_path / "home", "verify", str(a), str(b))
    assert r.code == 2
    assert "FACESEARCH_VERIFY_MAX_FMR=1e-09 is below" in r.err
    assert "sface+dlib_resnet" in r.err and "set FACESEARCH_VERIFY_MAX_FMR to 3.6e-07" in r.err
    env.delenv("FACESEARCH_VERIFY_MAX_FMR")
    r = cli(tmp_path / "home", "verify", str(a), str(b), "--max-fmr", "1e-9")  # asked for
    assert r.code == 2 and "ask for 3.6e-07 or more" in r.err
    assert "FACESEARCH_VERIFY_MAX_FMR" not in r.err


def test_calibrate_leaves_no_embedding_of_an_operators_photos_in_the_cache(
    cli: Any, env: pytest.MonkeyPatch, photos: Path, tmp_path: Path
) -> None:
    """Before: the faces of DIR were cached as embeddings under cache_dir/eval, keyed by the
    folder and file names: biometric vectors of the operator's people that outlived the
    photos and no erasure reached (and a photo replaced under its name kept its old one)."""
    env.setenv("FACESEARCH_VERIFY_MAX_FMR", "0.3")
    r = cli(tmp_path / "home", "calibrate", str(photos), "--out", str(tmp_path / "t.json"))
    assert r.code == 0, r.err
    cached = tmp_path / "cache" / "eval"
    assert not cached.exists() or not any(cached.iterdir())
