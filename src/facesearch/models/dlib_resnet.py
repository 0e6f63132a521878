"""dlib's ResNet face descriptor as an ONNX graph, converted without dlib.

``dlib_face_recognition_resnet_model_v1.dat`` (public domain, in the ``face_recognition_models``
wheel) is the 29-conv ResNet of dlib's ``dnn_face_recognition_ex.cpp``::

    input_rgb_image_sized<150> -> con 7x7/2 (32), affine, relu, max_pool 3x3/2
    -> residual blocks (con 3x3, affine, relu, con 3x3, affine, + input, relu):
       32 x3, 64 down + 64 x3, 128 down + 128 x2, 256 down + 256 x2, 256 down
       (a "down" block's first con has stride 2; its input, 2x2-average-pooled, is added)
    -> avg_pool_everything -> fc_no_bias 128

``dlib_format.parse_network`` reads the file; ``build_onnx`` turns its layers into a graph:

* the input is NCHW RGB float 0..255; the graph subtracts the file's per-channel means and
  divides by 256, as dlib's ``input_rgb_image_sized`` does;
* dlib's padding is taken from the file (a strided con or pool has 0, a stride-1 one size/2);
* each ``affine`` (a frozen batch norm: ``x * gamma + beta`` per channel) is folded into the
  convolution before it;
* tag and skip layers carry no ids in the file; in this network a lone marker is ``tag1``
  (a block's input) and a pair is ``tag2, skip1`` (keep the block's output, go back to its
  input, which the following ``avg_pool`` halves). ``add_prev`` adds ``tag2`` when one is
  pending, else ``tag1``;
* ``add_prev`` of tensors of different shapes is dlib's ``tt::add``: the output has the larger
  of each dimension and the smaller tensor counts as zero outside its extent, so it is
  zero-padded at the end (more channels; the bottom and right rows and columns).

The output is the raw 128-d descriptor; the embedder L2-normalises it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from facesearch.errors import ModelError
from facesearch.models.dlib_format import Layer, Network, parse_network
from facesearch.models.prepare import save_model

log = logging.getLogger(__name__)

CONVERTER_VERSION = 1  # bump when the graph built below changes
OPSET = 13
INPUT_NAME = "input"
OUTPUT_NAME = "embedding"

Shape = tuple[int, int, int]  # channels, rows, cols


def converted_path(cache_dir: Path, name: str, sha256: str) -> Path:
    """Where the converted graph of a .dat with this digest is cached."""
    return cache_dir / "models" / f"{name}-{sha256[:16]}-dlib{CONVERTER_VERSION}.onnx"


class _Graph:
    """Accumulates ONNX nodes and initializers while tracking the static CHW shape."""

    def __init__(self) -> None:
        self.nodes: list[Any] = []
        self.inits: list[Any] = []
        self._count = 0

    def name(self, op: str) -> str:
        self._count += 1
        return f"{op.lower()}_{self._count}"

    def const(self, value: np.ndarray, hint: str) -> str:
        from onnx import numpy_helper

        name = self.name(hint)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], **attrs: Any) -> str:
        from onnx import helper

        out = self.name(op_type)
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out, **attrs))
        return out


def _out_size(size: int, window: int, stride: int, pad: int) -> int:
    return 1 + (size + 2 * pad - window) // stride


def _conv(g: _Graph, x: str, shape: Shape, con: Layer, affine: Layer | None) -> tuple[str, Shape]:
    assert con.weights is not None
    weights = con.weights.astype(np.float64)
    bias = (con.bias if con.bias is not None else np.zeros(len(weights))).astype(np.float64)
    if affine is not None:
        assert affine.weights is not None and affine.bias is not None
        weights = weights * affine.weights[:, None, None, None]
        bias = bias * affine.weights + affine.bias
    if weights.shape[1] != shape[0]:
        raise ModelError(f"dlib con expects {weights.shape[1]} channels, gets {shape[0]}")
    (kr, kc), (sr, sc), (pr, pc) = con.window, con.stride, con.padding
    w = g.const(weights.astype(np.float32), "w")
    b = g.const(bias.astype(np.float32), "b")
    y = g.op("Conv", [x, w, b], kernel_shape=[kr, kc], strides=[sr, sc], pads=[pr, pc, pr, pc])
    out = (len(weights), _out_size(shape[1], kr, sr, pr), _out_size(shape[2], kc, sc, pc))
    if con.relu:
        y = g.op("Relu", [y])
    return y, out


def _pool(g: _Graph, x: str, shape: Shape, layer: Layer) -> tuple[str, Shape]:
    if layer.window == (0, 0):  # avg_pool_everything
        return g.op("GlobalAveragePool", [x]), (shape[0], 1, 1)
    (kr, kc), (sr, sc), (pr, pc) = layer.window, layer.stride, layer.padding
    attrs: dict[str, Any] = dict(kernel_shape=[kr, kc], strides=[sr, sc], pads=[pr, pc, pr, pc])
    if layer.kind == "avg_pool":
        attrs["count_include_pad"] = 0
    y = g.op("MaxPool" if layer.kind == "max_pool" else "AveragePool", [x], **attrs)
    return y, (shape[0], _out_size(shape[1], kr, sr, pr), _out_size(shape[2], kc, sc, pc))


def _pad_to(g: _Graph, x: str, shape: Shape, target: Shape) -> str:
    if shape == target:
        return x
    extra = [0, target[0] - shape[0], target[1] - shape[1], target[2] - shape[2]]
    pads = g.const(np.array([0, 0, 0, 0, *extra], dtype=np.int64), "pads")
    return g.op("Pad", [x, pads], mode="constant")


def _add(g: _Graph, a: tuple[str, Shape], b: tuple[str, Shape]) -> tuple[str, Shape]:
    target: Shape = (max(a[1][0], b[1][0]), max(a[1][1], b[1][1]), max(a[1][2], b[1][2]))
    y = g.op("Add", [_pad_to(g, a[0], a[1], target), _pad_to(g, b[0], b[1], target)])
    return y, target


def build_onnx(net: Network) -> Any:
    """The ONNX model (``onnx.ModelProto``) computing ``net``'s descriptor, batch dim ``N``."""
    from onnx import TensorProto, checker, helper

    g = _Graph()
    rows, cols = net.input_size
    mean = np.array(net.means, dtype=np.float32).reshape(1, 3, 1, 1)
    centred = g.op("Sub", [INPUT_NAME, g.const(mean, "mean")])
    cur: tuple[str, Shape] = (
        g.op("Mul", [centred, g.const(np.array(1 / 256, dtype=np.float32), "scale")]),
        (3, rows, cols),
    )
    tag1: tuple[str, Shape] | None = None
    tag2: tuple[str, Shape] | None = None
    layers = net.layers
    i = 0
    while i < len(layers):
        layer = layers[i]
        following = layers[i + 1] if i + 1 < len(layers) else None
        if layer.kind == "marker":
            if following is not None and following.kind == "marker":
                if tag1 is None:
                    raise ModelError("dlib network skips back to a tag that was never set")
                tag2, cur = cur, tag1
                i += 1
            else:
                tag1 = cur
        elif layer.kind == "con":
            fold = following if following is not None and following.kind == "affine" else None
            cur = _conv(g, cur[0], cur[1], layer, fold)
            i += 1 if fold is not None else 0
        elif layer.kind == "affine":
            assert layer.weights is not None and layer.bias is not None
            gamma = g.const(layer.weights.reshape(1, -1, 1, 1), "gamma")
            beta = g.const(layer.bias.reshape(1, -1, 1, 1), "beta")
            cur = (g.op("Add", [g.op("Mul", [cur[0], gamma]), beta]), cur[1])
        elif layer.kind == "relu":
            cur = (g.op("Relu", [cur[0]]), cur[1])
        elif layer.kind in ("max_pool", "avg_pool"):
            cur = _pool(g, cur[0], cur[1], layer)
        elif layer.kind == "add_prev":
            other = tag2 if tag2 is not None else tag1
            if other is None:
                raise ModelError("dlib add_prev with no tagged layer before it")
            cur, tag2 = _add(g, cur, other), None
        elif layer.kind == "fc":
            assert layer.weights is not None
            if layer.weights.shape[0] != cur[1][0] * cur[1][1] * cur[1][2]:
                raise ModelError(f"dlib fc expects {layer.weights.shape[0]} inputs, gets {cur[1]}")
            flat = g.op("Flatten", [cur[0]], axis=1)
            y = g.op("MatMul", [flat, g.const(layer.weights, "fc")])
            if layer.bias is not None:
                y = g.op("Add", [y, g.const(layer.bias, "fc_bias")])
            cur = (y, (layer.weights.shape[1], 1, 1))
        elif layer.kind != "identity":
            raise ModelError(f"dlib layer {layer.kind!r} has no ONNX translation")
        i += 1
    g.nodes.append(helper.make_node("Identity", [cur[0]], [OUTPUT_NAME], name="output"))
    graph = helper.make_graph(
        g.nodes,
        "dlib_face_recognition_resnet",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["N", 3, rows, cols])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["N", cur[1][0]])],
        g.inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="facesearch.models.dlib_resnet",
        producer_version=str(CONVERTER_VERSION),
    )
    model.ir_version = 8
    checker.check_model(model)
    return model


def convert(source: Path, target: Path) -> Path:
    """Convert the dlib network in ``source`` into an ONNX file at ``target``, atomically.
    Returns ``target`` (kept as it is when it already exists: name it by the source digest)."""
    if target.exists():
        return target
    try:
        data = source.read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read dlib model {source}: {exc}") from exc
    save_model(build_onnx(parse_network(data)), target)
    log.info("converted dlib network %s -> %s", source.name, target)
    return target
