"""Where int8 builds live, when one counts as built, and what ``precision_for`` runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from facesearch.models import runtime
from facesearch.models.int8.files import (
    QUANTIZE_VERSION,
    Provenance,
    int8_path,
    provenance_path,
    read_provenance,
    write_provenance,
)
from facesearch.settings import Settings

AVX2 = frozenset({"avx2"})
RECORD = Provenance("sface", "a" * 64, "b" * 64, "LFW people absent from pairs.txt", 300, "3", "26")


def build(prepared: Path) -> Path:
    target = int8_path(prepared)
    target.write_text("<net/>")
    target.with_suffix(".bin").write_bytes(b"\0")
    write_provenance(target, RECORD)
    return target


def test_the_int8_file_is_named_after_the_prepared_graph(tmp_path: Path) -> None:
    one = int8_path(tmp_path / "sface-fb143eea07838aa5-v2.onnx")
    other = int8_path(tmp_path / "sface-0000000000000000-v2.onnx")
    assert one.parent == tmp_path and one.suffix == ".xml" and one != other
    assert one.name.startswith("sface-fb143eea07838aa5-v2-int8")
    assert provenance_path(one) == one.with_suffix(".json")


def test_a_build_counts_only_when_ir_pair_and_provenance_are_there(tmp_path: Path) -> None:
    target = build(tmp_path / "m-v2.onnx")
    assert read_provenance(target) == RECORD
    saved = json.loads(provenance_path(target).read_text())
    assert saved["source_sha256"] == "a" * 64 and saved["nncf_version"] == "3"
    target.with_suffix(".bin").unlink()
    assert read_provenance(target) is None


@pytest.mark.parametrize("damage", ["garbage", "old recipe", "missing"])
def test_a_damaged_or_stale_provenance_means_not_built(tmp_path: Path, damage: str) -> None:
    target = build(tmp_path / "m-v2.onnx")
    record = provenance_path(target)
    if damage == "garbage":
        record.write_text("{not json")
    elif damage == "old recipe":
        raw = json.loads(record.read_text())
        record.write_text(json.dumps({**raw, "quantize_version": QUANTIZE_VERSION - 1}))
    else:
        record.unlink()
    assert read_provenance(target) is None


def settings(tmp_path: Path, precision: str, run: str = "openvino") -> Settings:
    return Settings(cache_dir=tmp_path, home=tmp_path / "home").replace(
        runtime=run, precision=precision
    )


@pytest.fixture
def avx2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "cpu_flags", lambda: AVX2)


@pytest.mark.usefixtures("avx2")
def test_precision_for_runs_the_int8_build_only_once_it_is_built(tmp_path: Path) -> None:
    prepared = tmp_path / "m-v2.onnx"
    choice, path = runtime.precision_for(prepared, settings(tmp_path, "auto"))
    assert (choice.precision, path) == ("fp32", prepared)
    target = build(prepared)
    choice, path = runtime.precision_for(prepared, settings(tmp_path, "auto"))
    assert (choice.precision, path) == ("int8", target)


@pytest.mark.usefixtures("avx2")
@pytest.mark.parametrize("run", ["openvino", "onnxruntime"])
def test_int8_asked_for_without_a_runnable_build_runs_float_and_says_why(
    tmp_path: Path, run: str
) -> None:
    prepared = tmp_path / "m-v2.onnx"
    if run == "onnxruntime":
        build(prepared)  # an OpenVINO IR: ONNX Runtime cannot run it
    choice, path = runtime.precision_for(prepared, settings(tmp_path, "int8", run))
    assert (choice.precision, path) == ("fp32", prepared)
    why = "no int8 build" if run == "openvino" else "onnxruntime runs the float32 graph"
    assert why in choice.reason


def test_onnx_runtime_asked_for_int8_reports_float32_even_where_bf16_is_native(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtime, "cpu_flags", lambda: frozenset({"avx2", "amx_bf16"}))
    prepared = tmp_path / "m-v2.onnx"
    build(prepared)
    choice, path = runtime.precision_for(prepared, settings(tmp_path, "int8", "onnxruntime"))
    assert (choice.precision, path) == ("fp32", prepared)
