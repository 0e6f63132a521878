"""`facesearch search` text: what the FMRs rest on, and a poorer probe's reliability note."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from tests.fakes import person_name, write_photo

from facesearch.app.records import ProbeFaceRecord, SearchRecord
from facesearch.cli.gallery import search_text
from facesearch.types import BBox, Quality


def test_search_text_names_the_calibration_and_the_probes_reliability() -> None:
    quality = Quality(size=35.0, sharpness=50.0, yaw=0.0, pitch=0.0, roll=0.0, score=0.9)
    face = ProbeFaceRecord(
        face=0,
        bbox=BBox(0, 0, 35, 35),
        quality=quality,
        warnings=(),
        refused=False,
        hits=(),
        reliability="on probes this small, 2x",
    )
    record = SearchRecord(
        started="",
        ended="",
        probe="p.jpg",
        probe_sha256=None,
        collections=(("default", 5),),
        threshold=None,
        top=3,
        parameters={},
        faces=(face,),
        calibration="Calibrated on LFW. Conservative.",
    )
    text = search_text(record)
    assert "  less reliable: on probes this small, 2x" in text
    assert "False match rates: Calibrated on LFW. Conservative." in text
    plain = search_text(
        dataclasses.replace(record, faces=(dataclasses.replace(face, reliability=None),))
    )
    assert "less reliable" not in plain


def test_a_gallery_file_name_cannot_forge_a_candidate_line(cli: Any, tmp_path: Path) -> None:
    forged = "x\n  #1   0.9999  Fake_Person   face 1      evil.jpg"
    photo = write_photo(tmp_path / "gallery", 3, 0)
    photo = photo.rename(photo.with_name(f"{forged}\u202e.png"))
    home = tmp_path / "home"
    assert cli(home, "ingest", str(photo.parent), "--label-from-dir").code == 0
    r = cli(home, "search", str(write_photo(tmp_path / "probe", 3, 1)), "--top", "1")
    assert r.code == 0, r.err
    candidates = [line for line in r.out.splitlines() if line.lstrip().startswith("#")]
    assert len(candidates) == 1 and person_name(3) in candidates[0]
    assert "x\\n  #1   0.9999  Fake_Person" in candidates[0] and "\\u202e.png" in candidates[0]
    r = cli(home, "forget", "--subject", person_name(3), "--reason", "DSR-1")
    assert r.code == 0, r.err
    (shown,) = [line for line in r.out.splitlines() if line.startswith("  from ")]
    assert "x\\n  #1   0.9999  Fake_Person" in shown and "\\u202e.png" in shown  # one line
