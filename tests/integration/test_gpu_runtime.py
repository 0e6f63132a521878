"""The real SFace on ONNX Runtime's CUDA provider against the CPU (issue 11's GPU path): the
same aligned LFW faces give the same embeddings (cosine > 0.999 each). Skipped, with the
reason, where onnxruntime has no CUDAExecutionProvider or no NVIDIA driver is there;
``benchmarks/gpu.py`` measures the GPU path's speed and LFW accuracy."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from facesearch.core.align import align_face
from facesearch.models import load_embedder
from facesearch.models.runtime import onnxruntime_providers
from facesearch.pipeline import FacePipeline, read_file
from facesearch.settings import Settings
from facesearch.types import ImageFaces

pytestmark = pytest.mark.lfw

PEOPLE = ("Aaron_Peirsol", "Serena_Williams", "Colin_Powell", "George_W_Bush")


def no_gpu() -> str | None:
    """Why the GPU run cannot happen here, or None."""
    found = onnxruntime_providers()
    if found is None:
        return "onnxruntime is not installed"
    if "CUDAExecutionProvider" not in found:
        return (
            f"onnxruntime has no CUDAExecutionProvider (it has {', '.join(found)}): "
            "pip install '.[gpu]'"
        )
    if shutil.which("nvidia-smi") is None:
        return "no NVIDIA driver here (nvidia-smi not found)"
    return None


WHY = no_gpu()


@pytest.mark.skipif(WHY is not None, reason=f"SKIPPED LOUDLY: no GPU run: {WHY}")
def test_sface_on_cuda_gives_the_cpu_embeddings(settings: Settings, lfw: Path) -> None:
    cpu_settings = settings.replace(runtime="onnxruntime", second_embedder="none")
    crops = []
    with FacePipeline(cpu_settings) as cpu:
        for person in PEOPLE:
            for n in (1, 2):
                path = lfw / "lfw-deepfunneled" / person / f"{person}_{n:04d}.jpg"
                item = read_file(path, settings.limits.max_file_bytes)
                decoded = cpu.decode(item)
                (found,) = cpu.analyse([(item.source, decoded)], embed=False)
                assert isinstance(found, ImageFaces) and found.main is not None
                marks = found.faces[found.main].detection.landmarks_array()
                crops.append(align_face(decoded.pixels, marks))
    batch = np.stack(crops)
    on_cpu, _ = load_embedder(cpu_settings)
    on_gpu, _ = load_embedder(cpu_settings.replace(runtime="cuda"))
    cosine = np.sum(on_cpu.embed(batch) * on_gpu.embed(batch), axis=1)
    assert cosine.min() > 0.999, cosine
