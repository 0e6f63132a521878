"""The server's analysis processes (``server/analysis_processes.py``) with the real models:
what a process finds is what the server process finds, errors arrive whole, and a process that
dies is replaced."""

from __future__ import annotations

import io
import os
import signal
import time
from typing import Any

import numpy as np
import pytest
from PIL import Image

from facesearch.app import handles
from facesearch.errors import CorruptImageError
from facesearch.pipeline import FacePipeline
from facesearch.server.analysis_processes import AnalysisProcesses
from facesearch.server.workers import PILLOW_BLOCK_BYTES
from facesearch.settings import Settings

pytestmark = pytest.mark.lfw


@pytest.fixture(scope="module")
def processes(settings: Settings) -> Any:
    pool = AnalysisProcesses(settings, 2, PILLOW_BLOCK_BYTES)
    yield pool
    pool.close()


def test_a_process_finds_and_embeds_what_the_server_process_does(
    processes: AnalysisProcesses, pipeline: FacePipeline, lfw_image: Any
) -> None:
    pids = processes.warm_up()
    assert len(set(pids)) == 2 and os.getpid() not in pids
    for name in ("Colin_Powell", "Tony_Blair"):
        data = lfw_image(name, 2).read_bytes()
        there = processes.submit(data, f"{name}.jpg").result(timeout=120)
        here = handles.analyse(pipeline, data, f"{name}.jpg")
        assert there.source == f"{name}.jpg" and there.main == here.main
        assert len(there.faces) == len(here.faces) >= 1
        a = np.asarray(there.faces[there.main].embedding)
        b = np.asarray(here.faces[here.main].embedding)
        assert float(a @ b) > 0.99  # one inference thread there, the runtime's default here


def test_a_photo_without_faces_and_a_broken_one_come_back_as_such(
    processes: AnalysisProcesses,
) -> None:
    blank = io.BytesIO()
    Image.new("RGB", (300, 300), (200, 200, 200)).save(blank, format="PNG")
    nothing = processes.submit(blank.getvalue(), "blank.png").result(timeout=120)
    assert nothing.main is None and nothing.faces == ()
    with pytest.raises(CorruptImageError) as corrupt:
        processes.submit(b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "broken.png").result(timeout=120)
    assert corrupt.value.path == "broken.png"


def test_a_process_that_dies_is_replaced(processes: AnalysisProcesses, lfw_image: Any) -> None:
    processes.warm_up()
    for pid in processes.pids():
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    data = lfw_image("Colin_Powell", 3).read_bytes()
    while True:  # the pool notices the death on its own thread; the next submit replaces it
        try:
            faces = processes.submit(data, "p.jpg").result(timeout=120)
            break
        except Exception as exc:  # BrokenProcessPool for the analyses it held
            assert type(exc).__name__ == "BrokenProcessPool", exc
            assert time.monotonic() < deadline
            time.sleep(0.2)
    assert faces.main is not None


def test_the_server_sends_big_photos_to_a_process_of_their_own_at_a_lower_priority(
    settings: Settings, lfw_image: Any
) -> None:
    """A big photo would hold up every small one queued behind it in an analysis process
    (8,944 x 8,944 PNGs in the mix halved the small searches' rate): it goes to a process of
    its own, at a lower CPU priority."""
    import asyncio

    from facesearch.server.limits import sniff_image
    from facesearch.server.workers import HEAVY_PIXELS, Workers

    workers = Workers(settings.replace(server_analysis_processes="1"))
    try:
        small_pool, heavy_pool = workers._pools
        sent: dict[str, list[str]] = {"small": [], "heavy": []}
        for kind, pool in (("small", small_pool), ("heavy", heavy_pool)):
            real = pool.submit

            def spy(data: bytes, name: str, real: Any = real, kind: str = kind) -> Any:
                sent[kind].append(name)
                return real(data, name)

            pool.submit = spy  # type: ignore[method-assign]
        small = lfw_image("Colin_Powell", 4).read_bytes()
        big = io.BytesIO()
        canvas = Image.new("RGB", (2500, 2000), (128, 128, 128))
        canvas.paste(Image.open(lfw_image("Colin_Powell", 4)).resize((800, 800)), (900, 600))
        canvas.save(big, format="PNG")

        async def analysed(data: bytes, name: str) -> Any:
            _, width, height = sniff_image(data, settings.limits.max_pixels, name)  # as served
            return await workers.analyse(data, name, user="ivy", pixels=width * height)

        async def both() -> tuple[Any, Any]:
            return await analysed(small, "small.jpg"), await analysed(big.getvalue(), "big.png")

        found_small, found_big = asyncio.run(both())
        assert sent == {"small": ["small.jpg"], "heavy": ["big.png"]}
        assert HEAVY_PIXELS < 2500 * 2000
        assert found_small.main is not None and found_big.main is not None
        assert (found_big.width, found_big.height) == (2500, 2000)
        assert heavy_pool.nice > 0
        assert os.getpriority(os.PRIO_PROCESS, heavy_pool.pids()[0]) > os.getpriority(
            os.PRIO_PROCESS, small_pool.pids()[0]
        )
    finally:
        workers.close()
