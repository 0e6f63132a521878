"""Read a network that dlib serialized (``serialize(net, out)``) without dlib. Pure.

dlib's binary format, as its ``serialize.h``, ``dnn/core.h``, ``dnn/layers.h``,
``dnn/input.h`` and ``cuda/tensor.h`` write it:

* an integer is a control byte (bit 0x80: negative; low 4 bits: how many bytes follow) and
  then that many bytes of its absolute value, little-endian (0 is ``01 00``);
* a float is two such integers, a mantissa and a base-2 exponent: ``mantissa * 2**exponent``
  (exponents 32000/32001/32002 stand for +inf/-inf/NaN);
* a bool is the ASCII byte ``'1'`` or ``'0'``; a string is its length, then its bytes;
* a tensor is version 2, its dims (samples, k, rows, cols), then its values as
  little-endian IEEE float32; an alias tensor (a view into a layer's ``params``) is
  version 1 and its dims only.

A network is nested, the top first: the loss layer (version, its details, its subnetwork),
then each ``add_layer`` writes its version and its whole subnetwork *before* its own details,
so the stream holds every layer's version from the top down to the input and then every
layer's details from the input up. Tag and skip layers write only a version (1) and their
subnetwork: the tag ids are not in the stream, so the layers they connect come from knowing
the architecture (``dlib_resnet``).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from facesearch.errors import ModelError

F32 = npt.NDArray[np.float32]

_SPECIAL_EXPONENTS = {32000: float("inf"), 32001: float("-inf"), 32002: float("nan")}


@dataclass(frozen=True, eq=False)
class Layer:
    """One layer's details, from the input up. ``kind`` is dlib's layer name without its
    version suffix (``con``, ``affine``, ``relu``, ``max_pool``, ``avg_pool``, ``add_prev``,
    ``fc``) or ``marker`` for a tag or skip layer (the stream cannot tell which)."""

    kind: str
    window: tuple[int, int] = (0, 0)  # rows, cols; a pool of 0 x 0 covers the whole input
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    weights: F32 | None = None  # con: (out, in, rows, cols); affine: gamma (k,); fc: (in, out)
    bias: F32 | None = None  # con: (out,); affine: beta (k,); fc: (out,) or None
    relu: bool = False  # a con_6 with its relu fused in


@dataclass(frozen=True, eq=False)
class Network:
    """A parsed dlib network: its input layer's per-channel means and size, and its layers
    from the input up (the loss layer's details are not needed to run it)."""

    loss: str
    input_kind: str
    means: tuple[float, float, float]  # red, green, blue (subtracted, then divided by 256)
    input_size: tuple[int, int]  # rows, cols
    layers: tuple[Layer, ...] = field(default_factory=tuple)


class Reader:
    """Reads dlib's serialized primitives from a bytes buffer."""

    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)
        self.pos = 0

    def _take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > len(self._data):
            raise ModelError(f"dlib stream ends early (wanted {n} bytes at offset {self.pos})")
        chunk = self._data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def integer(self) -> int:
        control = self._take(1)[0]
        size = control & 0x0F
        if size == 0 or size > 8 or control & 0x70:
            raise ModelError(f"bad dlib integer control byte {control:#04x} at {self.pos - 1}")
        value = int.from_bytes(self._take(size), "little")
        return -value if control & 0x80 else value

    def real(self) -> float:
        mantissa = self.integer()
        exponent = self.integer()
        if exponent in _SPECIAL_EXPONENTS:
            return _SPECIAL_EXPONENTS[exponent]
        return float(np.ldexp(float(mantissa), exponent))

    def flag(self) -> bool:
        byte = bytes(self._take(1))
        if byte not in (b"0", b"1"):
            raise ModelError(f"bad dlib bool {byte!r} at {self.pos - 1}")
        return byte == b"1"

    def text(self) -> str:
        return bytes(self._take(self.integer())).decode("latin-1")

    def peek_text(self) -> str | None:
        """The string that starts here, if one plausibly does (the position is kept)."""
        start = self.pos
        try:
            return self.text()
        except (ModelError, UnicodeDecodeError):
            return None
        finally:
            self.pos = start

    def tensor(self) -> F32:
        self._version("tensor", 2)
        dims = tuple(self.integer() for _ in range(4))
        count = int(np.prod(dims))
        values = np.frombuffer(self._take(4 * count), dtype="<f4").astype(np.float32)
        return values.reshape(dims)

    def alias(self) -> tuple[int, int, int, int]:
        self._version("alias tensor", 1)
        n, k, r, c = (self.integer() for _ in range(4))
        return (n, k, r, c)

    def _version(self, what: str, expected: int) -> None:
        got = self.integer()
        if got != expected:
            raise ModelError(f"dlib {what} version {got} at {self.pos}, expected {expected}")


def _split(params: F32, *shapes: tuple[int, ...]) -> list[F32]:
    flat = params.reshape(-1)
    sizes = [int(np.prod(s)) for s in shapes]
    if sum(sizes) != flat.size:
        raise ModelError(f"dlib params hold {flat.size} values, the layer needs {sum(sizes)}")
    out, start = [], 0
    for shape, size in zip(shapes, sizes, strict=True):
        out.append(flat[start : start + size].reshape(shape))
        start += size
    return out


def _window(r: Reader) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    nr, nc, sy, sx, py, px = (r.integer() for _ in range(6))
    return (nr, nc), (sy, sx), (py, px)


def read_layer(r: Reader) -> Layer:
    """One layer's details (after its version string)."""
    version = r.text()
    if version in ("con_4", "con_5", "con_6"):
        params = r.tensor()
        out = r.integer()
        window, stride, padding = _window(r)
        filters, biases = r.alias(), r.alias()
        for _ in range(4):  # learning-rate and weight-decay multipliers
            r.real()
        use_bias = r.flag() if version != "con_4" else True
        relu = r.flag() if version == "con_6" else False
        shapes = [filters] + ([biases] if use_bias else [])
        parts = _split(params, *shapes)
        weights = parts[0].reshape(out, -1, *window)
        bias = parts[1].reshape(-1) if use_bias else None
        return Layer("con", window, stride, padding, weights, bias, relu)
    if version in ("affine_", "affine_2"):
        params = r.tensor()
        gamma, beta = r.alias(), r.alias()
        r.integer()  # mode: CONV_MODE (per channel) or FC_MODE; dims say which
        if version == "affine_2" and r.flag():
            return Layer("identity")
        g, b = _split(params, gamma, beta)
        return Layer("affine", weights=g.reshape(-1), bias=b.reshape(-1))
    if version in ("relu_", "relu_2"):
        disabled = r.flag() if version == "relu_2" else False
        return Layer("identity" if disabled else "relu")
    if version in ("max_pool_2", "avg_pool_2"):
        window, stride, padding = _window(r)
        return Layer(version[:-2], window, stride, padding)
    if version == "add_prev_":
        return Layer("add_prev")
    if version in ("fc_2", "fc_3"):
        n_out, n_in = r.integer(), r.integer()
        params = r.tensor()
        r.alias(), r.alias()  # weights and biases views
        has_bias = r.integer() == 0  # dlib's fc_bias_mode: FC_HAS_BIAS = 0, FC_NO_BIAS = 1
        for _ in range(4):
            r.real()
        if version == "fc_3":
            has_bias = r.flag() and has_bias
        rows = n_in + (1 if has_bias else 0)
        matrix = params.reshape(rows, n_out)
        bias = matrix[n_in] if has_bias else None
        return Layer("fc", weights=np.ascontiguousarray(matrix[:n_in]), bias=bias)
    raise ModelError(f"unsupported dlib layer {version!r}")


def parse_network(data: bytes) -> Network:
    """Parse a whole serialized dlib network (a ``loss_*`` layer on top)."""
    r = Reader(data)
    if r.integer() != 1:
        raise ModelError("not a dlib network: the loss layer's version is not 1")
    loss = r.text()
    if loss != "loss_metric_2":
        raise ModelError(f"unsupported dlib loss layer {loss!r}")
    r.real(), r.real()  # margin, distance threshold: training only
    versions: list[int] = []
    while True:
        versions.append(r.integer())
        following = r.peek_text()
        if following is not None and following.startswith("input"):
            break
        if versions[-1] not in (1, 2) or len(versions) > 10_000:
            raise ModelError(f"unexpected dlib layer version {versions[-1]} at {r.pos}")
    if versions[-1] not in (2, 3):
        raise ModelError(f"unsupported version {versions[-1]} of dlib's first layer")
    input_kind = r.text()
    if input_kind != "input_rgb_image_sized":
        raise ModelError(f"unsupported dlib input layer {input_kind!r}")
    means = (r.real(), r.real(), r.real())
    size = (r.integer(), r.integer())
    layers = [read_layer(r)]
    for _ in range(3):  # setup called, gradient stale, output and gradient disabled
        r.flag()
    for _ in range(3):  # x_grad, cached output, final gradient
        r.tensor()
    if versions[-1] == 3:
        r.integer()  # sample expansion factor
    for version in reversed(versions[:-1]):
        if version == 1:  # a tag or skip layer: nothing but its subnetwork
            layers.append(Layer("marker"))
            continue
        layers.append(read_layer(r))
        for _ in range(3):
            r.flag()
        for _ in range(3):  # x_grad, cached output, parameter gradients
            r.tensor()
    if r.pos != len(data):
        raise ModelError(f"dlib stream has {len(data) - r.pos} bytes after the network")
    return Network(loss, input_kind, means, size, tuple(layers))


def pack_int(value: int) -> bytes:
    """dlib's integer encoding (the inverse of ``Reader.integer``); for tests and tools."""
    body = abs(value).to_bytes(max(1, (abs(value).bit_length() + 7) // 8), "little")
    return bytes([len(body) | (0x80 if value < 0 else 0)]) + body


def pack_float(mantissa: int, exponent: int) -> bytes:
    return pack_int(mantissa) + pack_int(exponent)


def pack_string(text: str) -> bytes:
    return pack_int(len(text)) + text.encode("latin-1")


def pack_tensor(values: npt.ArrayLike, dims: tuple[int, int, int, int]) -> bytes:
    head = pack_int(2) + b"".join(pack_int(d) for d in dims)
    return head + struct.pack(f"<{int(np.prod(dims))}f", *np.asarray(values).reshape(-1))
