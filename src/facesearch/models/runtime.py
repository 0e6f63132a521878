"""Inference runtimes behind one small protocol.

OpenVINO is the fast path on x86 CPUs: with ``INFERENCE_PRECISION_HINT=bf16`` it runs on
AMX/AVX512-BF16 units where the CPU has them (cosine to fp32 output >= 0.999). ONNX Runtime
is the portable fallback. ``runtime=auto`` picks OpenVINO when it imports, else ONNX Runtime.
``runtime=cuda`` and ``=tensorrt`` run ONNX Runtime on an NVIDIA GPU (``models.gpu``); they are
never chosen by ``auto``.
On OpenVINO a model runs at the precision ``precision_for`` picks: an int8 build of the model
(``models.int8``, made by ``facesearch models quantize``) where the CPU runs int8 fastest.

Sessions compile one static shape at a time (callers bucket their batches, so only a few
shapes ever exist) and OpenVINO's compiled blobs are cached on disk under
``cache_dir/openvino``, so a second process starts without recompiling. Each shape is first
saved as a static IR file there (``static_ir``) and compiled from its path: on a warm start
OpenVINO then finds the blob by that path alone, without reading, reshaping or hashing the
source graph (half the start-up of a fresh ``facesearch embed``).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import logging
import os
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from facesearch.errors import ConfigError, ModelError
from facesearch.models.gpu import (
    INSTALL_HINT,
    ProviderPlan,
    check_session,
    gpu_precision,
    is_gpu,
    provider_plan,
    trt_profiles,
)
from facesearch.models.int8 import (
    PrecisionChoice,
    choose_precision,
    cpu_flags,
    cpu_kind,
    int8_path,
    read_provenance,
)
from facesearch.models.int8.choice import BF16_FLAGS, float_precision
from facesearch.settings import Settings

log = logging.getLogger(__name__)

# OpenVINO's Python bindings run a one-time C++ static initialisation on a process's first
# inference that calls back into Python. Two threads doing their first inference at once can
# deadlock there (one holds the static's guard and waits for the GIL, the other holds the GIL
# and waits for the guard): a fresh `facesearch serve` froze this way. Every first run of a
# compiled shape therefore goes through this one process-wide lock.
_FIRST_RUN = threading.Lock()

Array = npt.NDArray[np.float32]


class InferenceSession(Protocol):
    """Runs one model on one input tensor and returns its outputs in declared order."""

    runtime: str

    def run(self, batch: Array) -> list[Array]: ...


def available_runtimes() -> list[str]:
    return [
        name
        for name, module in (("openvino", "openvino"), ("onnxruntime", "onnxruntime"))
        if importlib.util.find_spec(module) is not None
    ]


def onnxruntime_providers() -> list[str] | None:
    """ONNX Runtime's available execution providers; None when it is not installed."""
    if importlib.util.find_spec("onnxruntime") is None:
        return None
    import onnxruntime as ort

    return list(ort.get_available_providers())


def choose_runtime(settings: Settings) -> str:
    have = available_runtimes()
    if settings.models.runtime == "auto":
        if not have:
            raise ModelError("no inference runtime installed: pip install openvino onnxruntime")
        return have[0]
    if is_gpu(settings.models.runtime):
        if "onnxruntime" not in have:
            raise ConfigError(
                f"runtime {settings.models.runtime!r} needs onnxruntime-gpu: {INSTALL_HINT}"
            )
        return settings.models.runtime
    if settings.models.runtime not in have:
        raise ConfigError(f"runtime {settings.models.runtime!r} is not installed")
    return settings.models.runtime


def precision_for(
    model_path: Path, settings: Settings, task: str = "embedder"
) -> tuple[PrecisionChoice, Path]:
    """The precision ``model_path`` (an embedder or a detector: ``task``) runs at under these
    settings, and the file run for it (its int8 build, or ``model_path`` itself)."""
    flags = cpu_flags()
    runtime = choose_runtime(settings)
    if is_gpu(runtime):
        precision, why = gpu_precision(settings.models.precision, runtime)
        return PrecisionChoice(precision, why, cpu_kind(flags)), model_path
    candidate = int8_path(model_path)
    built = read_provenance(candidate) is not None
    requested = settings.models.precision
    choice = choose_precision(requested, flags, runtime=runtime, int8_built=built, task=task)
    if choice.precision != "int8":
        return choice, model_path
    if built:
        return choice, candidate
    fallback = float_precision(flags)
    reason = f"int8 asked for, but no int8 build; {fallback.reason}"
    return replace(fallback, reason=reason), model_path


def open_session(model_path: Path, settings: Settings, task: str = "embedder") -> InferenceSession:
    runtime = choose_runtime(settings)
    if runtime == "openvino":
        return OpenVinoSession(model_path, settings, task)
    precision, why = "fp32", f"{runtime} runs the float32 graph"
    if is_gpu(runtime):
        precision, why = gpu_precision(settings.models.precision, runtime)
    if settings.models.precision not in ("auto", "fp32", precision):
        log.warning("%s runs at %s: %s", model_path.name, precision, why)
    return OrtSession(model_path, settings, task, runtime=runtime)


class OrtSession:
    """ONNX Runtime on the CPU (``runtime="onnxruntime"``) or on a GPU (``cuda``,
    ``tensorrt``: the session is refused unless that provider really runs it)."""

    def __init__(
        self,
        model_path: Path,
        settings: Settings,
        task: str = "embedder",
        *,
        runtime: str = "onnxruntime",
    ) -> None:
        import onnxruntime as ort

        self.runtime = runtime
        options = ort.SessionOptions()
        if settings.models.threads:
            options.intra_op_num_threads = settings.models.threads
        options.log_severity_level = 3
        plan = self.plan = _gpu_plan(ort, model_path, settings, task, runtime)
        if plan is not None and not settings.models.threads:
            # on a GPU the CPU provider only runs a few shape nodes: one thread that does not
            # spin leaves the cores to the decode threads (reasoned, not measured)
            options.intra_op_num_threads = 1
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        providers = ["CPUExecutionProvider"] if plan is None else list(plan.names)
        provider_options = [{}] if plan is None else [dict(o) for o in plan.options]
        try:
            self._session = ort.InferenceSession(
                str(model_path), options, providers=providers, provider_options=provider_options
            )
        except Exception as exc:
            if plan is not None:  # a GPU that is there but fails (no device, out of memory)
                raise ConfigError(f"{runtime} cannot load {model_path.name}: {exc}") from exc
            raise ModelError(f"ONNX Runtime cannot load {model_path}: {exc}") from exc
        if plan is not None:
            check_session(plan, self._session.get_providers(), model_path)
        self._input = self._session.get_inputs()[0].name
        self._outputs = [o.name for o in self._session.get_outputs()]

    def run(self, batch: Array) -> list[Array]:
        result = self._session.run(self._outputs, {self._input: batch})
        return [np.asarray(r, dtype=np.float32) for r in result]


def _gpu_plan(
    ort: Any, model_path: Path, settings: Settings, task: str, runtime: str
) -> ProviderPlan | None:
    """The providers of a GPU runtime (None on the CPU); ConfigError when one is missing.
    CUDA libraries installed by pip (``onnxruntime-gpu[cuda,cudnn]``) are loaded first."""
    if not is_gpu(runtime):
        return None
    available = ort.get_available_providers()
    profiles = None
    if runtime == "tensorrt" and "TensorrtExecutionProvider" in available:
        profiles = trt_profiles(*_first_input(model_path), task)
    plan = provider_plan(
        runtime,
        available,
        cache_dir=settings.cache_dir,
        precision=settings.models.precision,
        profiles=profiles,
    )
    if runtime == "tensorrt":
        (settings.cache_dir / "tensorrt").mkdir(parents=True, exist_ok=True)
    preload = getattr(ort, "preload_dlls", None)
    if preload is not None:  # onnxruntime-gpu >= 1.21; it prints what it cannot find
        said = io.StringIO()
        try:
            with contextlib.redirect_stdout(said):
                preload()
        except Exception as exc:
            log.debug("onnxruntime.preload_dlls: %s", exc)
        if said.getvalue().strip():
            log.debug("onnxruntime.preload_dlls: %s", said.getvalue().strip())
    return plan


def _first_input(model_path: Path) -> tuple[str, list[int | str | None]]:
    """The name and shape (ints fixed, names dynamic) of a model's first input."""
    import onnx

    graph = onnx.load(str(model_path), load_external_data=False).graph
    first = graph.input[0]
    dims = first.type.tensor_type.shape.dim
    return first.name, [d.dim_value if d.HasField("dim_value") else d.dim_param for d in dims]


class OpenVinoSession:
    runtime = "openvino"

    def __init__(self, model_path: Path, settings: Settings, task: str = "embedder") -> None:
        import openvino as ov

        self._core = ov.Core()
        self._cache = settings.cache_dir / "openvino"
        self._cache.mkdir(parents=True, exist_ok=True)
        self._core.set_property({"CACHE_DIR": str(self._cache)})
        # Throughput mode: one stream per core, each single-threaded. On small CNNs this beats
        # one request spread over every core (measured 147 vs 92 faces/s for SFace on 2 cores).
        self._streams = settings.models.threads or os.cpu_count() or 1
        self._config: dict[str, Any] = {
            "PERFORMANCE_HINT": "THROUGHPUT",
            "NUM_STREAMS": self._streams,
        }
        if settings.models.threads:  # that many threads in all (else a stream may take more)
            self._config["INFERENCE_NUM_THREADS"] = settings.models.threads
        self.choice, self._path = precision_for(model_path, settings, task)
        self.precision = self.choice.precision
        if settings.models.precision not in ("auto", self.precision):
            log.warning("%s runs at %s: %s", model_path.name, self.precision, self.choice.reason)
        # an int8 graph's remaining float layers run in bf16 where the CPU has it natively
        native_bf16 = bool(cpu_flags() & BF16_FLAGS)
        bf16 = self.precision == "bf16" or (self.precision == "int8" and native_bf16)
        self._config["INFERENCE_PRECISION_HINT"] = "bf16" if bf16 else "f32"
        self._compiled: dict[tuple[int, ...], Any] = {}
        self._warm: set[tuple[int, ...]] = set()
        self._idle: dict[tuple[int, ...], list[Any]] = {}  # infer requests free for reuse
        self._lock = threading.Lock()

    def _compiled_for(self, shape: tuple[int, ...]) -> Any:
        with self._lock:
            compiled = self._compiled.get(shape)
            if compiled is None:
                try:
                    compiled = self._core.compile_model(
                        str(self._static_ir(shape)), "CPU", self._config
                    )
                except Exception as exc:
                    raise ModelError(f"OpenVINO cannot compile {self._path}: {exc}") from exc
                self._compiled[shape] = compiled
            return compiled

    def _idle_request(self, shape: tuple[int, ...], compiled: Any) -> Any:
        """An infer request of ``compiled`` that no thread is using: one given back by an
        earlier run, or a new one (creating one per run cost ~0.1 ms in Python)."""
        with self._lock:
            idle = self._idle.get(shape)
            if idle:
                return idle.pop()
        return compiled.create_infer_request()

    def _static_ir(self, shape: tuple[int, ...]) -> Path:
        """The model reshaped to ``shape``, as an IR file under the cache (written once).

        Its name hashes the source file's name, size and modification time and the shape, so
        a rebuilt model (``models quantize``) gets a new file and so a new compiled blob.
        Weights are saved as they are (no fp16 compression): the same graph, bit for bit.
        """
        import openvino as ov

        sources = [self._path, self._path.with_suffix(".bin")]
        stats = [(p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in sources if p.exists()]
        key = hashlib.sha256(repr((stats, shape)).encode()).hexdigest()[:16]
        target = self._cache / "ir" / f"{self._path.stem}-{key}.xml"
        if target.exists() and target.with_suffix(".bin").exists():
            return target
        model = self._core.read_model(str(self._path))
        model.reshape(list(shape))
        target.parent.mkdir(parents=True, exist_ok=True)
        # written under a private name, then renamed (.bin first): another process never
        # sees a half-written file under the final name
        part = target.with_name(f".{target.stem}.{os.getpid()}.{threading.get_ident()}.xml")
        ov.save_model(model, str(part), compress_to_fp16=False)
        os.replace(part.with_suffix(".bin"), target.with_suffix(".bin"))
        os.replace(part, target)
        return target

    def run(self, batch: Array) -> list[Array]:
        """Run one batch; the first run of each input shape is serialised process-wide."""
        shape = tuple(batch.shape)
        if shape in self._warm:
            return self._run(batch)
        with _FIRST_RUN:
            outputs = self._run(batch)
            self._warm.add(shape)
        return outputs

    def _run(self, batch: Array) -> list[Array]:
        """Split the batch evenly over the streams and run the parts concurrently."""
        n = batch.shape[0]
        parts = self._streams if n >= self._streams and n % self._streams == 0 else 1
        size = n // parts
        requests = []
        done = False
        try:
            for start in range(0, n, size):
                # a slice of whole rows of a C-contiguous batch: contiguous, no copy; the
                # request reads it in place (share_inputs), and it stays referenced here
                chunk = np.ascontiguousarray(batch[start : start + size])
                shape = tuple(chunk.shape)
                compiled = self._compiled_for(shape)
                request = self._idle_request(shape, compiled)
                requests.append((shape, compiled, request, chunk))
                request.start_async({0: chunk}, share_inputs=True)
            outputs: list[list[Array]] = []
            for _, compiled, request, _ in requests:
                request.wait()
                outputs.append(
                    [
                        np.array(request.get_output_tensor(i).data, dtype=np.float32)
                        for i in range(len(compiled.outputs))
                    ]
                )
            done = True
        finally:
            for shape, _, request, _ in requests:
                if done:  # every request has been waited for: free for the next run
                    with self._lock:
                        self._idle.setdefault(shape, []).append(request)
                else:  # never leave one reading a batch that is about to be freed
                    with contextlib.suppress(Exception):
                        request.wait()
        if parts == 1:
            return outputs[0]
        # Outputs either carry the batch in dim 0, or fold it into dim 1 (YuNet's (1, N*A, k));
        # both are image-major in memory, so concatenating on that axis keeps the order.
        merged = []
        for k in range(len(outputs[0])):
            pieces = [o[k] for o in outputs]
            axis = 0 if pieces[0].shape[0] == size else 1
            merged.append(np.concatenate(pieces, axis=axis))
        return merged
