"""First inferences of OpenVINO sessions never overlap (the deadlock of a fresh serve).

The real race is rare and timing-bound (tests/integration/test_openvino_first_run.py repeats
it in fresh processes); this test pins the mechanism deterministically: a stand-in compiled
model records how many first runs are inside inference at once.
"""

from __future__ import annotations

import importlib.util
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from facesearch.models import runtime
from facesearch.settings import Settings

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("openvino") is None, reason="openvino is not installed"
)


class Overlap:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.inside = 0
        self.most = 0

    def enter(self) -> None:
        with self.lock:
            self.inside += 1
            self.most = max(self.most, self.inside)

    def leave(self) -> None:
        with self.lock:
            self.inside -= 1


class Request:
    def __init__(self, overlap: Overlap) -> None:
        self.overlap = overlap

    def start_async(self, inputs: dict[int, Any], share_inputs: bool = False) -> None:
        self.overlap.enter()
        time.sleep(0.2)
        self.overlap.leave()

    def wait(self) -> None:
        pass

    def get_output_tensor(self, i: int) -> Any:
        class T:
            data = np.zeros((1, 4), np.float32)

        return T()


class Compiled:
    outputs = (0,)

    def __init__(self, overlap: Overlap) -> None:
        self.overlap = overlap

    def create_infer_request(self) -> Request:
        return Request(self.overlap)


def test_first_runs_of_two_sessions_never_overlap(tmp_path: Path) -> None:
    overlap = Overlap()
    model = tmp_path / "m.onnx"  # never read: compilation is replaced below
    sessions = [
        runtime.OpenVinoSession(model, Settings(cache_dir=tmp_path / "cache")) for _ in range(2)
    ]
    for s in sessions:
        s._compiled_for = lambda shape: Compiled(overlap)  # type: ignore[method-assign]
    x = np.zeros((1, 3, 8, 8), np.float32)
    barrier = threading.Barrier(4)

    def go(s: runtime.OpenVinoSession) -> None:
        barrier.wait()
        s.run(x)

    threads = [threading.Thread(target=go, args=(s,)) for s in sessions for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert overlap.most == 1

    # Once warm, runs of a shape go in parallel again (no lock on the hot path).
    overlap.most = 0
    barrier = threading.Barrier(2)
    threads = [threading.Thread(target=go, args=(sessions[0],)) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert overlap.most == 2
