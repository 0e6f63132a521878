"""The ONNX graph built from parsed dlib layers: shapes, dlib's padding and add_prev rules,
checked against a plain numpy reading of dlib's semantics on tiny networks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from tests.unit.models.test_dlib_format import tiny_network

from facesearch.errors import ModelError
from facesearch.models.dlib_format import Layer, Network, parse_network
from facesearch.models.dlib_resnet import build_onnx, convert, converted_path

A = npt.NDArray[np.float64]


def conv(x: A, layer: Layer) -> A:
    assert layer.weights is not None and layer.bias is not None
    (k, _), (s, _), (p, _) = layer.window, layer.stride, layer.padding
    x = np.pad(x, ((0, 0), (p, p), (p, p)))
    rows, cols = 1 + (x.shape[1] - k) // s, 1 + (x.shape[2] - k) // s
    out = np.zeros((len(layer.weights), rows, cols))
    for r in range(rows):
        for c in range(cols):
            patch = x[:, r * s : r * s + k, c * s : c * s + k]
            out[:, r, c] = (layer.weights * patch).sum(axis=(1, 2, 3)) + layer.bias
    return out


def dlib_add(a: A, b: A) -> A:
    """dlib's tt::add: the larger of each dimension; outside a tensor's extent it is zero."""
    shape = tuple(max(i, j) for i, j in zip(a.shape, b.shape, strict=True))
    out = np.zeros(shape)
    out[: a.shape[0], : a.shape[1], : a.shape[2]] += a
    out[: b.shape[0], : b.shape[1], : b.shape[2]] += b
    return out


def run(net: Network, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    import onnxruntime as ort

    model = build_onnx(net)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, {"input": x})[0])


def test_tiny_network_matches_dlib_semantics() -> None:
    net = parse_network(tiny_network())
    x = np.random.default_rng(1).uniform(0, 255, (3, 3, 4, 4)).astype(np.float32)
    out = run(net, x)
    assert out.shape == (3, 2)
    con0, _, _, con1, affine, _, _, fc = net.layers
    assert affine.weights is not None and affine.bias is not None and fc.weights is not None
    for n in range(3):
        h = np.maximum(conv((x[n] - 128.0) / 256.0, con0), 0)
        y = conv(h, con1) * affine.weights[:, None, None] + affine.bias[:, None, None]
        pooled = dlib_add(y, h).mean(axis=(1, 2))
        np.testing.assert_allclose(out[n], pooled @ fc.weights, rtol=1e-4, atol=1e-5)


def test_residual_down_pads_the_smaller_tensor_with_zeros() -> None:
    """tag1, con 3x3/2 (no padding), tag2, skip1, avg_pool 2x2/2, add_prev2 on a 2-channel
    8x8 input: the block gives 4 x 3 x 3, the pooled input 2 x 4 x 4, the sum 4 x 4 x 4."""
    rng = np.random.default_rng(2)
    con = Layer(
        "con",
        (3, 3),
        (2, 2),
        (0, 0),
        rng.normal(size=(4, 3, 3, 3)).astype(np.float32),
        rng.normal(size=4).astype(np.float32),
    )
    pool = Layer("avg_pool", (2, 2), (2, 2), (0, 0))
    fc = Layer("fc", weights=rng.normal(size=(64, 5)).astype(np.float32))
    marker = Layer("marker")
    layers = (marker, con, marker, marker, pool, Layer("add_prev"), Layer("relu"), fc)
    net = Network("loss_metric_2", "input_rgb_image_sized", (0.0, 0.0, 0.0), (8, 8), layers)
    x = rng.uniform(0, 255, (2, 3, 8, 8)).astype(np.float32)
    out = run(net, x)
    assert out.shape == (2, 5)
    for n in range(2):
        inp = x[n] / 256.0
        block = conv(inp, con)
        assert block.shape == (4, 3, 3)
        pooled = inp.reshape(3, 4, 2, 4, 2).mean(axis=(2, 4))
        summed = np.maximum(dlib_add(block, pooled), 0)
        assert summed.shape == (4, 4, 4)
        np.testing.assert_allclose(out[n], summed.reshape(-1) @ fc.weights, rtol=1e-4, atol=1e-4)


def test_structural_surprises_are_model_errors() -> None:
    net = Network(
        "loss_metric_2", "input_rgb_image_sized", (0.0,) * 3, (4, 4), (Layer("add_prev"),)
    )
    with pytest.raises(ModelError, match="add_prev"):
        build_onnx(net)
    odd = Network("loss_metric_2", "input_rgb_image_sized", (0.0,) * 3, (4, 4), (Layer("prelu"),))
    with pytest.raises(ModelError, match="prelu"):
        build_onnx(odd)


def test_convert_writes_once_under_a_digest_name(tmp_path: Path) -> None:
    source = tmp_path / "tiny.dat"
    source.write_bytes(tiny_network())
    target = converted_path(tmp_path / "cache", "tiny", "ab" * 32)
    assert target.name.startswith("tiny-abababababababab-dlib")
    assert convert(source, target) == target and target.is_file()
    stamp = target.stat().st_mtime_ns
    convert(source, target)
    assert target.stat().st_mtime_ns == stamp
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # no temporary left
