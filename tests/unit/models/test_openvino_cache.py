"""OpenVINO's compiled-model cache lives under the settings' cache dir, and a warm start
compiles from a static IR file there without reading or reshaping the source model."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from facesearch.models import runtime
from facesearch.settings import Settings

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("openvino") is None, reason="openvino is not installed"
)

SCALE = np.float32(1.0001)  # not a float16 value: an IR saved with fp16 weights would change it


def save_model(path: Path, scale: np.float32 = SCALE) -> Path:
    """A tiny float model with a dynamic batch: y = relu(x * scale)."""
    import openvino as ov
    import openvino.opset13 as ops

    x = ops.parameter([-1, 3, 4, 4], np.float32, name="x")
    y = ops.relu(ops.multiply(x, ops.constant(np.full((1, 3, 1, 1), scale, np.float32))))
    ov.save_model(ov.Model([y], [x], "tiny"), str(path), compress_to_fp16=False)
    return path


def settings(tmp_path: Path) -> Settings:
    return Settings(cache_dir=tmp_path / "cache", home=tmp_path / "home").replace(
        runtime="openvino", precision="fp32", threads=1
    )


def batch(n: int = 2) -> np.ndarray[Any, np.dtype[np.float32]]:
    return np.linspace(-1, 1, n * 48, dtype=np.float32).reshape(n, 3, 4, 4)


def test_the_compiled_model_cache_is_under_the_settings_cache_dir(tmp_path: Path) -> None:
    s = settings(tmp_path)
    session = runtime.OpenVinoSession(save_model(tmp_path / "m.xml"), s)
    assert session._core.get_property("CACHE_DIR") == str(s.cache_dir / "openvino")
    session.run(batch())
    assert list((s.cache_dir / "openvino").glob("*.blob"))


def test_a_warm_session_neither_reads_nor_reshapes_the_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import openvino as ov

    model = save_model(tmp_path / "m.xml")
    cold = runtime.OpenVinoSession(model, settings(tmp_path)).run(batch())[0]

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the source model was read again")

    monkeypatch.setattr(ov.Core, "read_model", refuse)
    warm = runtime.OpenVinoSession(model, settings(tmp_path)).run(batch())[0]
    expected = np.maximum(batch() * SCALE, 0)
    np.testing.assert_array_equal(warm, cold)
    np.testing.assert_allclose(warm, expected, rtol=1e-6, atol=0)


def test_a_changed_source_model_gets_a_new_static_ir(tmp_path: Path) -> None:
    model = save_model(tmp_path / "m.xml")
    runtime.OpenVinoSession(model, settings(tmp_path)).run(batch())
    save_model(model, np.float32(-1))
    os.utime(model, ns=(1, 1))  # a rewrite in the same second still differs in size or time
    out = runtime.OpenVinoSession(model, settings(tmp_path)).run(batch())[0]
    np.testing.assert_array_equal(out, np.maximum(-batch(), 0))
