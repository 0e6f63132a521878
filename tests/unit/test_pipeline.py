"""FacePipeline's second model on the fake pipeline: paid for only when asked (``second=True``),
off with "none", and a configured model that cannot load is an error, never a silent fallback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from tests.fakes import FakePipeline, FakeSecondEmbedder, face_photo, no_face_photo

import facesearch.pipeline as pipeline_module
from facesearch.errors import ConfigError, ImageError, ModelFileError
from facesearch.pipeline import Decodable, FacePipeline
from facesearch.settings import Settings
from facesearch.types import ImageFaces


@pytest.fixture()
def fake(fake_settings: Settings) -> Iterator[FakePipeline]:
    with FakePipeline(fake_settings) as p:
        yield p


def photos() -> list[Decodable]:
    return [
        Decodable("one", face_photo(1, 0)),
        Decodable("two faces", face_photo(2, 0, faces=2)),
        Decodable("again", face_photo(1, 1)),
        Decodable("sky", no_face_photo()),
    ]


def analysed(p: FacePipeline, **kw: bool) -> list[ImageFaces]:
    results = list(p.run(photos(), **kw))
    assert all(isinstance(r, ImageFaces) for r in results)
    return results  # type: ignore[return-value]


def test_second_fills_every_face_from_the_second_model_only_when_asked(fake: FakePipeline) -> None:
    second = fake.second_embedder
    assert isinstance(second, FakeSecondEmbedder)
    plain = analysed(fake)
    assert second.calls == 0  # not paid for unless asked
    assert all(f.second_embedding is None for r in plain for f in r.faces)
    both = analysed(fake, second=True)
    assert second.calls == 1  # one batch for the whole chunk
    faces = [f for r in both for f in r.faces]
    assert len(faces) == 4 and all(f.second_embedding is not None for f in faces)
    for f, g in zip(faces, [f for r in plain for f in r.faces], strict=True):
        assert f.embedding is not None and g.embedding is not None
        np.testing.assert_array_equal(f.embedding, g.embedding)  # the first model unchanged
        assert f.second_embedding is not None
        assert f.second_embedding.shape == (128,)
        assert float(np.linalg.norm(f.second_embedding)) == pytest.approx(1.0, abs=1e-5)
    one, again = both[0].faces[0], both[2].faces[0]
    other = both[1].faces[0]
    assert one.second_embedding is not None and again.second_embedding is not None
    assert other.second_embedding is not None
    same = float(np.dot(one.second_embedding, again.second_embedding))
    apart = float(np.dot(one.second_embedding, other.second_embedding))
    assert same > 0.9 > 0.3 > apart
    main_only = analysed(fake, second=True, main_only=True)
    assert [len(r.faces) for r in main_only] == [1, 1, 1, 0]
    no_embedding = analysed(fake, second=True, embed=False)
    assert all(f.second_embedding is None for r in no_embedding for f in r.faces)


def test_none_turns_the_second_model_off(fake_settings: Settings) -> None:
    with FakePipeline(fake_settings.replace(second_embedder="none")) as p:
        assert p.second_spec is None and p.second_embedder is None
        results = analysed(p, second=True)
        assert all(f.second_embedding is None for r in results for f in r.faces)
        assert all(f.embedding is not None for r in results for f in r.faces)


def test_an_unknown_second_model_is_a_config_error(fake_settings: Settings) -> None:
    with (
        FacePipeline(fake_settings.replace(second_embedder="nosuch")) as p,
        pytest.raises(ConfigError, match="unknown model 'nosuch'"),
    ):
        _ = p.second_spec


def test_a_second_model_that_cannot_load_says_how_to_turn_it_off(
    fake_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    def missing(*args: object, **kwargs: object) -> None:
        raise ModelFileError("model file not found")

    monkeypatch.setattr(pipeline_module, "load_embedder", missing)
    with FacePipeline(fake_settings) as p:
        with pytest.raises(ConfigError, match="FACESEARCH_SECOND_EMBEDDER=none") as caught:
            _ = p.second_embedder
        assert "dlib_resnet" in str(caught.value) and "not found" in str(caught.value)


def test_second_embeddings_at_stored_landmarks_match_those_of_the_analysis(
    fake: FakePipeline,
) -> None:
    items = photos()[:3]
    faces = [f for r in analysed(fake, second=True)[:3] for f in r.faces]
    owners = [items[0], items[1], items[1], items[2]]
    broken = Decodable("broken", b"not an image")
    asked = [(item, f.detection.landmarks) for item, f in zip(owners, faces, strict=True)]
    got = fake.second_embeddings_at([*asked, (broken, faces[0].detection.landmarks)])
    for vector, face in zip(got[:-1], faces, strict=True):
        assert isinstance(vector, np.ndarray) and face.second_embedding is not None
        np.testing.assert_allclose(vector, face.second_embedding, atol=1e-6)
    assert isinstance(got[-1], ImageError) and "broken" in str(got[-1])


def test_second_embeddings_at_needs_a_second_model(fake_settings: Settings) -> None:
    with (
        FakePipeline(fake_settings.replace(second_embedder="none")) as p,
        pytest.raises(ConfigError, match="no second model"),
    ):
        p.second_embeddings_at([(photos()[0], ((0.0, 0.0),) * 5)])


def test_read_file_refuses_what_is_not_a_regular_file(tmp_path: Path) -> None:
    """A device reports size 0, so the size check let /dev/zero be read until memory ran out
    (``verify --pairs`` with a /dev/zero line was killed)."""
    for device in ("/dev/null", "/dev/zero"):
        with pytest.raises(ImageError, match="not a regular file \\(a device\\)"):
            pipeline_module.read_file(Path(device), 1000)
    photo = tmp_path / "a.png"
    photo.write_bytes(face_photo(1, 0))
    assert pipeline_module.read_file(photo, 10**6).data == photo.read_bytes()


def test_an_unknown_second_model_names_the_setting(fake_settings: Settings) -> None:
    """It said only "unknown model 'nosuch'; registered: ...": which setting was wrong?"""
    with (
        FacePipeline(fake_settings.replace(second_embedder="nosuch")) as p,
        pytest.raises(ConfigError, match="FACESEARCH_SECOND_EMBEDDER") as caught,
    ):
        _ = p.second_spec
    assert "none" in str(caught.value)  # how to turn it off


def test_read_file_reads_a_pipe_within_the_limit(tmp_path: Path) -> None:
    """``facesearch verify <(curl ...) b.jpg`` hands over a pipe: read it, but no more than
    the limit allows."""
    import contextlib
    import os
    import threading

    fifo = tmp_path / "photo"
    os.mkfifo(fifo)
    photo = face_photo(1, 0)

    def write(data: bytes) -> None:
        with contextlib.suppress(BrokenPipeError), open(fifo, "wb") as f:
            f.write(data)

    writer = threading.Thread(target=write, args=(photo,))
    writer.start()
    assert pipeline_module.read_file(fifo, 10**6).data == photo
    writer.join()
    writer = threading.Thread(target=write, args=(photo,))
    writer.start()
    with pytest.raises(ImageError, match="over the limit of 100"):
        pipeline_module.read_file(fifo, 100)
    writer.join()
