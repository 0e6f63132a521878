"""FacePipeline on a GPU runtime (``FACESEARCH_RUNTIME=cuda``), on the fake models: several
chunks analysed at once by threads, fed by decode threads on every core, give the same results
in the same order as the CPU path, errors in their places."""

from __future__ import annotations

import numpy as np
import pytest
from tests.fakes import FakePipeline, face_photo, no_face_photo

import facesearch.models.gpu as gpu
from facesearch.errors import FaceSearchError
from facesearch.pipeline import Decodable
from facesearch.settings import Settings
from facesearch.types import ImageFaces


def photos() -> list[Decodable]:
    items = [Decodable(f"p{k}", face_photo(k % 5, k, faces=1 + k % 2)) for k in range(23)]
    items.insert(7, Decodable("sky", no_face_photo()))
    items.insert(12, Decodable("broken", b"not an image"))
    return items


def summary(results: list[ImageFaces | FaceSearchError]) -> list[object]:
    out: list[object] = []
    for r in results:
        if isinstance(r, FaceSearchError):
            out.append(type(r).__name__)
            continue
        vectors = [f.embedding for f in r.faces]
        assert all(v is not None for v in vectors)
        out.append((r.source, r.main, np.stack(vectors).round(5).tolist() if vectors else []))
    return out


def test_the_gpu_path_gives_the_cpu_path_results_in_order(
    fake_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gpu.os, "cpu_count", lambda: 6)
    with FakePipeline(fake_settings) as cpu:
        expected = summary(list(cpu.run(photos(), chunk=4)))
    with FakePipeline(fake_settings.replace(runtime="cuda")) as on_gpu:
        assert on_gpu._pool._max_workers == 6  # every core decodes
        got = summary(list(on_gpu.run(photos(), chunk=4)))  # 7 chunks, 4 analysts
    assert got == expected
    assert isinstance(got[12], str)  # "broken": its error, in its place
    assert got[7] == ("sky", None, [])
    assert [g[0] for g in got if not isinstance(g, str)][:3] == ["p0", "p1", "p2"]
