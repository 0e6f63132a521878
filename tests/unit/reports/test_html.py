"""The HTML report of a search: candidate crops read back from every kind of catalog source."""

from __future__ import annotations

import zipfile
from pathlib import Path

from tests.fakes import encode, face_pixels

from facesearch.app.records import GalleryFace, HitRecord, ProbeFaceRecord, SearchRecord
from facesearch.engine import Engine
from facesearch.reports.html import render
from facesearch.settings import Settings
from facesearch.types import BBox, Quality

FACE = BBox(20.0, 20.0, 120.0, 120.0)


def result_with_candidate(source: str, probe: Path) -> SearchRecord:
    gallery = GalleryFace(image_id=3, image_path=source, bbox=FACE, subject="Ann",
                          collection="default")  # fmt: skip
    hit = HitRecord(rank=1, face_id=7, similarity=0.9, fmr=1e-5, fmr_words="rare",
                    expected_false=0.01, same_file=False, face=gallery)  # fmt: skip
    quality = Quality(size=120.0, sharpness=500.0, yaw=0.0, pitch=0.0, roll=0.0,
                      score=0.99)  # fmt: skip
    face = ProbeFaceRecord(face=0, bbox=FACE, quality=quality, warnings=(), refused=False,
                           hits=(hit,))  # fmt: skip
    return SearchRecord(id=1, actor="os:me", case=None, purpose=None, outcome="ok", error=None,
                        started="2026-11-30T00:00:00+00:00", ended="2026-11-30T00:00:01+00:00",
                        probe=str(probe), probe_sha256="0" * 64,
                        collections=(("default", 10),), threshold=0.5, top=10,
                        parameters={"top": 10}, faces=(face,))  # fmt: skip


def test_a_candidate_from_a_zip_archive_is_shown(tmp_path: Path) -> None:
    probe = tmp_path / "probe.png"
    probe.write_bytes(encode(face_pixels(1, 0)))
    archive = tmp_path / "batch.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("people/ann.jpg", encode(face_pixels(1, 1), "JPEG"))
    engine = Engine(Settings(home=tmp_path / "home"), open_catalog=False)
    page = render(result_with_candidate(f"{archive}!people/ann.jpg", probe), engine)
    assert 'alt="candidate face"' in page
    assert "source not available" not in page


def test_a_candidate_whose_source_is_gone_says_so(tmp_path: Path) -> None:
    probe = tmp_path / "probe.png"
    probe.write_bytes(encode(face_pixels(1, 0)))
    engine = Engine(Settings(home=tmp_path / "home"), open_catalog=False)
    page = render(result_with_candidate(str(tmp_path / "gone.zip!ann.jpg"), probe), engine)
    assert "source not available" in page and 'alt="candidate face"' not in page


def test_the_report_says_what_the_fmr_rests_on_and_how_reliable_the_probe_is(
    tmp_path: Path,
) -> None:
    """Issue 12: an evidence row gives the calibration sentence, each card its short line,
    and a probe face in a poorer quality bucket its reliability note."""
    import dataclasses

    probe = tmp_path / "probe.png"
    probe.write_bytes(encode(face_pixels(1, 0)))
    record = result_with_candidate(str(tmp_path / "gone.jpg"), probe)
    face = dataclasses.replace(record.faces[0], reliability="on probes this small, 3x missed")
    record = dataclasses.replace(
        record,
        faces=(face,),
        calibration="Calibrated on LFW: 9 impostor pairs. Conservative.",
        calibration_short="conservative FMR: 95 % bound x 2",
    )
    engine = Engine(Settings(home=tmp_path / "home"), open_catalog=False)
    page = render(record, engine)
    assert "<th>false match rates</th><td>Calibrated on LFW: 9 impostor pairs." in page
    assert "<div class=small>conservative FMR: 95 % bound x 2</div>" in page
    assert "<div class=warn>on probes this small, 3x missed</div>" in page


def test_a_report_into_a_folder_that_does_not_exist_is_refused_and_none_is_made(
    tmp_path: Path,
) -> None:
    """write_report made missing folders (mkdir parents=True), so a typo in a path put a
    report of face crops somewhere nobody meant; now it is an InputError and nothing is made."""
    import pytest

    from facesearch.errors import InputError
    from facesearch.reports.html import write_report

    probe = tmp_path / "probe.png"
    probe.write_bytes(encode(face_pixels(1, 0)))
    engine = Engine(Settings(home=tmp_path / "home"), open_catalog=False)
    record = result_with_candidate(str(tmp_path / "gone.jpg"), probe)
    target = tmp_path / "no" / "such" / "report.html"
    with pytest.raises(InputError, match="does not exist"):
        write_report(record, target, engine)
    assert not (tmp_path / "no").exists()
    with pytest.raises(InputError, match="is a folder"):
        write_report(record, tmp_path, engine)
    write_report(record, tmp_path / "report.html", engine)
    assert "lead for a person to check" in (tmp_path / "report.html").read_text()
