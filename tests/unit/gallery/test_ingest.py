"""Ingest on the fake pipeline: what a run reports about the sources it could not ingest."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from tests.fakes import FakePipeline, face_photo, no_face_photo, write_photo

from facesearch.engine import Engine
from facesearch.gallery.ingest import FailedSource
from facesearch.settings import Settings


def test_failures_are_records_with_a_code_and_their_json_keeps_its_keys(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    write_photo(photos, 1, 1)
    (photos / "blank.png").write_bytes(no_face_photo())
    (photos / "junk.jpg").write_bytes(b"not an image")
    settings = Settings(home=tmp_path / "home")
    with Engine(settings, pipeline=FakePipeline(settings)) as engine:
        summary = engine.ingest([photos])
    assert summary.images_added == 1
    by_name = {Path(f.source).name: f for f in summary.failed}
    assert set(by_name) == {"blank.png", "junk.jpg"}
    assert all(isinstance(f, FailedSource) for f in summary.failed)
    assert by_name["blank.png"].code == "no_face"
    assert by_name["junk.jpg"].code == "corrupt_image"
    with pytest.raises(dataclasses.FrozenInstanceError):
        by_name["blank.png"].code = "x"  # type: ignore[misc]
    listed = json.loads(json.dumps(summary.as_dict()))["failed"]
    assert {Path(f["path"]).name: f["reason"] for f in listed}["blank.png"] == "no face found"
    assert {f["code"] for f in listed} == {"no_face", "corrupt_image"}


def test_a_folder_s_name_labels_the_face_the_photo_is_of_not_a_bystander(tmp_path: Path) -> None:
    """--label-from-dir gave every face of a photo the folder's name: the second person in
    Tony_Blair_0001.jpg became 'Tony_Blair', so a search for that bystander answered with
    Tony Blair's name, and `forget --subject Tony_Blair` erased them too."""
    photos = tmp_path / "photos"
    (photos / "Jane_Doe").mkdir(parents=True)
    (photos / "Jane_Doe" / "pair.png").write_bytes(face_photo(3, 1, faces=2))
    settings = Settings(home=tmp_path / "home")
    with Engine(settings, pipeline=FakePipeline(settings)) as engine:
        summary = engine.ingest([photos], label_from_dir=True)
        assert summary.faces_added == 2
        faces = engine.catalog.faces([1, 2])
        main = engine.analyse(photos / "Jane_Doe" / "pair.png").main
        labels = {f.face_index: f.subject for f in faces}
    assert labels == {i: ("Jane_Doe" if i == main else None) for i in (0, 1)}


def test_a_run_is_recorded_before_anything_is_added_and_counts_what_it_committed(
    tmp_path: Path,
) -> None:
    """``on_start`` sees the run's record before anything else, and what it raises ends the
    run; a run's record counts what it committed (a run killed outright wrote no summary)."""
    photos = tmp_path / "photos"
    for person in (1, 2, 3):
        write_photo(photos, person, 1)
    settings = Settings(home=tmp_path / "home")
    seen: list[tuple[int, list[str], int]] = []

    with Engine(settings, pipeline=FakePipeline(settings)) as engine:

        def refuse(run_id: int) -> None:
            names = [c.name for c in engine.catalog.collections()]
            seen.append((run_id, names, engine.catalog.stats()["images"]))
            raise RuntimeError("no entry, no ingest")

        with pytest.raises(RuntimeError, match="no entry"):
            engine.ingest([photos], collection="new", on_start=refuse)
        (refused,) = engine.catalog.runs()
        assert seen == [(refused.id, [], 0)]  # not even the collection was made
        assert (refused.status, refused.images_added) == ("failed", 0)
        summary = engine.ingest([photos], collection="new", on_start=lambda run_id: None)
        done = engine.catalog.runs()[-1]
        assert done.id == summary.run_id and done.status == "completed"
        assert (
            (done.images_added, done.faces_added)
            == (3, 3)
            == (
                summary.images_added,
                summary.faces_added,
            )
        )
