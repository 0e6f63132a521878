from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from facesearch.errors import ConfigError, ModelFileError
from facesearch.models import load_embedder
from facesearch.models.registry import ModelRegistry, ModelSpec, locate
from facesearch.settings import Settings


def tiny_embedder(path: Path, dim: int = 16) -> None:
    """A real ONNX model: mean-pool the 112x112 crop, then a fixed linear map to ``dim``."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(3)
    w = rng.normal(size=(3, dim)).astype(np.float32)
    nodes = [
        helper.make_node("GlobalAveragePool", ["input"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat"]),
        helper.make_node("MatMul", ["flat", "w"], ["out"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 112, 112])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["N", dim])],
        [numpy_helper.from_array(w, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))


def write_spec(folder: Path, name: str, **extra: object) -> None:
    digest = hashlib.sha256((folder / f"{name}.onnx").read_bytes()).hexdigest()
    spec = {
        "task": "embedder",
        "family": "arcface",
        "sha256": digest,
        "embedding_dim": 16,
        "mean": [127.5, 127.5, 127.5],
        "std": [127.5, 127.5, 127.5],
        "channel_order": "bgr",
    }
    spec.update(extra)
    (folder / f"{name}.json").write_text(json.dumps(spec))


@pytest.mark.parametrize("runtime", ["onnxruntime", "openvino"])
def test_operator_embedder_plugs_in(tmp_path: Path, runtime: str) -> None:
    tiny_embedder(tmp_path / "tiny.onnx")
    write_spec(tmp_path, "tiny")
    settings = Settings.from_env(
        env={}, models_dir=tmp_path, embedder="tiny", cache_dir=tmp_path / "cache", runtime=runtime
    )
    embedder, spec = load_embedder(settings)
    assert spec.model_id.startswith("tiny:")
    crops = np.random.default_rng(0).integers(0, 255, (3, 112, 112, 3), dtype=np.uint8)
    out = embedder.embed(crops)
    assert out.shape == (3, 16)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)
    # channel order and normalisation from the spec are applied: a single crop must give the
    # same vector alone and inside a batch
    np.testing.assert_allclose(embedder.embed(crops[:1])[0], out[0], atol=1e-5)


def test_digest_mismatch_is_a_clear_error(tmp_path: Path) -> None:
    tiny_embedder(tmp_path / "tiny.onnx")
    write_spec(tmp_path, "tiny", sha256="0" * 64)
    registry = ModelRegistry(Settings.from_env(env={}, models_dir=tmp_path))
    with pytest.raises(ModelFileError, match="expected 0000"):
        locate(registry.get("tiny", "embedder"))


def test_missing_file_names_it(tmp_path: Path) -> None:
    spec = ModelSpec(
        name="x",
        task="embedder",
        family="arcface",
        file=tmp_path / "x.onnx",
        sha256="0" * 64,
        input_size=(112, 112),
        embedding_dim=8,
    )
    with pytest.raises(ModelFileError, match=r"missing: .*x\.onnx"):
        locate(spec)


def test_bad_specs_rejected(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text(json.dumps({"task": "embedder", "sha256": "a" * 64}))
    with pytest.raises(ConfigError, match="embedding_dim"):
        ModelRegistry(Settings.from_env(env={}, models_dir=tmp_path))
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ConfigError, match="JSON"):
        ModelRegistry(Settings.from_env(env={}, models_dir=tmp_path))


def test_builtin_models_verified() -> None:
    registry = ModelRegistry(Settings.from_env(env={}))
    for name, task in (("yunet", "detector"), ("sface", "embedder")):
        assert locate(registry.get(name, task)).is_file()
    with pytest.raises(ConfigError, match="not a detector"):
        registry.get("sface", "detector")
