"""The GPU path: ONNX Runtime's CUDA and TensorRT execution providers, and GPU batch sizes.

``FACESEARCH_RUNTIME=cuda`` runs the models on ONNX Runtime with
``["CUDAExecutionProvider", "CPUExecutionProvider"]`` (the CPU provider only takes the nodes
CUDA has no kernel for); ``=tensorrt`` puts ``TensorrtExecutionProvider`` first, with its
engines cached under ``cache_dir/tensorrt`` (an engine build takes seconds to minutes; a
second process finds it there). Both need ``onnxruntime-gpu`` (``pip install '.[gpu]'``) and
an NVIDIA driver. A provider that is not there is a ``ConfigError`` at model load, never a
silent fall back to the CPU: ``provider_plan`` checks ONNX Runtime's available providers
before a session is made, and ``check_session`` checks the session it made, since ONNX Runtime
falls back to the CPU on its own (with only a log line) when the CUDA libraries do not load.

Precision: CUDA runs the float32 graph. TensorRT builds fp16 kernels where they are faster
(``precision=auto``; ``fp32`` keeps it to float32). The GPU batch sizes below were chosen by
reasoning, not measured: 256 crops of 112x112 are 38 MB of float32 input, large enough to fill
an H100/H200-class GPU with SFace's small convolutions and small against its memory; 64
detector canvases of 640x640 are 315 MB. Shapes stay bucketed (powers of two), so TensorRT
builds one engine per model over one profile of shapes (see ``trt_profiles``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from facesearch.errors import ConfigError

GPU_RUNTIMES = ("cuda", "tensorrt")
PROVIDER = {"cuda": "CUDAExecutionProvider", "tensorrt": "TensorrtExecutionProvider"}
CPU_PROVIDER = "CPUExecutionProvider"
INSTALL_HINT = (
    "pip install '.[gpu]', then pip uninstall -y onnxruntime and pip install "
    "--force-reinstall --no-deps onnxruntime-gpu (the CPU package and onnxruntime-gpu install "
    "the same module), and an NVIDIA driver for the CUDA version onnxruntime-gpu was built for"
)
TENSORRT_HINT = "TensorRT 10's libraries (libnvinfer.so.10: pip install tensorrt)"

GPU_EMBED_BATCH = 256  # unmeasured: see the module docstring
GPU_DETECT_BATCH = 64  # unmeasured
CPU_DETECT_BATCH = 16  # the CPU batch detector.py always used
# detector canvas sides (detector.BUCKETS' first and last; a test keeps them equal)
CANVAS_MIN, CANVAS_OPT, CANVAS_MAX = 128, 640, 1024


def is_gpu(runtime: str) -> bool:
    return runtime in GPU_RUNTIMES


@dataclass(frozen=True)
class ProviderPlan:
    """The ONNX Runtime providers a session is made with, best first, with their options."""

    runtime: str
    names: tuple[str, ...]
    options: tuple[Mapping[str, str], ...]
    precision: str

    @property
    def wanted(self) -> str:
        """The provider that must run the model (the first)."""
        return self.names[0]


def missing_providers(runtime: str, available: Sequence[str]) -> list[str]:
    """The providers ``runtime`` needs that this ONNX Runtime lacks."""
    needed = [PROVIDER["cuda"]] if runtime == "cuda" else [PROVIDER["tensorrt"], PROVIDER["cuda"]]
    return [p for p in needed if p not in available]


def gpu_precision(requested: str, runtime: str) -> tuple[str, str]:
    """(precision, why) a model runs at on a GPU runtime for the precision setting."""
    if runtime == "cuda":
        return "fp32", "cuda runs the float32 graph"
    if requested == "fp32":
        return "fp32", "TensorRT at float32 (set by FACESEARCH_PRECISION)"
    why = "TensorRT builds fp16 kernels where faster, float32 elsewhere"
    if requested != "auto":
        why += f" ({requested} is not built for TensorRT)"
    return "fp16", why


def provider_plan(
    runtime: str,
    available: Sequence[str],
    *,
    cache_dir: Path,
    precision: str = "auto",
    profiles: Mapping[str, str] | None = None,
) -> ProviderPlan:
    """The providers for ``runtime`` (cuda or tensorrt), given ONNX Runtime's
    ``get_available_providers()``; a ``ConfigError`` naming the fix when one is missing.
    ``profiles``: TensorRT's ``trt_profile_*_shapes`` options (``trt_profiles``)."""
    if not is_gpu(runtime):
        raise ValueError(f"{runtime!r} is not a GPU runtime")
    missing = missing_providers(runtime, available)
    if missing:
        raise ConfigError(
            f"FACESEARCH_RUNTIME={runtime} needs ONNX Runtime's {', '.join(missing)}, which "
            f"this onnxruntime lacks (it has {', '.join(available) or 'none'}): {INSTALL_HINT}"
        )
    cuda: dict[str, str] = {"device_id": "0"}  # the first visible GPU: CUDA_VISIBLE_DEVICES picks
    run_at, _ = gpu_precision(precision, runtime)
    if runtime == "cuda":
        return ProviderPlan(runtime, (PROVIDER["cuda"], CPU_PROVIDER), (cuda, {}), run_at)
    engines = cache_dir / "tensorrt"
    trt = {
        "device_id": cuda["device_id"],
        "trt_engine_cache_enable": "True",
        "trt_engine_cache_path": str(engines),
        "trt_timing_cache_enable": "True",
        "trt_timing_cache_path": str(engines),
        "trt_fp16_enable": "True" if run_at == "fp16" else "False",
        **(profiles or {}),
    }
    names = (PROVIDER["tensorrt"], PROVIDER["cuda"], CPU_PROVIDER)
    return ProviderPlan(runtime, names, (trt, cuda, {}), run_at)


def check_session(plan: ProviderPlan, used: Sequence[str], model: Path) -> None:
    """Refuse a session that does not run on the provider asked for: ONNX Runtime drops a
    provider whose libraries do not load (CUDA, cuDNN, TensorRT) and runs on the CPU."""
    if plan.wanted in used:
        return
    hint = TENSORRT_HINT if plan.runtime == "tensorrt" else INSTALL_HINT
    raise ConfigError(
        f"ONNX Runtime could not start {plan.wanted} for {model.name} (the session runs on "
        f"{', '.join(used) or 'nothing'}): its GPU libraries did not load or no GPU is "
        f"visible; check nvidia-smi and {hint}"
    )


def trt_profiles(input_name: str, shape: Sequence[int | str | None], task: str) -> dict[str, str]:
    """TensorRT shape profiles for a model input of ``shape`` (ints fixed, anything else
    dynamic): batch 1 up to the GPU batch; a detector's canvas 128 to 1024 (optimised at 640).
    One profile keeps TensorRT to one engine instead of one per new shape."""
    batch = GPU_DETECT_BATCH if task == "detector" else GPU_EMBED_BATCH
    low, opt, high = [], [], []
    for axis, dim in enumerate(shape):
        if isinstance(dim, int) and dim > 0:
            low.append(dim)
            opt.append(dim)
            high.append(dim)
        elif axis == 0:
            low.append(1)
            opt.append(batch)
            high.append(batch)
        else:
            low.append(CANVAS_MIN)
            opt.append(CANVAS_OPT)
            high.append(CANVAS_MAX)

    def spec(dims: list[int]) -> str:
        return f"{input_name}:{'x'.join(map(str, dims))}"

    return {
        "trt_profile_min_shapes": spec(low),
        "trt_profile_opt_shapes": spec(opt),
        "trt_profile_max_shapes": spec(high),
    }


def embed_batch_size(setting: int, default: int, runtime: str) -> int:
    """Faces per embedder call: the ``batch_size`` setting, except that on a GPU runtime the
    default (``default``) becomes ``GPU_EMBED_BATCH``."""
    return GPU_EMBED_BATCH if is_gpu(runtime) and setting == default else setting


def detect_batch_size(runtime: str) -> int:
    """Same-size canvases per detector call."""
    return GPU_DETECT_BATCH if is_gpu(runtime) else CPU_DETECT_BATCH


@dataclass(frozen=True)
class Schedule:
    """How ``FacePipeline.run`` spreads its work: images are taken in chunks (at most
    ``chunk_images`` images and ``chunk_pixels`` decoded pixels, read from the headers; one
    image always fits), decoded on ``decoders`` threads, and ``analysts`` chunks are analysed
    at once (detect, align, embed) while the next one decodes, so the Python work of one chunk
    (canvases, alignment, box decoding) overlaps another's inference. At most ``analysts`` + 1
    chunks are held decoded at once."""

    chunk_images: int
    chunk_pixels: int
    analysts: int
    decoders: int


# On a CPU: 3 chunks of 64 images analysed at once. Measured on the 2-core AMX Xeon, 1,000 LFW
# images, 4 interleaved rounds: 1 chunk at a time 162 images/s at 1.52 cores busy; 2, 3 and 4
# at once 221, 224 and 229 images/s at 1.76, 1.88 and 1.92 cores.
# 48 MP a chunk: four 12-megapixel phone photos, 144 MB of pixels; 4 chunks held, 576 MB.
CPU_SCHEDULE = Schedule(chunk_images=64, chunk_pixels=48_000_000, analysts=3, decoders=2)
# On a GPU: 512 images a chunk (two full embedder batches of faces), 4 at once, every core
# decoding (unmeasured: see the module docstring).
GPU_SCHEDULE = Schedule(chunk_images=512, chunk_pixels=256_000_000, analysts=4, decoders=2)


def schedule(runtime: str) -> Schedule:
    """The pipeline's schedule on ``runtime``: on a GPU runtime every core decodes (and aligns)
    while the GPU runs."""
    if not is_gpu(runtime):
        return CPU_SCHEDULE
    return replace(GPU_SCHEDULE, decoders=max(GPU_SCHEDULE.decoders, os.cpu_count() or 1))


@dataclass(frozen=True)
class ProviderStatus:
    """What ``facesearch models`` says about the GPU path."""

    runtime: str
    providers: tuple[str, ...]  # the plan's, best first; empty when not usable
    available: tuple[str, ...]  # ONNX Runtime's get_available_providers()
    usable: bool
    reason: str


def provider_status(
    runtime: str, available: Sequence[str] | None, cache_dir: Path
) -> ProviderStatus:
    """Whether ``runtime``'s providers are there (``available``: None when onnxruntime does
    not import). Availability only: whether the libraries load shows at model load."""
    if available is None:
        return ProviderStatus(
            runtime, (), (), False, f"onnxruntime is not installed: {INSTALL_HINT}"
        )
    found = tuple(available)
    if not is_gpu(runtime):
        gpu = [p for p in (PROVIDER["tensorrt"], PROVIDER["cuda"]) if p in found]
        why = f"CPU runtime; GPU providers here: {', '.join(gpu) or 'none'}"
        return ProviderStatus(runtime, (CPU_PROVIDER,), found, True, why)
    try:
        plan = provider_plan(runtime, found, cache_dir=cache_dir)
    except ConfigError as exc:
        return ProviderStatus(runtime, (), found, False, str(exc))
    why = f"FACESEARCH_RUNTIME={runtime}; checked again when a model loads"
    return ProviderStatus(runtime, plan.names, found, True, why)
