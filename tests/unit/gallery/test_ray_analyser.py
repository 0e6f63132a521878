"""The pure parts of the Ray ingest (``gallery.ray_ingest``), without Ray: the actor pool's
shape, the rows the driver sends, and one actor's work on a batch (on the fake models)."""

from __future__ import annotations

import hashlib
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
from tests.fakes import face_photo

from facesearch.errors import ConfigError, FaceSearchError
from facesearch.gallery.ray_ingest import _Analyse, _portable, _row, actor_shape, batch_failure
from facesearch.pipeline import Decodable
from facesearch.settings import Settings
from facesearch.types import ImageFaces


@pytest.mark.parametrize(
    ("cpus", "actors", "shape"),
    [(2, None, (1, 2)), (1, None, (1, 1)), (8, None, (4, 2)), (2, 2, (2, 1)), (3, 2, (2, 1))],
)
def test_the_pool_shares_the_cpus_out(
    cpus: int, actors: int | None, shape: tuple[int, int]
) -> None:
    assert actor_shape(cpus, actors) == shape


def test_a_pool_of_no_actor_or_a_cluster_of_no_cpu_is_refused() -> None:
    with pytest.raises(ConfigError, match="--ray-actors"):
        actor_shape(2, 0)
    with pytest.raises(ConfigError, match="no CPU"):
        actor_shape(0, None)


def test_a_file_travels_as_its_path_and_an_archive_member_as_its_bytes(tmp_path: Path) -> None:
    photo = tmp_path / "a.png"
    photo.write_bytes(b"abc")
    on_disk = _row(0, Decodable(str(photo), b"abc"))
    member = _row(1, Decodable(f"{tmp_path}/x.zip!a.png", b"abc"))
    sha = hashlib.sha256(b"abc").hexdigest()
    assert on_disk == {"n": 0, "source": str(photo), "sha256": sha, "path": True, "data": b""}
    assert member["path"] is False and member["data"] == b"abc" and member["sha256"] == sha


def test_a_failure_comes_back_with_its_code_and_message() -> None:
    from facesearch.errors import CorruptImageError

    sent = _portable(CorruptImageError("not an image", "/x.jpg"))
    back = pickle.loads(pickle.dumps(sent))
    error = batch_failure(back.code, back.message)  # type: ignore[attr-defined]
    assert isinstance(error, FaceSearchError)
    assert (error.code, str(error)) == ("corrupt_image", "/x.jpg: not an image")


def batch(rows: list[dict[str, object]]) -> dict[str, np.ndarray]:
    columns: dict[str, np.ndarray] = {}
    for key in rows[0]:
        column = np.empty(len(rows), dtype=object)
        column[:] = [row[key] for row in rows]
        columns[key] = column
    columns["n"] = np.arange(len(rows))
    return columns


@pytest.mark.usefixtures("fake_models")
def test_an_actor_answers_every_row_in_order_and_refuses_a_changed_file(
    fake_settings: Settings, tmp_path: Path
) -> None:
    photos = [tmp_path / f"p{k}.png" for k in range(3)]
    for k, path in enumerate(photos):
        path.write_bytes(face_photo(k, 1))
    items = [Decodable(str(p), p.read_bytes()) for p in photos]
    rows = [_row(n, item) for n, item in enumerate(items)]
    rows.insert(1, _row(1, Decodable(f"{tmp_path}/in.zip!m.png", face_photo(4, 1))))
    rows.append(_row(4, Decodable(str(tmp_path / "bad.png"), b"not an image")))
    (tmp_path / "bad.png").write_bytes(b"not an image")
    photos[2].write_bytes(face_photo(5, 2))  # changed after the driver hashed it

    out = _Analyse(fake_settings)(batch(rows))

    assert out["n"].tolist() == list(range(5))
    results = [pickle.loads(blob) for blob in out["result"]]
    sources = [r.source if isinstance(r, ImageFaces) else None for r in results]
    assert sources == [str(photos[0]), f"{tmp_path}/in.zip!m.png", str(photos[1]), None, None]
    assert all(len(r.faces) == 1 for r in results[:3])
    assert (results[3].code, results[4].code) == ("bad_image", "corrupt_image")
    assert "changed while it was being ingested" in results[3].message


def test_without_ray_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    from facesearch.gallery.ray_ingest import RayAnalyser, RayOptions

    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed: import fails
    analyser = RayAnalyser(Settings.from_env(env={}), RayOptions())
    with pytest.raises(ConfigError, match=r"pip install 'facesearch\[distributed\]'"):
        next(analyser([]))


def test_an_actor_is_made_without_the_database_s_or_vector_store_s_url(tmp_path: Path) -> None:
    """The actors got the whole settings, passwords in the URLs included, stored in the
    cluster with each actor's constructor; an actor only analyses images."""
    from facesearch.gallery.ray_ingest import actor_settings

    settings = Settings.from_env(
        env={},
        home=tmp_path / "home",
        database_url="postgresql://fs:s3cret@db.example:5432/faces",
        vectors_url="http://root:Milvus@milvus.example:19530",
    )
    sent = actor_settings(settings, 3)
    assert (sent.database_url, sent.index.vectors_url, sent.models.threads) == ("", "", 3)
    assert b"s3cret" not in pickle.dumps(sent) and b"Milvus@" not in pickle.dumps(sent)
    assert settings.replace(database_url="", vectors_url="", threads=3) == sent  # else the same
