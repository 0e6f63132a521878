"""The precision table by instruction set, on fake capability sets (no CPU is probed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from facesearch.models.int8 import choose_precision, cpu_flags, cpu_kind

AVX2 = frozenset({"sse4_2", "avx", "avx2", "fma"})
SKYLAKE = AVX2 | {"avx512f", "avx512bw"}
CASCADE = SKYLAKE | {"avx512_vnni"}
ZEN4 = CASCADE | {"avx512_bf16"}
SAPPHIRE = ZEN4 | {"amx_bf16", "amx_int8", "amx_tile"}
ALDER = AVX2 | {"avx_vnni"}


@pytest.mark.parametrize(
    ("flags", "kind", "precision"),
    [
        (SAPPHIRE, "amx", "bf16"),
        (ZEN4, "avx512-vnni", "int8"),
        (CASCADE, "avx512-vnni", "int8"),
        (ALDER, "avx-vnni", "int8"),
        (SKYLAKE, "avx512", "int8"),
        (AVX2, "avx2", "int8"),
        (frozenset({"sse4_2", "avx"}), "baseline", "fp32"),
        (frozenset(), "baseline", "fp32"),
    ],
)
def test_auto_picks_the_fastest_precision_of_the_cpu_kind(
    flags: frozenset[str], kind: str, precision: str
) -> None:
    choice = choose_precision("auto", flags, runtime="openvino", int8_built=True)
    assert (choice.cpu, choice.precision) == (kind, precision)
    assert cpu_kind(flags) == kind
    assert choice.reason


@pytest.mark.parametrize(
    ("flags", "precision"),
    [(SAPPHIRE, "bf16"), (ZEN4, "bf16"), (CASCADE, "fp32"), (AVX2, "fp32"), (frozenset(), "fp32")],
)
def test_auto_keeps_the_detector_at_the_best_float_precision(
    flags: frozenset[str], precision: str
) -> None:
    choice = choose_precision("auto", flags, runtime="openvino", int8_built=True, task="detector")
    assert choice.precision == precision


@pytest.mark.parametrize(("flags", "fallback"), [(ZEN4, "bf16"), (CASCADE, "fp32"), (AVX2, "fp32")])
def test_auto_without_an_int8_build_falls_back_to_the_best_float_and_says_why(
    flags: frozenset[str], fallback: str
) -> None:
    choice = choose_precision("auto", flags, runtime="openvino", int8_built=False)
    assert choice.precision == fallback
    assert "facesearch models quantize" in choice.reason


@pytest.mark.parametrize("asked", ["auto", "bf16", "int8"])
def test_onnx_runtime_runs_float32_whatever_the_cpu_and_the_setting(asked: str) -> None:
    choice = choose_precision(asked, SAPPHIRE, runtime="onnxruntime", int8_built=True)
    assert choice.precision == "fp32" and "onnxruntime" in choice.reason


@pytest.mark.parametrize("asked", ["fp32", "bf16", "int8"])
def test_an_explicit_precision_is_kept(asked: str) -> None:
    assert choose_precision(asked, AVX2, runtime="openvino", int8_built=True).precision == asked


def test_cpu_flags_reads_the_first_flags_line(tmp_path: Path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text("model name\t: X\nflags\t\t: fpu avx2 amx_bf16\n\nflags\t\t: fpu\n")
    assert cpu_flags(info) == frozenset({"fpu", "avx2", "amx_bf16"})
    assert cpu_flags(tmp_path / "missing") == frozenset()
