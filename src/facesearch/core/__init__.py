"""Pure functions: decoding, alignment, quality, calibration and matching; no I/O state."""
