"""The real models on real LFW faces, and edge-case images made from them."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facesearch.engine import Engine
from facesearch.errors import CorruptImageError, ImageTooLargeError, NoFaceError
from facesearch.settings import Settings

pytestmark = pytest.mark.lfw


@pytest.fixture(scope="module")
def engine(settings: Settings, pipeline):  # type: ignore[no-untyped-def]
    e = Engine(settings, open_catalog=False, pipeline=pipeline)
    yield e


def jpeg(img: Image.Image, **kw: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=95, **kw)
    return buf.getvalue()


def test_same_person_pair_matches(engine: Engine, lfw_image) -> None:  # type: ignore[no-untyped-def]
    r = engine.verify(lfw_image("Aaron_Peirsol", 1), lfw_image("Aaron_Peirsol", 2))
    assert r.verification.same
    assert r.verification.similarity > 0.45


def test_different_people_do_not_match(engine: Engine, lfw_image) -> None:  # type: ignore[no-untyped-def]
    r = engine.verify(lfw_image("Aaron_Peirsol", 1), lfw_image("Serena_Williams", 1))
    assert not r.verification.same
    assert r.verification.similarity < 0.3
    assert r.verification.fmr > 1e-3


def test_detection_on_lfw_is_centred(engine: Engine, lfw_image) -> None:  # type: ignore[no-untyped-def]
    faces = engine.analyse(lfw_image("Serena_Williams", 3))
    assert faces.width == 250 and faces.height == 250
    main = faces.faces[faces.main or 0]
    cx, cy = main.bbox.center
    assert 90 < cx < 160 and 90 < cy < 170
    assert 60 < main.bbox.w < 160
    assert main.embedding is not None and main.embedding.shape == (128,)
    assert abs(float(np.linalg.norm(main.embedding)) - 1) < 1e-4
    assert main.quality.sharpness > 0 and abs(main.quality.yaw) < 45


def test_two_faces_side_by_side(engine: Engine, lfw_image) -> None:  # type: ignore[no-untyped-def]
    left = Image.open(lfw_image("Aaron_Peirsol", 1)).crop((50, 40, 200, 210))
    right = Image.open(lfw_image("Serena_Williams", 1)).crop((50, 40, 200, 210))
    canvas = Image.new("RGB", (300, 170))
    canvas.paste(left, (0, 0))
    canvas.paste(right, (150, 0))
    faces = engine.analyse(jpeg(canvas), name="pair.jpg")
    assert len(faces.faces) == 2
    xs = sorted(f.bbox.center[0] for f in faces.faces)
    assert xs[0] < 150 < xs[1]
    # each face is the person it came from
    ref_a = engine.main_face(lfw_image("Aaron_Peirsol", 2))[1].embedding
    left_face = min(faces.faces, key=lambda f: f.bbox.center[0])
    assert float(np.dot(left_face.embedding, ref_a)) > 0.4  # type: ignore[arg-type]


def test_tight_112_crop_is_found(engine: Engine, lfw_image) -> None:  # type: ignore[no-untyped-def]
    full = engine.analyse(lfw_image("Aaron_Peirsol", 1))
    box = full.faces[full.main or 0].bbox
    side = max(box.w, box.h)
    cx, cy = box.center
    crop = (
        Image.open(lfw_image("Aaron_Peirsol", 1))
        .crop((int(cx - side / 2), int(cy - side / 2), int(cx + side / 2), int(cy + side / 2)))
        .resize((112, 112))
    )
    _, face = engine.main_face(jpeg(crop), name="crop.jpg")
    ref = full.faces[full.main or 0].embedding
    assert float(np.dot(face.embedding, ref)) > 0.6  # type: ignore[arg-type]


def test_exif_rotated_photo(engine: Engine, lfw_image) -> None:  # type: ignore[no-untyped-def]
    img = Image.open(lfw_image("Aaron_Peirsol", 1))
    stored = img.transpose(Image.Transpose.ROTATE_90)  # stored sideways...
    exif = Image.Exif()
    exif[0x0112] = 6  # ...with the tag that tells viewers to turn it back
    _, face = engine.main_face(jpeg(stored, exif=exif), name="rot.jpg")
    _, ref = engine.main_face(lfw_image("Aaron_Peirsol", 1))
    assert float(np.dot(face.embedding, ref.embedding)) > 0.9  # type: ignore[arg-type]
    assert abs(face.quality.roll) < 15


@pytest.mark.parametrize("mode", ["L", "CMYK", "I;16"])
def test_colour_modes_still_match(engine: Engine, lfw_image, mode: str) -> None:  # type: ignore[no-untyped-def]
    img = Image.open(lfw_image("Aaron_Peirsol", 1))
    buf = io.BytesIO()
    if mode == "I;16":
        arr = np.asarray(img.convert("L"), dtype=np.uint16) * 257
        Image.fromarray(arr).save(buf, format="PNG")
    else:
        img.convert(mode).save(buf, format="JPEG" if mode != "L" else "PNG")
    _, face = engine.main_face(buf.getvalue(), name=f"{mode}.img")
    _, ref = engine.main_face(lfw_image("Aaron_Peirsol", 1))
    assert float(np.dot(face.embedding, ref.embedding)) > 0.75  # type: ignore[arg-type]


def test_no_face(engine: Engine) -> None:
    sky = Image.fromarray(np.full((200, 300, 3), (120, 170, 230), np.uint8))
    with pytest.raises(NoFaceError):
        engine.main_face(jpeg(sky), name="sky.jpg")


def test_truncated_zero_nonimage_oversized(engine: Engine, lfw_image, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    data = lfw_image("Aaron_Peirsol", 1).read_bytes()
    with pytest.raises(CorruptImageError, match=r"cut\.jpg"):
        engine.analyse(data[: len(data) // 3], name="cut.jpg")
    with pytest.raises(CorruptImageError, match="empty"):
        engine.analyse(b"", name="zero.jpg")
    text = tmp_path / "notes.jpg"
    text.write_text("not a photo")
    with pytest.raises(CorruptImageError, match="not an image"):
        engine.analyse(text)
    small = Engine(
        engine.settings.replace(max_file_bytes=1000), open_catalog=False, pipeline=engine.pipeline
    )
    with pytest.raises(ImageTooLargeError, match="over the limit"):
        small.analyse(lfw_image("Aaron_Peirsol", 1))


def test_huge_image_is_downscaled_and_mapped_back(engine: Engine, lfw_image) -> None:  # type: ignore[no-untyped-def]
    img = Image.open(lfw_image("Aaron_Peirsol", 1)).resize((2500, 2500))
    faces = engine.analyse(jpeg(img), name="big.jpg")
    small = engine.analyse(lfw_image("Aaron_Peirsol", 1))
    big_box = faces.faces[faces.main or 0].bbox
    ref = small.faces[small.main or 0].bbox
    assert big_box.x == pytest.approx(ref.x * 10, abs=40)
    assert big_box.w == pytest.approx(ref.w * 10, rel=0.15)
