"""Which precision a model runs at on this CPU: a table by instruction set. Pure but for
``cpu_flags``.

OpenVINO's CPU plugin runs int8 (a quantised graph) on VNNI dot-product units (AVX-512 VNNI,
AVX-VNNI) and AMX tiles, and on AVX2 through 8-bit multiply-adds; bf16 runs natively only on
AVX512-BF16/AMX (elsewhere it is emulated, slower than fp32). The table below
is what measured fastest (benchmarks/precision.py; README "Precision by CPU"); ``auto``
falls back to the best float precision when a model has no int8 build (``facesearch models
quantize``) or runs on ONNX Runtime, which runs the float32 graph only.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

# kind of CPU -> (embedder's precision, detector's precision, why); first matching row wins;
# "float" is the best float precision of the CPU (``float_precision``). Measured on one core
# of an AMX Xeon, best of interleaved rounds (README "Precision by CPU"): with AMX, bf16 beats
# int8 (SFace 1.25x, YuNet 1.35x). Below AMX the kinds were emulated on that CPU by capping
# oneDNN (ONEDNN_MAX_CPU_ISA): SFace int8 against fp32 1.8-2.2x (VNNI), 1.1x (AVX-512),
# 1.3-1.45x (AVX2); YuNet int8 0.87-0.93x fp32 there, so the detector stays float.
KINDS: tuple[tuple[str, frozenset[str], str, str, str], ...] = (
    ("amx", frozenset({"amx_bf16"}), "bf16", "bf16", "AMX bf16 tiles: bf16 measured fastest"),
    ("avx512-vnni", frozenset({"avx512_vnni"}), "int8", "float", "AVX-512 VNNI int8 dot products"),
    ("avx-vnni", frozenset({"avx_vnni"}), "int8", "float", "AVX-VNNI int8 dot products"),
    ("avx512", frozenset({"avx512bw"}), "int8", "float", "AVX-512BW 8-bit multiply-adds"),
    ("avx2", frozenset({"avx2"}), "int8", "float", "AVX2 8-bit multiply-adds"),
)
BF16_FLAGS = frozenset({"amx_bf16", "avx512_bf16"})
PRECISIONS = ("fp32", "bf16", "int8")


@dataclass(frozen=True)
class PrecisionChoice:
    precision: str  # fp32 | bf16 | int8
    reason: str
    cpu: str = ""  # the CPU kind it was chosen for


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The instruction-set flags the kernel reports for the first CPU (empty when unknown:
    not Linux, or no flags line)."""
    try:
        with cpuinfo.open() as fh:
            for line in fh:
                if line.startswith("flags"):
                    return frozenset(line.partition(":")[2].split())
    except OSError:
        pass
    return frozenset()


def cpu_kind(flags: frozenset[str]) -> str:
    """The row of the table this CPU falls in: amx, avx512-vnni, avx-vnni, avx512, avx2, or
    baseline."""
    return next((row[0] for row in KINDS if row[1] <= flags), "baseline")


def float_precision(flags: frozenset[str]) -> PrecisionChoice:
    """The fastest float precision: bf16 where the CPU computes it natively, else fp32."""
    kind = cpu_kind(flags)
    if flags & BF16_FLAGS:
        return PrecisionChoice(
            "bf16", "native bf16 (" + ", ".join(sorted(flags & BF16_FLAGS)) + ")", kind
        )
    return PrecisionChoice("fp32", "no native bf16 on this CPU", kind)


def choose_precision(
    requested: str,
    flags: frozenset[str],
    *,
    runtime: str,
    int8_built: bool,
    task: str = "embedder",
) -> PrecisionChoice:
    """The precision a ``task`` model (embedder or detector) runs at. ``requested`` is the
    setting (auto, fp32, bf16, int8). Only OpenVINO has precisions: ONNX Runtime runs
    float32. On OpenVINO an explicit precision is kept as asked (``int8`` is checked by the
    caller: it needs a built model), ``auto`` follows the table."""
    kind = cpu_kind(flags)
    if runtime != "openvino":
        return PrecisionChoice("fp32", f"{runtime} runs the float32 graph", kind)
    if requested != "auto":
        return PrecisionChoice(requested, "set by FACESEARCH_PRECISION", kind)
    row = next((r for r in KINDS if r[0] == kind), None)
    if row is None:
        return PrecisionChoice("fp32", "no AVX2 or better: float32", kind)
    fastest = row[3] if task == "detector" else row[2]
    why = row[4]
    if fastest == "float":
        best = float_precision(flags)
        return replace(best, reason=f"int8 detection is no faster here; {best.reason}")
    if fastest == "int8" and not int8_built:
        fallback = float_precision(flags)
        return PrecisionChoice(
            fallback.precision,
            f"int8 would be fastest ({why}) but this model has no int8 build "
            f"('facesearch models quantize' builds the detector's and embedder's); "
            f"{fallback.reason}",
            kind,
        )
    return PrecisionChoice(fastest, why, kind)
