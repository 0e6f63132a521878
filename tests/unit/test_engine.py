"""Engine on the fake pipeline: images given as numpy arrays (RGB uint8, H x W x 3)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from tests.fakes import FakePipeline, face_photo, face_pixels, gallery_photos, person_name

from facesearch import Engine, InputError, PersonLike
from facesearch.core.calibration import save_table
from facesearch.errors import ConfigError
from facesearch.gallery.catalog import NewFace, NewImage
from facesearch.settings import Settings
from facesearch.types import BBox


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    settings = Settings(home=tmp_path / "home")
    with Engine(settings, pipeline=FakePipeline(settings)) as engine:
        yield engine


def test_an_array_is_analysed_as_its_encoded_photo_is(engine: Engine) -> None:
    from_array = engine.analyse(face_pixels(2, 1))
    from_bytes = engine.analyse(face_photo(2, 1))
    assert len(from_array.faces) == len(from_bytes.faces) == 1
    a, b = from_array.faces[0], from_bytes.faces[0]
    assert a.bbox == b.bbox
    assert a.embedding is not None and b.embedding is not None
    assert float(a.embedding @ b.embedding) > 0.999


def test_verify_and_main_face_take_arrays(engine: Engine) -> None:
    assert engine.verify(face_pixels(3, 1), face_pixels(3, 2)).verification.same
    assert not engine.verify(face_pixels(3, 1), face_photo(4, 1)).verification.same
    _, face = engine.main_face(face_pixels(3, 1))
    assert face.index == 0


def test_search_person_like_and_forget_take_arrays(engine: Engine, tmp_path: Path) -> None:
    gallery_photos(tmp_path / "photos")
    engine.ingest([tmp_path / "photos"], label_from_dir=True)
    result = engine.search(face_pixels(1, 0))
    assert result.faces[0].hits[0].subject == person_name(1)
    assert len(result.probe_sha256) == 64
    person = engine.person_like(face_pixels(1, 0))
    assert isinstance(person, PersonLike)
    forgotten = engine.forget(like=face_pixels(1, 0))
    assert forgotten.blocklisted and {f.subject for f in forgotten.faces} == {person_name(1)}


@pytest.mark.parametrize(
    "array",
    [
        np.zeros((40, 40, 3), np.float32),  # not uint8
        np.zeros((40, 40), np.uint8),  # grey
        np.zeros((40, 40, 4), np.uint8),  # RGBA
        np.zeros((0, 40, 3), np.uint8),  # empty
        np.zeros((40, 40, 3, 1), np.uint8),
    ],
    ids=["float", "grey", "rgba", "empty", "4-d"],
)
def test_a_wrong_array_is_an_input_error(engine: Engine, array: np.ndarray) -> None:
    with pytest.raises(InputError, match="RGB uint8"):
        engine.analyse(array)
    with pytest.raises(InputError, match="RGB uint8"):
        engine.search(array)


def test_an_array_over_the_pixel_limit_is_refused(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home").replace(max_pixels=1000)
    engine = Engine(settings, pipeline=FakePipeline(settings))
    with engine, pytest.raises(InputError, match="pixels"):
        engine.analyse(np.zeros((100, 100, 3), np.uint8))


def test_something_that_is_no_image_is_an_input_error(engine: Engine) -> None:
    with pytest.raises(InputError, match="path, bytes or"):
        engine.analyse([[1, 2, 3]])  # type: ignore[arg-type]


def test_verify_fuses_both_models_when_a_second_is_configured(engine: Engine) -> None:
    fusion, table = engine.fusion, engine.scoring.fused_table
    assert fusion is not None and table is not None and table.model_id == fusion.model_id
    result = engine.verify(face_pixels(3, 1), face_pixels(3, 2))
    v = result.verification
    assert v.models == fusion.model_ids
    a, b = result.face_a, result.face_b
    assert a.embedding is not None and b.embedding is not None
    assert a.second_embedding is not None and b.second_embedding is not None
    first, second = float(a.embedding @ b.embedding), float(a.second_embedding @ b.second_embedding)
    assert v.scores == pytest.approx((first, second))
    assert v.similarity == pytest.approx(float(fusion.fuse(first, second)))
    assert (
        v.fmr == pytest.approx(table.fmr_at(v.similarity)) and v.calibration_source == table.basis
    )
    assert engine.compare(a, b, threshold=1.0).same is (v.similarity >= 1.0)
    with pytest.raises(InputError, match="either a threshold or"):
        engine.compare(a, b, threshold=0.5, max_fmr=1e-3)


def test_without_a_second_model_verify_is_the_first_alone(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home").replace(second_embedder="none")
    with Engine(settings, pipeline=FakePipeline(settings)) as engine:
        assert engine.fusion is None and engine.scoring.fused_table is None
        result = engine.verify(face_pixels(3, 1), face_pixels(3, 2))
        a, b = result.face_a, result.face_b
        assert a.second_embedding is None and a.embedding is not None and b.embedding is not None
        v = result.verification
        assert v.models == (engine.pipeline.model_id,)
        assert v.similarity == pytest.approx(float(a.embedding @ b.embedding))
        assert v.fmr == pytest.approx(engine.calibration.fmr_at(v.similarity))


def test_an_operators_calibration_file_prices_the_fused_score_too(tmp_path: Path) -> None:
    """Before: FACESEARCH_CALIBRATION_FILE replaced the first model's table only; verify
    priced the fused score with the shipped table (LFW) and said so."""
    shipped = Settings(home=tmp_path / "home")
    with Engine(shipped, pipeline=FakePipeline(shipped)) as engine:
        first, fused = engine.calibration, engine.scoring.fused_table
    assert fused is not None
    own = tmp_path / "own.json"
    save_table(replace(first, source="our staff"), own, replace(fused, source="our staff, fused"))
    settings = shipped.replace(calibration_file=own)
    with Engine(settings, pipeline=FakePipeline(settings)) as engine:
        v = engine.verify(face_pixels(3, 1), face_pixels(3, 2)).verification
        assert v.calibration_source.startswith("Calibrated on our staff, fused:")
        assert engine.calibration.source == "our staff"


def test_a_too_strict_verify_max_fmr_setting_is_a_configuration_error(tmp_path: Path) -> None:
    """Before: an InputError ('ask for 3.6e-07 or more'; 422 in the API) that did not name the
    setting, as if the caller had asked for the rate."""
    settings = Settings(home=tmp_path / "home").replace(verify_max_fmr=1e-9)
    with Engine(settings, pipeline=FakePipeline(settings)) as engine:
        with pytest.raises(ConfigError, match=r"^FACESEARCH_VERIFY_MAX_FMR=1e-09 is below"):
            engine.verify(face_pixels(3, 1), face_pixels(3, 2))
        with pytest.raises(InputError, match=r"ask for 3\.6e-07 or more"):
            engine.verify(face_pixels(3, 1), face_pixels(3, 2), max_fmr=1e-9)


@pytest.mark.parametrize("max_fmr", [0.0, 2.0, float("nan")])
def test_the_engine_refuses_a_meaningless_max_fmr_itself(engine: Engine, max_fmr: float) -> None:
    """The rule was checked in the app layer only: Engine.verify(max_fmr=0) decided at the
    default 1e-3 ('max_fmr or default'), max_fmr=2 at threshold -1; person_like likewise."""
    with pytest.raises(InputError, match="maximum false match rate"):
        engine.verify(face_pixels(3, 1), face_pixels(3, 2), max_fmr=max_fmr)
    with pytest.raises(InputError, match="maximum false match rate"):
        engine.person_like(face_pixels(3, 1), max_fmr=max_fmr)
    with pytest.raises(InputError, match="maximum false match rate"):
        engine.search(face_pixels(3, 1), max_fmr=max_fmr)


@pytest.mark.parametrize(
    ("option", "match"),
    [
        ({"top": 0}, "top is a whole number"),  # was the default 10 ('top or default')
        ({"top": -1}, "top is a whole number"),
        ({"top": "5"}, "top is a whole number"),  # was a raw TypeError of '<='
        ({"top": 2.5}, "top is a whole number"),
        ({"max_fmr": "x"}, "a maximum false match rate is a number"),
        ({"threshold": "0.5"}, "a threshold is a number"),
        ({"threshold": 2.0}, "from -1 to 1"),
        ({"threshold": -5.0}, "from -1 to 1"),
    ],
)
def test_search_refuses_a_meaningless_option_plainly(
    engine: Engine, option: dict[str, object], match: str
) -> None:
    with pytest.raises(InputError, match=match):
        engine.search(face_pixels(3, 1), **option)  # type: ignore[arg-type]


@pytest.mark.parametrize("threshold", [2.0, -5.0, float("nan")])
def test_verify_refuses_a_threshold_outside_the_similarity_range(
    engine: Engine, threshold: float
) -> None:
    """--threshold -5 said SAME PERSON for two different people; 2 priced the threshold as
    '1 in 2,800,000'."""
    with pytest.raises(InputError, match="from -1 to 1"):
        engine.verify(face_pixels(3, 1), face_pixels(4, 1), threshold=threshold)


def test_search_takes_one_collection_as_a_string(engine: Engine, tmp_path: Path) -> None:
    """collections="default" was iterated: "no collection named 'd'"."""
    gallery_photos(tmp_path / "photos")
    engine.ingest(tmp_path / "photos", label_from_dir=True)  # one path, not a list
    result = engine.search(face_pixels(1, 0), collections="default", top=1)
    assert result.collections == ("default",)
    assert result.faces[0].hits[0].subject == person_name(1)


@pytest.mark.parametrize("paths", [[5], [Path("a.jpg"), None], 5])
def test_ingest_refuses_what_is_no_path_plainly(engine: Engine, paths: object) -> None:
    with pytest.raises(InputError, match="path"):
        engine.ingest(paths)  # type: ignore[arg-type]


@pytest.mark.parametrize("ids", [["1"], [1.5], [True], 1])
def test_forget_takes_whole_number_ids_only(engine: Engine, ids: object) -> None:
    """Engine.forget(face_ids=["1"]) erased face 1 and [1.5] erased it too (int() of each):
    the id check now lives where the erasure does, for the application layer and Python."""
    before = engine.catalog.stats()["faces"]
    with pytest.raises(InputError, match="whole numbers"):
        engine.forget(face_ids=ids)  # type: ignore[arg-type]
    assert engine.catalog.stats()["faces"] == before


def _store_faces(engine: Engine, collection: str, vectors: np.ndarray) -> list[int]:
    """One image per vector, each with one face of that embedding, straight into the catalog."""
    model = engine.pipeline.model_id
    items = [
        NewImage(
            hashlib.sha256(v.tobytes()).hexdigest(),
            f"/p/{collection}/{n}.jpg",
            10,
            64,
            64,
            faces=(NewFace(0, BBox(8, 8, 40, 40), LANDMARKS, 0.9, {}, model, v),),
        )
        for n, v in enumerate(vectors)
    ]
    added = engine.catalog.add_images(collection, items)
    assert not any(a.duplicate for a in added)
    return [i for a in added for i in a.face_ids]


def _near(probe: np.ndarray, cosine: float, n: int, seed: int) -> np.ndarray:
    """``n`` unit vectors at exactly ``cosine`` to the unit vector ``probe``, each in its own
    random direction away from it."""
    rng = np.random.default_rng(seed)
    away = rng.standard_normal((n, probe.size))
    away -= np.outer(away @ probe, probe)
    away /= np.linalg.norm(away, axis=1, keepdims=True)
    return (cosine * probe + np.sqrt(1 - cosine**2) * away).astype(np.float32)


LANDMARKS = ((20.0, 20.0), (40.0, 20.0), (30.0, 30.0), (22.0, 40.0), (38.0, 40.0))


def test_faces_like_finds_every_face_of_the_person_past_ten_thousand(engine: Engine) -> None:
    """An erasure "like" a photo takes every face at or above its threshold: there were
    10,050 here, and a top-10,000 search of the index left 50 of them behind."""
    probe = _near(np.eye(1, 128, 0, dtype=np.float32)[0], 1.0, 1, 1)[0]
    ids = _store_faces(engine, "many", _near(probe, 0.9, 10_050, 2))
    _store_faces(engine, "others", _near(probe, 0.1, 200, 3))
    found = engine.faces_like(PersonLike(probe, 0.5))
    assert sorted(found) == sorted(ids)


def test_faces_like_reads_the_catalog_of_the_collections_asked_for(tmp_path: Path) -> None:
    """With an approximate (IVF) index, the selection is still every face at or above the
    threshold (a scan of the catalog, not of the index), most similar first, and only of the
    collections asked for: another organisation's faces neither show nor crowd out."""
    settings = Settings(home=tmp_path / "home").replace(index_kind="ivf")
    with Engine(settings, pipeline=FakePipeline(settings)) as engine:
        probe = _near(np.eye(1, 128, 5, dtype=np.float32)[0], 1.0, 1, 4)[0]
        strangers = np.random.default_rng(5).standard_normal((4_000, 128))
        strangers /= np.linalg.norm(strangers, axis=1, keepdims=True)
        _store_faces(engine, "crowd", strangers.astype(np.float32))
        close = _store_faces(engine, "crowd", _near(probe, 0.8, 20, 6))
        far = _store_faces(engine, "crowd", _near(probe, 0.55, 40, 7))
        theirs = _store_faces(engine, "elsewhere", _near(probe, 0.9, 5, 8))
        assert engine.indexes.search(probe[None, :], 5, None)[1][0][0] in theirs  # IVF built
        found = engine.faces_like(PersonLike(probe, 0.5), ["crowd"])
        assert set(found[:20]) == set(close) and set(found) == set(close) | set(far)


def test_the_engine_refuses_a_like_erasure_expected_to_take_strangers(tmp_path: Path) -> None:
    """The library's own forget refuses, as the audited one does, a like erasure expected to
    take more faces of other people than FACESEARCH_ERASE_LIKE_MAX_STRANGERS."""
    settings = Settings(home=tmp_path / "home").replace(erase_like_max_strangers=1e-3)
    with Engine(settings, pipeline=FakePipeline(settings)) as engine:
        gallery_photos(tmp_path / "photos")
        engine.ingest([tmp_path / "photos"], label_from_dir=True)
        faces = engine.indexes.size()
        with pytest.raises(InputError, match="faces of other people"):
            engine.forget(like=face_pixels(1, 0))
        assert engine.indexes.size() == faces
        assert not engine.catalog.blocklist(engine.pipeline.model_id).size
