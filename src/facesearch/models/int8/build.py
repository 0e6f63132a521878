"""Post-training quantisation of a prepared float32 graph to int8 with NNCF, on OpenVINO.

NNCF (PyPI ``nncf``, the ``quantize`` extra) inserts FakeQuantize nodes whose ranges come
from running the model on calibration inputs; OpenVINO's CPU plugin then executes the
convolutions and matrix products in int8. The inputs are given already preprocessed, exactly
as the detector or embedder feeds them to its session (``app.quantize`` records them), so
calibration sees what inference sees. The IR pair is written, then its provenance, into the
cache folder (``files.int8_path``); nothing here downloads anything.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from facesearch.errors import ModelError
from facesearch.models.int8.files import Provenance, int8_path, write_provenance
from facesearch.models.registry import sha256_file

log = logging.getLogger(__name__)


def quantize(
    prepared: Path,
    *,
    model: str,
    source_sha256: str,
    samples: Sequence[npt.NDArray[np.float32]],
    calibration: str,
) -> tuple[Path, Provenance]:
    """Quantise ``prepared`` (float32 ONNX) on ``samples`` (one model input each, batch
    dimension included); write the int8 IR and its provenance next to ``prepared``."""
    try:
        import nncf  # type: ignore[import-untyped]
        import openvino as ov
    except ImportError as exc:
        raise ModelError(
            f"quantising needs NNCF: pip install 'facesearch[quantize]' ({exc})"
        ) from exc
    if not samples:
        raise ModelError(f"no calibration inputs for {model}")
    core = ov.Core()
    float_model = core.read_model(str(prepared))
    dataset = nncf.Dataset(list(samples))
    try:
        quantised = nncf.quantize(float_model, dataset, subset_size=len(samples))
    except Exception as exc:  # NNCF raises several unrelated types
        raise ModelError(f"NNCF could not quantise {prepared}: {exc}") from exc
    target = int8_path(prepared)
    _save_ir(ov, quantised, target)
    provenance = Provenance(
        model=model,
        source_sha256=source_sha256,
        prepared_sha256=sha256_file(prepared),
        calibration=calibration,
        samples=len(samples),
        nncf_version=str(nncf.__version__),
        openvino_version=str(ov.get_version()),
    )
    write_provenance(target, provenance)
    log.info("quantised %s -> %s on %d inputs", prepared.name, target, len(samples))
    return target, provenance


def _save_ir(ov: object, model: object, target: Path) -> None:
    """Write the IR pair under temporary names, then rename both (weights first): a reader
    never sees an .xml whose .bin is half written."""
    target.parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(dir=target.parent, prefix=".int8-"))
    try:
        tmp = folder / target.name
        ov.save_model(model, str(tmp), compress_to_fp16=False)  # type: ignore[attr-defined]
        os.replace(tmp.with_suffix(".bin"), target.with_suffix(".bin"))
        os.replace(tmp, target)
    finally:
        for leftover in folder.iterdir():
            leftover.unlink()
        folder.rmdir()
