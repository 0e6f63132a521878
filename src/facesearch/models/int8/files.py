"""Where a quantised model lives and what it was made from.

An int8 model is derived from the prepared float32 graph (``models.prepare``) whose file name
already carries the shipped file's digest and the preparation version; the int8 file is named
after that file, so a changed source or preparation can never be served a stale int8 model.
Next to it, a JSON provenance record says what it was made from and how (the source's and the
prepared graph's sha256, the calibration set, the NNCF and OpenVINO versions). A model counts
as built only when its OpenVINO IR pair and a readable provenance of the current
``QUANTIZE_VERSION`` are all there.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from facesearch.private import write_private

QUANTIZE_VERSION = 1  # bump when the calibration or quantisation recipe changes


@dataclass(frozen=True)
class Provenance:
    model: str
    source_sha256: str  # the shipped file (the registry's digest)
    prepared_sha256: str  # the float32 graph that was quantised
    calibration: str  # which images, how many, and why they are not evaluation images
    samples: int  # calibration inputs fed to NNCF
    nncf_version: str
    openvino_version: str
    quantize_version: int = QUANTIZE_VERSION

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def from_json(cls, text: str) -> Provenance:
        raw = json.loads(text)
        return cls(**{k: raw[k] for k in cls.__dataclass_fields__ if k in raw})


def int8_path(prepared: Path) -> Path:
    """The OpenVINO IR (``.xml``; weights in the ``.bin`` beside it) quantised from
    ``prepared``."""
    return prepared.with_name(f"{prepared.stem}-int8q{QUANTIZE_VERSION}.xml")


def provenance_path(model: Path) -> Path:
    return model.with_suffix(".json")


def read_provenance(model: Path) -> Provenance | None:
    """The provenance of the int8 model at ``model``, or None unless the model is built (IR
    pair present, provenance readable and of the current recipe)."""
    record = provenance_path(model)
    if not (model.is_file() and model.with_suffix(".bin").is_file() and record.is_file()):
        return None
    try:
        found = Provenance.from_json(record.read_text())
    except (OSError, ValueError, TypeError, KeyError):
        return None
    return found if found.quantize_version == QUANTIZE_VERSION else None


def write_provenance(model: Path, provenance: Provenance) -> None:
    """Written last, after the IR pair: its presence marks the model as built."""
    write_private(provenance_path(model), provenance.to_json().encode())
