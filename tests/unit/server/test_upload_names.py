"""Names of uploaded files and of the folders their labels become (``upload_names``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.jobs import job_finished

from facesearch.server.upload_names import (
    incoming_name,
    label_folder,
    original_name,
    safe_name,
    upload_stem,
)


@pytest.mark.parametrize(
    "label",
    [
        "Ana 😀",
        "Zoë 李 👨\u200d👩\u200d👧",
        "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",
        "love ❤\ufe0f",
        "O'Brien",
    ],
)
def test_a_label_that_is_a_plain_folder_name_is_kept_as_it_is(label: str) -> None:
    """Every upload label went through safe_name: "Ana 😀" became "Ana _", Persian lost its
    ZWNJ, and different names fell into one subject."""
    assert label_folder(label) == label
    assert safe_name(label) != label  # what it was


@pytest.mark.parametrize(
    "label", ["../up", "a/b", "a\\b", ".hidden", " edge ", "x" * 300, "a\x01b", "K-\u200b1"]
)
def test_a_label_that_is_no_plain_folder_name_is_cut_down(label: str) -> None:
    folder = label_folder(label)
    assert folder == safe_name(label, "unnamed")
    assert "/" not in folder and not folder.startswith(".")


def test_an_uploaded_archive_s_folder_label_is_the_subject_as_written(fake_homes: Any) -> None:
    """A zip with the folder "Ana 😀" gave the subject "Ana _"."""
    import io
    import zipfile

    from fastapi.testclient import TestClient
    from tests.fakes import FakePipeline, face_photo

    from facesearch.server import create_app

    home = fake_homes("upload-labels")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("Ana 😀/a.png", face_photo(7, 9))
    with TestClient(create_app(home.settings, pipelines=FakePipeline)) as client:
        admin = home.auth("admin1")
        r = client.post(
            "/api/v1/ingest-jobs",
            headers=admin,
            files={"files": ("labels.zip", buf.getvalue())},
            data={"collection": "labels", "label_from_dir": "true"},
        )
        assert r.status_code == 202, r.text
        job = job_finished(lambda path: client.get(path, headers=admin), r.json(), 60)
        assert job["status"] == "completed" and job["images_added"] == 1, job
    from facesearch.gallery.catalog import Catalog

    with Catalog.open(home.home / "catalog.sqlite") as catalog:
        assert [f.subject for f in catalog.faces_of_subject("Ana 😀")] == ["Ana 😀"]


@pytest.mark.parametrize(
    ("filename", "ext", "stem"),
    [
        ("also.tar.gz", ".tar.gz", "also"),  # was "also.tar": stored as also.tar.tar.gz
        ("photos.TAR.GZ", ".tar.gz", "photos"),
        ("Photos.Tar.Gz", ".tar.gz", "Photos"),
        ("x.tar.gz.zip", ".zip", "x"),
        ("tar.gz", ".tar.gz", "tar"),
        ("set.tar.xz", ".tar.xz", "set"),
        ("a.zip", ".zip", "a"),
        ("misnamed.zip", ".tar.gz", "misnamed"),
        ("face.JPG", ".jpg", "face"),
        ("v1.2.png", ".png", "v1.2"),
        (".zip", ".zip", "zip"),
        (None, ".png", "upload"),
    ],
)
def test_an_upload_s_stem_loses_every_archive_suffix(
    filename: str | None, ext: str, stem: str
) -> None:
    assert upload_stem(filename, ext) == stem
    assert original_name(Path(incoming_name(3, stem, ext))) == stem + ext


@pytest.mark.parametrize(
    ("name", "ext"),
    [
        ("A" * 300 + ".jpg", ".jpg"),  # was cut to 80 "A"s: no image file any more
        ("\U0001d400" * 300 + ".png", ".png"),  # 80 characters of 4 bytes: too long a name
        ("\U0001d400" * 120, ""),  # a label's folder
        ("a." + "b" * 300, ""),  # no extension: cut like the rest
    ],
)
def test_a_long_name_is_cut_to_a_file_name_keeping_its_extension(name: str, ext: str) -> None:
    cut = safe_name(name)
    assert cut.endswith(ext) and len(cut) <= 80 and len(cut.encode()) <= 200, cut
    assert len(label_folder(name).encode()) <= 255
    stem = upload_stem(name, ".tar.bz2")
    assert len(incoming_name(999999, stem, ".tar.bz2").encode()) <= 255


def test_uploads_with_long_names_are_ingested(fake_homes: Any) -> None:
    """A photo named with 300 characters failed its job ("no image file found": its name lost
    ".png"); one of 300 four-byte characters was a 500 (the file name was too long to save);
    an archive with such a folder or member failed its whole job ("internal error")."""
    import io
    import zipfile

    from fastapi.testclient import TestClient
    from tests.fakes import FakePipeline, face_photo

    from facesearch.server import create_app

    home = fake_homes("upload-long-names")
    wide = "\U0001d400"  # a letter of 4 bytes in UTF-8
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(f"{wide * 120}/a.png", face_photo(3, 1))
        zf.writestr(f"ok/{wide * 120}.png", face_photo(4, 1))
    uploads = [
        [("A" * 300 + ".png", face_photo(1, 1))],
        [(wide * 300 + ".png", face_photo(2, 1))],
        [("long.zip", buf.getvalue())],
    ]
    with TestClient(create_app(home.settings, pipelines=FakePipeline)) as client:
        admin = home.auth("admin1")
        for files, added in zip(uploads, (1, 1, 2), strict=True):
            r = client.post(
                "/api/v1/ingest-jobs",
                headers=admin,
                files=[("files", f) for f in files],
                data={"collection": "long", "label_from_dir": "true"},
            )
            assert r.status_code == 202, r.text
            job = job_finished(lambda path: client.get(path, headers=admin), r.json(), 60)
            assert job["status"] == "completed" and job["images_added"] == added, job


def test_a_refused_file_of_many_is_named(fake_homes: Any) -> None:
    """One bad file among many refused the request as "the uploaded photo: ..." (or, not
    an image nor an archive, with no name at all): which of them was left to guess."""
    import io

    from fastapi.testclient import TestClient
    from PIL import Image
    from tests.fakes import FakePipeline, face_photo

    from facesearch.server import create_app

    home = fake_homes("upload-refusals")
    good = [(f"g{n}.png", face_photo(n, 1)) for n in range(3)]
    settings = home.settings.replace(max_pixels=160 * 160)
    big = io.BytesIO()
    Image.new("L", (200, 200)).save(big, "PNG")
    bad = {
        "notes.txt": (b"hello", 415),
        "IMG_0042.jpg": (b"\xff\xd8\xff\xe0" + b"\0" * 100, 422),
        "panorama.png": (big.getvalue(), 413),
    }
    with TestClient(create_app(settings, pipelines=FakePipeline)) as client:
        admin = home.auth("admin1")
        for name, (data, status) in bad.items():
            r = client.post(
                "/api/v1/ingest-jobs",
                headers=admin,
                files=[("files", f) for f in [*good, (name, data)]],
            )
            assert r.status_code == status, r.text
            assert name in r.json()["error"]["message"], r.text
    assert not [p for p in (home.home / "uploads").rglob("*") if p.is_file()]
