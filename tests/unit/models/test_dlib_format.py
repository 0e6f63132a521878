"""dlib's serialization, read without dlib: each encoding on hand-built bytes, then a whole
tiny network stream laid out as dlib writes one (versions top-down, details bottom-up)."""

from __future__ import annotations

import numpy as np
import pytest

from facesearch.errors import ModelError
from facesearch.models.dlib_format import (
    Reader,
    pack_float,
    pack_int,
    pack_string,
    pack_tensor,
    parse_network,
)


@pytest.mark.parametrize(
    ("raw", "value"),
    [
        (b"\x01\x00", 0),
        (b"\x01\x02", 2),
        (b"\x01\xff", 255),
        (b"\x02\x00\x01", 256),
        (b"\x81\x1c", -28),
        (b"\x03\x0a\xd7\xa3", 0xA3D70A),
        (b"\x08" + b"\xff" * 7 + b"\x7f", 2**63 - 1),
    ],
)
def test_integers_are_a_control_byte_then_little_endian_bytes(raw: bytes, value: int) -> None:
    reader = Reader(raw)
    assert reader.integer() == value
    assert reader.pos == len(raw)
    assert pack_int(value) == raw


@pytest.mark.parametrize("raw", [b"\x00", b"\x09" + b"\x00" * 9, b"\x11\x00", b"\x02\x01"])
def test_bad_or_truncated_integers_are_model_errors(raw: bytes) -> None:
    with pytest.raises(ModelError):
        Reader(raw).integer()


def test_floats_are_mantissa_times_two_to_the_exponent() -> None:
    # dlib's loss_metric margin 0.04 as the real file stores it: 0xa3d70a * 2**-28
    assert Reader(b"\x03\x0a\xd7\xa3\x81\x1c").real() == pytest.approx(0.04, rel=1e-7)
    assert Reader(pack_float(-3, 1)).real() == -6.0
    assert Reader(pack_float(0, 0)).real() == 0.0
    assert Reader(pack_float(0, 32000)).real() == float("inf")
    assert Reader(pack_float(0, 32001)).real() == float("-inf")
    assert np.isnan(Reader(pack_float(0, 32002)).real())


def test_bools_strings_and_tensors() -> None:
    values = np.arange(6, dtype=np.float32) - 2.5
    raw = (
        b"10"
        + pack_string("con_4")
        + pack_tensor(values, (1, 2, 3, 1))
        + b"\x01\x01"
        + b"\x01\x04" * 4
    )
    reader = Reader(raw)
    assert (reader.flag(), reader.flag()) == (True, False)
    assert reader.text() == "con_4"
    tensor = reader.tensor()
    assert tensor.shape == (1, 2, 3, 1) and tensor.dtype == np.float32
    np.testing.assert_array_equal(tensor.reshape(-1), values)
    assert reader.alias() == (4, 4, 4, 4)
    with pytest.raises(ModelError, match="bool"):
        Reader(b"x").flag()
    with pytest.raises(ModelError, match="ends early"):
        Reader(pack_int(2) + pack_int(1) * 4).tensor()


def _tail() -> bytes:
    """What every add_layer writes after its details: 3 bools and 3 empty tensors."""
    return b"010" + pack_tensor([], (0, 0, 0, 0)) * 3


def _multipliers() -> bytes:
    return pack_float(1, 0) * 4


def tiny_network() -> bytes:
    """loss_metric<fc_no_bias<2, avg_pool_everything<add_prev1<affine<con<2,3,3,1,1,
    tag1<relu<con<2,1,1,1,1, input_rgb_image_sized<4>>>>>>>>>>, as dlib serializes it."""
    rng = np.random.default_rng(0)
    con0 = rng.normal(size=2 * 3 + 2).astype(np.float32)  # 2 filters x 3 channels, 2 biases
    con1 = rng.normal(size=2 * 2 * 9 + 2).astype(np.float32)
    affine = np.array([2.0, 0.5, 0.1, -0.1], np.float32)  # gamma, beta
    fc = rng.normal(size=2 * 2).astype(np.float32)

    def con(params: np.ndarray, out: int, k: int, window: int, pad: int) -> bytes:
        head = pack_string("con_4") + pack_tensor(params, (len(params), 1, 1, 1)) + pack_int(out)
        dims = b"".join(pack_int(v) for v in (window, window, 1, 1, pad, pad))
        alias = pack_int(1) + b"".join(pack_int(v) for v in (out, k, window, window))
        bias = pack_int(1) + b"".join(pack_int(v) for v in (1, out, 1, 1))
        return head + dims + alias + bias + _multipliers()

    affine_bytes = pack_string("affine_") + pack_tensor(affine, (4, 1, 1, 1))
    affine_bytes += (pack_int(1) + b"".join(pack_int(v) for v in (1, 2, 1, 1))) * 2 + pack_int(0)
    fc_bytes = pack_string("fc_2") + pack_int(2) + pack_int(2) + pack_tensor(fc, (2, 2, 1, 1))
    fc_bytes += (pack_int(1) + b"".join(pack_int(v) for v in (2, 2, 1, 1))) * 2
    fc_bytes += pack_int(1) + _multipliers()
    pool = pack_string("avg_pool_2") + b"".join(pack_int(v) for v in (0, 0, 1, 1, 0, 0))

    versions = [2, 2, 2, 2, 2, 1, 2, 3]  # fc, avg_pool, add_prev, affine, con, tag, relu, con/input
    stream = pack_int(1) + pack_string("loss_metric_2") + pack_float(1, -4) * 2
    stream += b"".join(pack_int(v) for v in versions)
    stream += pack_string("input_rgb_image_sized") + pack_float(128, 0) * 3 + pack_int(4) * 2
    stream += con(con0, 2, 3, 1, 0) + _tail() + pack_int(1)
    stream += pack_string("relu_") + _tail()
    stream += con(con1, 2, 2, 3, 1) + _tail()
    stream += affine_bytes + _tail()
    stream += pack_string("add_prev_") + _tail()
    stream += pool + _tail()
    stream += fc_bytes + _tail()
    return stream


def test_a_whole_network_stream() -> None:
    net = parse_network(tiny_network())
    assert net.means == (128.0, 128.0, 128.0) and net.input_size == (4, 4)
    kinds = [layer.kind for layer in net.layers]
    assert kinds == ["con", "relu", "marker", "con", "affine", "add_prev", "avg_pool", "fc"]
    first, second = net.layers[0], net.layers[3]
    assert first.weights is not None and first.weights.shape == (2, 3, 1, 1)
    assert second.weights is not None and second.weights.shape == (2, 2, 3, 3)
    assert second.padding == (1, 1) and second.stride == (1, 1)
    assert net.layers[4].weights is not None and list(net.layers[4].weights) == [2.0, 0.5]
    assert net.layers[6].window == (0, 0)
    fc = net.layers[7]
    assert fc.weights is not None and fc.weights.shape == (2, 2) and fc.bias is None


def test_trailing_or_missing_bytes_are_errors() -> None:
    stream = tiny_network()
    with pytest.raises(ModelError, match="after the network"):
        parse_network(stream + b"\x00")
    with pytest.raises(ModelError):
        parse_network(stream[:-5])
    with pytest.raises(ModelError, match="loss"):
        parse_network(pack_int(1) + pack_string("loss_multiclass_log_"))
