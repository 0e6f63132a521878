"""FacePipeline.run's schedule (``models.gpu.Schedule``), on the fake models: several chunks
analysed at once by threads give the results of analysing each photo alone, in input order,
errors in their places, on a CPU runtime and on a GPU one (decode threads on every core); and
a chunk holds at most its share of decoded pixels, however large the photos."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pytest
from tests.fakes import FakePipeline, face_photo, no_face_photo

import facesearch.models.gpu as gpu
from facesearch.core.decode import Decoded
from facesearch.errors import FaceSearchError
from facesearch.pipeline import Decodable, Result
from facesearch.settings import Settings
from facesearch.types import ImageFaces


def photos() -> list[Decodable]:
    items = [Decodable(f"p{k}", face_photo(k % 5, k, faces=1 + k % 2)) for k in range(23)]
    items.insert(7, Decodable("sky", no_face_photo()))
    items.insert(12, Decodable("broken", b"not an image"))
    return items


def summary(results: Sequence[ImageFaces | FaceSearchError]) -> list[object]:
    out: list[object] = []
    for r in results:
        if isinstance(r, FaceSearchError):
            out.append(type(r).__name__)
            continue
        vectors = [f.embedding for f in r.faces]
        assert all(v is not None for v in vectors)
        out.append((r.source, r.main, np.stack(vectors).round(5).tolist() if vectors else []))
    return out


def one_by_one(settings: Settings) -> list[object]:
    with FakePipeline(settings) as p:
        return summary([p.analyse([p._safe_decode(item)])[0] for item in photos()])


@pytest.mark.parametrize("runtime", ["openvino", "cuda"])
def test_chunks_analysed_at_once_give_each_photo_s_own_results_in_order(
    fake_settings: Settings, monkeypatch: pytest.MonkeyPatch, runtime: str
) -> None:
    monkeypatch.setattr(gpu.os, "cpu_count", lambda: 6)
    expected = one_by_one(fake_settings)
    with FakePipeline(fake_settings.replace(runtime=runtime)) as p:
        plan = gpu.schedule(runtime)
        assert plan.analysts > 1
        got = summary(list(p.run(photos(), chunk=4)))  # 7 chunks, several analysed at once
    assert got == expected
    assert isinstance(got[12], str)  # "broken": its error, in its place
    assert got[7] == ("sky", None, [])
    assert [g[0] for g in got if not isinstance(g, str)][:3] == ["p0", "p1", "p2"]


def test_a_gpu_runtime_decodes_on_every_core(
    fake_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gpu.os, "cpu_count", lambda: 6)
    with FakePipeline(fake_settings.replace(runtime="cuda")) as on_gpu:
        assert on_gpu._pool._max_workers == 6
    with FakePipeline(fake_settings) as on_cpu:
        assert on_cpu._pool._max_workers == gpu.CPU_SCHEDULE.decoders


def test_a_chunk_holds_at_most_its_share_of_decoded_pixels(fake_settings: Settings) -> None:
    """Photos of 640 x 640 (409,600 pixels) with a budget of 1,000,000 pixels a chunk: two
    photos a chunk, not the 64 a chunk may count; a photo over the budget goes alone."""
    big = [Decodable(f"b{k}", face_photo(k % 5, k, size=640)) for k in range(10)]
    huge = Decodable("huge", no_face_photo(size=(1500, 1000)))
    items = [*big[:4], huge, *big[4:]]
    held: list[list[int]] = []
    with FakePipeline(fake_settings) as p:
        p._schedule = replace(p._schedule, chunk_images=64, chunk_pixels=1_000_000)
        analyse = p.analyse

        def spy(
            decoded: Sequence[tuple[str, Decoded | FaceSearchError]], **kw: bool
        ) -> list[Result]:
            held.append(
                [
                    d.pixels.shape[0] * d.pixels.shape[1]
                    for _, d in decoded
                    if isinstance(d, Decoded)
                ]
            )
            return analyse(decoded, **kw)

        p.analyse = spy  # type: ignore[method-assign]
        results = list(p.run(items))
    assert [r.source for r in results] == [i.source for i in items]
    sizes = [len(chunk) for chunk in held]
    assert sum(sizes) == len(items) and max(sizes) == 2
    assert [1_500_000] in held  # the huge one alone
    assert all(sum(chunk) <= 1_000_000 for chunk in held if len(chunk) > 1)


def test_the_cpu_schedule_overlaps_chunks_and_bounds_their_pixels() -> None:
    plan = gpu.schedule("openvino")
    assert plan == gpu.CPU_SCHEDULE and plan.analysts >= 2
    assert (plan.analysts + 1) * plan.chunk_pixels * 3 <= 600_000_000  # bytes of RGB in flight


@pytest.mark.parametrize(("analysts", "most"), [(None, gpu.CPU_SCHEDULE.analysts), (1, 1)])
def test_analysts_bounds_the_chunks_analysed_at_once(
    fake_settings: Settings, analysts: int | None, most: int
) -> None:
    running, seen = [0], [0]
    lock = threading.Lock()
    with FakePipeline(fake_settings) as p:
        analyse = p.analyse

        def slow(
            decoded: Sequence[tuple[str, Decoded | FaceSearchError]], **kw: bool
        ) -> list[Result]:
            with lock:
                running[0] += 1
                seen[0] = max(seen[0], running[0])
            time.sleep(0.05)  # long enough for the others to start
            with lock:
                running[0] -= 1
            return analyse(decoded, **kw)

        p.analyse = slow  # type: ignore[method-assign]
        got = summary(list(p.run(photos(), chunk=3, analysts=analysts)))
    assert got == one_by_one(fake_settings)
    assert seen[0] == most
