"""The GPU path (issue 11) without a GPU: which ONNX Runtime providers a cuda or tensorrt
session asks for, the ConfigError naming the fix when one is missing, the refusal of a session
that ONNX Runtime quietly moved to the CPU, the GPU batch sizes, and what ``facesearch models``
says. ``onnxruntime.get_available_providers`` and ``InferenceSession`` are faked."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import numpy as np
import onnx
import onnxruntime
import pytest
from onnx import TensorProto, helper

import facesearch.models as models
import facesearch.models.runtime as runtime
from facesearch.cli import main
from facesearch.errors import ConfigError
from facesearch.models import gpu
from facesearch.models.detector import BUCKETS, DetectorConfig, FaceDetector
from facesearch.models.embedder import EmbedderConfig, FaceEmbedder
from facesearch.models.runtime import OrtSession, choose_runtime, open_session, precision_for
from facesearch.settings import Settings

CPU_ONLY = ["AzureExecutionProvider", "CPUExecutionProvider"]
GPU_WHEEL = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]


class FakeOrtSession:
    """Stands in for onnxruntime.InferenceSession: records how it was made and reports
    ``used`` as the providers it runs on."""

    made: ClassVar[list[FakeOrtSession]] = []
    used: ClassVar[list[str]] = []

    def __init__(
        self, path: str, options: Any, providers: list[str], provider_options: Any = None
    ) -> None:
        self.path, self.options = path, options
        self.providers, self.provider_options = providers, provider_options
        FakeOrtSession.made.append(self)

    def get_providers(self) -> list[str]:
        return list(FakeOrtSession.used)

    def get_inputs(self) -> list[Any]:
        return [SimpleNamespace(name="input")]

    def get_outputs(self) -> list[Any]:
        return [SimpleNamespace(name="output")]


@pytest.fixture()
def fake_ort(monkeypatch: pytest.MonkeyPatch) -> Any:
    """fake_ort(available, used): ONNX Runtime with these providers, whose sessions run on
    ``used``. ``preload_dlls`` prints, as onnxruntime-gpu's does when a library is missing."""

    def install(available: list[str], used: list[str]) -> type[FakeOrtSession]:
        FakeOrtSession.made = []
        FakeOrtSession.used = used
        monkeypatch.setattr(onnxruntime, "get_available_providers", lambda: list(available))
        monkeypatch.setattr(onnxruntime, "InferenceSession", FakeOrtSession)
        monkeypatch.setattr(
            onnxruntime,
            "preload_dlls",
            lambda: print("Failed to load libcudnn.so.9"),
            raising=False,
        )
        return FakeOrtSession

    return install


def model_file(tmp_path: Path, shape: list[int | str]) -> Path:
    """A one-node ONNX model whose input ``input`` has ``shape`` (strings: dynamic)."""
    graph = helper.make_graph(
        [helper.make_node("Identity", ["input"], ["output"])],
        "g",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, shape)],
    )
    path = tmp_path / "model.onnx"
    onnx.save(helper.make_model(graph), str(path))
    return path


def on(settings: Settings, runtime_name: str, **more: Any) -> Settings:
    return settings.replace(runtime=runtime_name, **more)


def test_cuda_asks_for_cuda_then_cpu_when_it_is_there(tmp_path: Path) -> None:
    plan = gpu.provider_plan("cuda", GPU_WHEEL, cache_dir=tmp_path)
    assert plan.names == ("CUDAExecutionProvider", "CPUExecutionProvider")
    assert plan.options[0]["device_id"] == "0"
    assert plan.precision == "fp32"


@pytest.mark.parametrize("runtime_name", ["cuda", "tensorrt"])
def test_a_missing_provider_is_a_config_error_naming_the_fix(
    tmp_path: Path, runtime_name: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        gpu.provider_plan(runtime_name, CPU_ONLY, cache_dir=tmp_path)
    message = str(caught.value)
    assert "CUDAExecutionProvider" in message
    assert "pip install '.[gpu]'" in message and "driver" in message
    assert "it has AzureExecutionProvider, CPUExecutionProvider" in message


def test_tensorrt_without_cuda_provider_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="CUDAExecutionProvider"):
        gpu.provider_plan(
            "tensorrt", ["TensorrtExecutionProvider", "CPUExecutionProvider"], cache_dir=tmp_path
        )


@pytest.mark.parametrize(("precision", "fp16"), [("auto", "True"), ("fp32", "False")])
def test_tensorrt_comes_first_with_its_engine_cache_and_fp16_unless_fp32(
    tmp_path: Path, precision: str, fp16: str
) -> None:
    plan = gpu.provider_plan("tensorrt", GPU_WHEEL, cache_dir=tmp_path, precision=precision)
    assert plan.names == (
        "TensorrtExecutionProvider",
        "CUDAExecutionProvider",
        "CPUExecutionProvider",
    )
    trt = plan.options[0]
    assert trt["trt_engine_cache_enable"] == "True"
    assert trt["trt_engine_cache_path"] == str(tmp_path / "tensorrt")
    assert trt["trt_timing_cache_path"] == str(tmp_path / "tensorrt")
    assert trt["trt_fp16_enable"] == fp16
    assert plan.precision == ("fp16" if fp16 == "True" else "fp32")


def test_a_session_made_on_cuda_runs_there(
    fake_settings: Settings, fake_ort: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    made = fake_ort(GPU_WHEEL, ["CUDAExecutionProvider", "CPUExecutionProvider"])
    session = open_session(tmp_path / "m.onnx", on(fake_settings, "cuda"))
    assert isinstance(session, OrtSession) and session.runtime == "cuda"
    (one,) = made.made
    assert one.providers == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert one.options.intra_op_num_threads == 1  # the cores are the decode threads'
    assert one.provider_options == [{"device_id": "0"}, {}]
    assert capsys.readouterr().out == ""  # preload_dlls' print is kept off stdout


def test_a_session_that_fell_back_to_the_cpu_is_refused(
    fake_settings: Settings, fake_ort: Any, tmp_path: Path
) -> None:
    """ONNX Runtime drops CUDA when libcudnn does not load and runs on the CPU."""
    fake_ort(GPU_WHEEL, ["CPUExecutionProvider"])
    with pytest.raises(ConfigError) as caught:
        open_session(tmp_path / "m.onnx", on(fake_settings, "cuda"))
    assert "could not start CUDAExecutionProvider for m.onnx" in str(caught.value)
    assert "runs on CPUExecutionProvider" in str(caught.value)


def test_tensorrt_dropped_for_cuda_is_refused_naming_tensorrt(
    fake_settings: Settings, fake_ort: Any, tmp_path: Path
) -> None:
    fake_ort(GPU_WHEEL, ["CUDAExecutionProvider", "CPUExecutionProvider"])
    path = model_file(tmp_path, ["N", 3, 112, 112])
    with pytest.raises(ConfigError, match="libnvinfer"):
        open_session(path, on(fake_settings, "tensorrt"))


def test_the_cpu_onnxruntime_refuses_cuda_at_model_load(
    fake_settings: Settings, fake_ort: Any, tmp_path: Path
) -> None:
    made = fake_ort(CPU_ONLY, ["CPUExecutionProvider"])
    with pytest.raises(ConfigError, match=r"pip install '\.\[gpu\]'"):
        open_session(tmp_path / "m.onnx", on(fake_settings, "cuda"))
    assert made.made == []  # no session was made to fall back to


def test_tensorrt_gets_one_shape_profile_per_model_and_its_cache_folder(
    fake_settings: Settings, fake_ort: Any, tmp_path: Path
) -> None:
    made = fake_ort(GPU_WHEEL, GPU_WHEEL)
    settings = on(fake_settings, "tensorrt")
    open_session(model_file(tmp_path, ["N", 3, 112, 112]), settings)
    trt = made.made[0].provider_options[0]
    assert trt["trt_profile_min_shapes"] == "input:1x3x112x112"
    assert trt["trt_profile_max_shapes"] == "input:256x3x112x112"
    assert (settings.cache_dir / "tensorrt").is_dir()
    open_session(model_file(tmp_path, ["N", 3, "H", "W"]), settings, "detector")
    trt = made.made[1].provider_options[0]
    assert trt["trt_profile_min_shapes"] == "input:1x3x128x128"
    assert trt["trt_profile_opt_shapes"] == "input:64x3x640x640"
    assert trt["trt_profile_max_shapes"] == "input:64x3x1024x1024"


def test_the_detector_profile_spans_the_detector_canvases() -> None:
    assert (BUCKETS[0], BUCKETS[-1]) == (gpu.CANVAS_MIN, gpu.CANVAS_MAX)
    assert gpu.CANVAS_OPT in BUCKETS


def test_settings_take_cuda_and_tensorrt(fake_settings: Settings) -> None:
    for name in ("cuda", "tensorrt"):
        assert Settings.from_env({"FACESEARCH_RUNTIME": name}).models.runtime == name
    with pytest.raises(ConfigError, match="runtime"):
        Settings.from_env({"FACESEARCH_RUNTIME": "gpu"})


def test_cuda_needs_onnxruntime_installed(
    fake_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtime, "available_runtimes", lambda: ["openvino"])
    with pytest.raises(ConfigError, match="onnxruntime-gpu"):
        choose_runtime(on(fake_settings, "cuda"))
    monkeypatch.setattr(runtime, "available_runtimes", lambda: ["openvino", "onnxruntime"])
    assert choose_runtime(on(fake_settings, "cuda")) == "cuda"
    assert choose_runtime(fake_settings) == "openvino"  # auto never picks a GPU


def test_gpu_precision_is_what_the_provider_runs(fake_settings: Settings, tmp_path: Path) -> None:
    cuda = precision_for(tmp_path / "m.onnx", on(fake_settings, "cuda", precision="bf16"))[0]
    assert (cuda.precision, cuda.reason) == ("fp32", "cuda runs the float32 graph")
    trt = precision_for(tmp_path / "m.onnx", on(fake_settings, "tensorrt"))[0]
    assert trt.precision == "fp16" and "TensorRT" in trt.reason


def test_batch_sizes_per_runtime() -> None:
    assert gpu.embed_batch_size(32, 32, "cuda") == 256
    assert gpu.embed_batch_size(32, 32, "tensorrt") == 256
    assert gpu.embed_batch_size(100, 32, "cuda") == 100  # set by the user: kept
    assert gpu.embed_batch_size(32, 32, "openvino") == 32
    assert gpu.detect_batch_size("cuda") == 64
    assert gpu.detect_batch_size("onnxruntime") == 16
    assert gpu.schedule("cuda").chunk_images == 512
    assert gpu.schedule("openvino").chunk_images == 64


def test_decode_runs_on_every_core_on_a_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gpu.os, "cpu_count", lambda: 16)
    assert gpu.schedule("cuda").decoders == 16
    assert gpu.schedule("openvino").decoders == 2


def test_the_loaded_embedder_batches_256_on_a_gpu(
    fake_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(models, "_runnable", lambda spec, settings: Path("unused.onnx"))
    monkeypatch.setattr(models, "open_session", lambda path, settings: object())
    monkeypatch.setattr(runtime, "available_runtimes", lambda: ["openvino", "onnxruntime"])
    embedder, _ = models.load_embedder(on(fake_settings, "cuda"), name="sface")
    assert embedder.config.batch_size == 256
    embedder, _ = models.load_embedder(fake_settings, name="sface")
    assert embedder.config.batch_size == 32


class ShapeRecorder:
    """A session that records its input shapes and returns zeros of a model's outputs."""

    runtime = "fake"

    def __init__(self, outputs: Any) -> None:
        self.shapes: list[tuple[int, ...]] = []
        self._outputs = outputs

    def run(self, batch: Any) -> list[Any]:
        self.shapes.append(tuple(batch.shape))
        return list(self._outputs(batch))


def test_the_embedder_runs_gpu_batches_in_one_call() -> None:
    session = ShapeRecorder(lambda b: [np.ones((len(b), 128), np.float32)])
    embedder = FaceEmbedder(session, EmbedderConfig((112, 112), 128, batch_size=256))
    out = embedder.embed(np.zeros((300, 112, 112, 3), np.uint8))
    assert out.shape == (300, 128)
    assert session.shapes == [(256, 3, 112, 112), (64, 3, 112, 112)]  # 44 padded to 64


def yunet_zeros(batch: Any) -> list[Any]:
    n, side = batch.shape[0], batch.shape[2]
    cells = [(side // s) ** 2 for s in (8, 16, 32)]
    return (
        [np.zeros((n, c), np.float32) for c in cells] * 2
        + [np.zeros((n, c, 4), np.float32) for c in cells]
        + [np.zeros((n, c, 10), np.float32) for c in cells]
    )


def test_the_detector_batches_same_size_canvases_up_to_its_batch_size() -> None:
    session = ShapeRecorder(yunet_zeros)
    config = DetectorConfig(
        max_side=640, score_threshold=0.7, nms_threshold=0.3, min_face_size=20, batch_size=64
    )
    detector = FaceDetector(session, config)
    assert detector.detect([np.zeros((250, 250, 3), np.uint8)] * 40) == [[]] * 40
    assert session.shapes[0] == (64, 3, 256, 256)  # one call, padded to the bucket of 64


def test_models_names_the_providers(
    fake_settings: Settings,
    fake_ort: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    home = str(fake_settings.home)
    monkeypatch.setenv("FACESEARCH_CACHE_DIR", str(fake_settings.cache_dir))
    monkeypatch.setenv("FACESEARCH_RUNTIME", "cuda")
    fake_ort(GPU_WHEEL, GPU_WHEEL)
    assert main(["--home", home, "models"]) == 0
    out = capsys.readouterr().out
    assert "in use: cuda" in out
    assert "ONNX Runtime providers: CUDAExecutionProvider > CPUExecutionProvider" in out
    fake_ort(CPU_ONLY, CPU_ONLY)
    assert main(["--home", home, "models"]) == 0
    out = capsys.readouterr().out
    assert "ONNX Runtime providers: not available" in out
    assert "lacks (it has AzureExecutionProvider, CPUExecutionProvider): pip install" in out
