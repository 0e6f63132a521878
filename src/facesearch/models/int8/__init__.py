"""int8 models: the precision chosen for the CPU, the quantised files and their provenance,
and the NNCF build that makes them (``facesearch models quantize``)."""

from __future__ import annotations

from facesearch.models.int8.choice import (
    PrecisionChoice,
    choose_precision,
    cpu_flags,
    cpu_kind,
)
from facesearch.models.int8.files import Provenance, int8_path, read_provenance

__all__ = [
    "PrecisionChoice",
    "Provenance",
    "choose_precision",
    "cpu_flags",
    "cpu_kind",
    "int8_path",
    "read_provenance",
]
