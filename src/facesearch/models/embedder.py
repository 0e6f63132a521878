"""ArcFace-style embedding: aligned 112x112 crops in, L2-normalised float32 vectors out."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from facesearch.models.runtime import InferenceSession
from facesearch.types import Image

BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)  # 128 and 256: GPU batches (models.gpu)


@dataclass(frozen=True)
class EmbedderConfig:
    input_size: tuple[int, int]
    embedding_dim: int
    channel_order: str = "rgb"
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    batch_size: int = 32
    flip_average: bool = False


class FaceEmbedder:
    def __init__(self, session: InferenceSession, config: EmbedderConfig) -> None:
        self._session = session
        self.config = config

    def embed(self, crops: list[Image] | npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        """Embeddings of aligned RGB crops (n x H x W x 3 uint8), shape (n, dim), unit norm."""
        cfg = self.config
        n = len(crops)
        out = np.empty((n, cfg.embedding_dim), dtype=np.float32)
        if n == 0:
            return out
        stack = np.asarray(crops, dtype=np.uint8)
        step = max(1, min(cfg.batch_size, BATCH_BUCKETS[-1]))
        for start in range(0, n, step):
            chunk = stack[start : start + step]
            vectors = self._run(chunk)
            if cfg.flip_average:
                vectors = vectors + self._run(chunk[:, :, ::-1])
            out[start : start + len(chunk)] = vectors
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return np.asarray(out / np.maximum(norms, 1e-12), dtype=np.float32)

    def _run(self, chunk: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
        cfg = self.config
        n = len(chunk)
        bucket = next((b for b in BATCH_BUCKETS if b >= n), n)
        x: npt.NDArray[np.float32] = chunk.astype(np.float32)
        if cfg.channel_order == "bgr":
            x = x[..., ::-1]
        if cfg.mean != (0.0, 0.0, 0.0) or cfg.std != (1.0, 1.0, 1.0):
            mean, std = np.asarray(cfg.mean, np.float32), np.asarray(cfg.std, np.float32)
            x = np.asarray((x - mean) / std, dtype=np.float32)
        x = x.transpose(0, 3, 1, 2)
        if bucket > n:
            x = np.concatenate([x, np.zeros((bucket - n, *x.shape[1:]), np.float32)])
        result = self._session.run(np.ascontiguousarray(x))[0]
        return np.asarray(result[:n].reshape(n, -1), dtype=np.float32)
