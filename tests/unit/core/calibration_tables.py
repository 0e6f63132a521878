"""A small hand-made calibration table whose rates are easy to check by hand."""

from __future__ import annotations

from facesearch.core.calibration import CalibrationTable

# similarity:  0.0   0.2   0.4    0.6     0.8      1.0
# FMR:         1     0.1   0.01   0.001   0.0001   0      (10,000 impostor pairs)
TABLE = CalibrationTable(
    model_id="test:0",
    source="hand-made test table",
    impostor_pairs=10_000,
    genuine_pairs=100,
    similarity=(0.0, 0.2, 0.4, 0.6, 0.8, 1.0),
    fmr=(1.0, 0.1, 0.01, 0.001, 0.0001, 0.0),
    fnmr=(0.0, 0.0, 0.01, 0.05, 0.3, 1.0),
)
