"""An 8-bit scalar quantiser for unit vectors, in numpy: one byte per dimension.

Each dimension ``j`` is cut into 255 equal steps between ``lo[j]`` and ``lo[j] + 255 *
step[j]``, a range trained as the sample's min..max widened by ``margin`` (20 %) on each
side so that vectors added later rarely clip. ``code = round((x - lo) / step)``; the decoded
value is ``lo + code * step``. Scores against codes need no decoding:
``q . decode(c) = q . lo + (q * step) . c``.

Measured on SFace-like 128-d embeddings: score error std ~1e-3, worst ~5e-3.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from facesearch.errors import VectorIndexError

Codes = npt.NDArray[np.uint8]
F32 = npt.NDArray[np.float32]

_SCORE_FLOATS = 1 << 23  # floats materialised at once when scoring codes


@dataclass(frozen=True)
class SQ8:
    lo: F32  # (dim,)
    step: F32  # (dim,)

    @classmethod
    def train(cls, sample: F32, margin: float = 0.2) -> SQ8:
        if len(sample) == 0:
            raise VectorIndexError("cannot train a scalar quantiser on no vectors")
        vmin = sample.min(axis=0).astype(np.float64)
        vmax = sample.max(axis=0).astype(np.float64)
        width = np.maximum(vmax - vmin, 1e-6)
        lo = vmin - margin * width
        step = width * (1.0 + 2.0 * margin) / 255.0
        return cls(lo=lo.astype(np.float32), step=step.astype(np.float32))

    @property
    def dim(self) -> int:
        return int(self.lo.shape[0])

    def encode(self, x: F32) -> Codes:
        scaled = np.rint((x - self.lo) / self.step)
        codes: Codes = np.clip(scaled, 0, 255).astype(np.uint8)
        return codes

    def decode(self, codes: Codes) -> F32:
        return (self.lo + codes.astype(np.float32) * self.step).astype(np.float32)

    def scores(self, queries: F32, codes: Codes) -> F32:
        """``queries`` (n, d) against ``codes`` (n, m, d): the (n, m) inner products of each
        query with its own m decoded vectors."""
        n, m, _ = codes.shape
        out = np.empty((n, m), dtype=np.float32)
        offset = queries @ self.lo
        weights = (queries * self.step).astype(np.float32)
        rows = max(1, _SCORE_FLOATS // max(1, m * self.dim))
        for start in range(0, n, rows):
            stop = start + rows
            block = codes[start:stop].astype(np.float32)
            out[start:stop] = np.einsum("qmd,qd->qm", block, weights[start:stop])
        out += offset[:, None]
        return out

    def to_array(self) -> F32:
        return np.stack([self.lo, self.step]).astype(np.float32)

    @classmethod
    def from_array(cls, arr: F32) -> SQ8:
        if arr.ndim != 2 or arr.shape[0] != 2:
            raise VectorIndexError(f"bad scalar quantiser array of shape {arr.shape}")
        return cls(lo=np.ascontiguousarray(arr[0]), step=np.ascontiguousarray(arr[1]))
