"""The one settings object. Built once (``Settings.from_env()``) and passed in.

Every field is documented in its ``doc`` metadata and can be set through the environment
variable ``FACESEARCH_<FIELD NAME IN CAPITALS>``. ``facesearch settings`` prints them all.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from facesearch.errors import ConfigError


def _data_home() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "facesearch"


def _cache_home() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "facesearch"


def _doc(text: str) -> dict[str, str]:
    return {"doc": text}


@dataclass(frozen=True)
class Settings:
    home: Path = field(
        default_factory=_data_home,
        metadata=_doc("Folder holding the catalog (SQLite) and the vector index files."),
    )
    cache_dir: Path = field(
        default_factory=_cache_home,
        metadata=_doc(
            "Folder for derived files: dequantised models, compiled-model cache, "
            "evaluation embedding caches. Safe to delete."
        ),
    )
    lfw_dir: Path = field(
        default_factory=lambda: Path("../shared/data/lfw"),
        metadata=_doc("LFW data folder (lfw-deepfunneled/ and pairs.txt) for eval and tests."),
    )
    models_dir: Path | None = field(
        default=None,
        metadata=_doc(
            "Optional folder of operator models: each model is NAME.onnx plus NAME.json "
            "(its spec: task, input size, normalisation, sha256)."
        ),
    )
    detector: str = field(default="yunet", metadata=_doc("Name of the detector model."))
    embedder: str = field(default="sface", metadata=_doc("Name of the embedder model."))
    runtime: str = field(
        default="auto",
        metadata=_doc("Inference runtime: auto (fastest available), openvino or onnxruntime."),
    )
    precision: str = field(
        default="auto",
        metadata=_doc(
            "OpenVINO inference precision: auto (bf16 where the CPU supports it), bf16 or fp32."
        ),
    )
    threads: int = field(
        default=0, metadata=_doc("Inference threads per model; 0 = the runtime's default.")
    )
    batch_size: int = field(default=32, metadata=_doc("Faces embedded per inference call."))
    max_file_bytes: int = field(
        default=50 * 1024 * 1024, metadata=_doc("Largest image file accepted, in bytes.")
    )
    max_pixels: int = field(
        default=80_000_000,
        metadata=_doc("Largest image accepted, in pixels (decompression-bomb guard)."),
    )
    detect_max_side: int = field(
        default=640,
        metadata=_doc(
            "Images are downscaled so that their longer side is at most this for detection."
        ),
    )
    det_score_threshold: float = field(
        default=0.7, metadata=_doc("Detector score below which a face is dropped (0..1).")
    )
    nms_threshold: float = field(
        default=0.3, metadata=_doc("IoU above which overlapping detections are merged.")
    )
    min_face_size: int = field(
        default=20,
        metadata=_doc("Faces whose shorter box side is smaller than this (pixels) are dropped."),
    )
    flip_average: bool = field(
        default=False,
        metadata=_doc(
            "Average the embeddings of the face and its mirror image (off: it did not help "
            "on LFW, see the README)."
        ),
    )
    calibration_file: Path | None = field(
        default=None,
        metadata=_doc(
            "Calibration table (JSON from 'facesearch calibrate') to use instead of the one "
            "shipped for the embedder."
        ),
    )
    verify_max_fmr: float = field(
        default=1e-3,
        metadata=_doc(
            "False match rate at which verify's default threshold is set, read from the "
            "calibration table."
        ),
    )

    index_kind: str = field(
        default="auto",
        metadata=_doc(
            "Vector index per collection: auto (exact FAISS, approximate IVF-PQ past "
            "index_approx_threshold faces), flat (always exact), ivf, or numpy (reference)."
        ),
    )
    index_approx_threshold: int = field(
        default=200_000,
        metadata=_doc(
            "With index_kind=auto: faces in a collection past which search is approximate."
        ),
    )
    search_top: int = field(default=10, metadata=_doc("Candidates returned per probe face."))
    probe_min_face_size: int = field(
        default=32,
        metadata=_doc("Probe faces smaller than this (pixels, shorter box side) are refused."),
    )
    probe_min_sharpness: float = field(
        default=10.0,
        metadata=_doc("Probe faces less sharp than this (Laplacian variance) are refused."),
    )
    probe_max_yaw: float = field(
        default=50.0, metadata=_doc("Probe faces turned further than this (degrees) are refused.")
    )
    blocklist_max_fmr: float = field(
        default=1e-4,
        metadata=_doc(
            "A new face matching an erasure-blocklist entry at this false match rate or "
            "rarer is skipped at ingest; forget --like uses it too."
        ),
    )
    probe_retention_days: int = field(
        default=30,
        metadata=_doc(
            "Days a searched or verified probe image is kept (named by its sha256 in the "
            "audit trail) so a match can be re-checked; then its bytes are deleted."
        ),
    )
    min_password_length: int = field(
        default=12, metadata=_doc("Shortest password accepted for a user account (at least 8).")
    )
    login_max_failures: int = field(
        default=5,
        metadata=_doc(
            "Failed logins for one name from one address within 15 minutes that lock that name "
            "for that address: 1 minute, doubling with each further lock, at most an hour."
        ),
    )
    session_idle_minutes: int = field(
        default=30, metadata=_doc("A browser session unused for this many minutes ends.")
    )
    session_lifetime_hours: int = field(
        default=12,
        metadata=_doc("A browser session ends this many hours after login, used or not."),
    )
    server_max_upload_bytes: int = field(
        default=25 * 1024 * 1024,
        metadata=_doc(
            "Largest request body the server accepts, in bytes (search, verify, every form); "
            "larger is refused with 413."
        ),
    )
    server_max_ingest_bytes: int = field(
        default=2 * 1024 * 1024 * 1024,
        metadata=_doc(
            "Largest ingest upload (images or zip/tar archives in one request), in bytes; "
            "larger is refused with 413."
        ),
    )
    server_rate_limit: int = field(
        default=600,
        metadata=_doc(
            "Requests per minute per user (per client address before login) before the "
            "server answers 429; short bursts of up to this many are allowed. 0 = no limit."
        ),
    )
    server_login_rate_limit: int = field(
        default=30,
        metadata=_doc(
            "Login attempts per minute per client address before the server answers 429."
        ),
    )
    server_request_timeout: float = field(
        default=60.0,
        metadata=_doc(
            "Seconds a request may take (waiting for the engine included) before the server "
            "answers 503; uploads to ingest are exempt."
        ),
    )

    trusted_proxies: str = field(
        default="",
        metadata=_doc(
            "Comma-separated addresses (or CIDR networks) of reverse proxies whose "
            "X-Forwarded-For / X-Forwarded-Proto headers are believed; empty = none, the "
            "client address is the socket's peer."
        ),
    )
    token_lifetime_days: int = field(
        default=90,
        metadata=_doc(
            "An API token stops working this many days after it was issued, or at the expiry "
            "it was given when issued, whichever comes first. 0 = tokens issued from now on "
            "never expire (it does not lengthen tokens issued before). Tokens from a home made "
            "before token expiry existed expire this many days after issue: those older stop "
            "working at once."
        ),
    )
    min_password_score: int = field(
        default=3,
        metadata=_doc(
            "Lowest zxcvbn strength score (0..4) a new password must reach; common passwords "
            "from the shipped list are refused whatever their score."
        ),
    )
    server_max_analyses: int = field(
        default=0,
        metadata=_doc(
            "Probe analyses (decode + detect + embed) running or queued at once in the server; "
            "more are refused with 503 and Retry-After. 0 = twice the number of CPU cores."
        ),
    )
    server_max_analyses_per_user: int = field(
        default=2,
        metadata=_doc(
            "Probe analyses one user may have running or queued at once; more are refused "
            "with 429 and Retry-After. 0 = no limit per user (the total cap still holds)."
        ),
    )
    server_read_rate_limit: int = field(
        default=120,
        metadata=_doc(
            "Reads of personal data (probe photos, face crops, gallery images, search records, "
            "subject exports) per minute per user before the server answers 429. 0 = no limit."
        ),
    )
    server_min_free_bytes: int = field(
        default=256 * 1024 * 1024,
        metadata=_doc(
            "Free bytes on the home's disk below which /health answers 503 (storage nearly "
            "full: ingest and the audit trail would fail)."
        ),
    )
    audit_key_file: Path | None = field(
        default=None,
        metadata=_doc(
            "Secret key (HMAC) that signs every audit entry; keep it outside the home. "
            "Unset: a key file in the user's config folder (XDG_CONFIG_HOME/facesearch), made "
            "on first use with mode 0600."
        ),
    )
    audit_anchor_file: Path | None = field(
        default=None,
        metadata=_doc(
            "Append-only file outside the home that records every new audit-chain head, so "
            "that 'audit verify' catches an appended, rewritten or truncated chain. Unset: a "
            "file in the user's state folder (XDG_STATE_HOME/facesearch)."
        ),
    )

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: Any) -> Settings:
        """Build the settings from FACESEARCH_* variables, then apply explicit overrides."""
        env = dict(os.environ if env is None else env)
        values: dict[str, Any] = {}
        for f in fields(cls):
            key = "FACESEARCH_" + f.name.upper()
            if key in env and env[key] != "":
                values[f.name] = _parse(f, env[key])
        values.update({k: v for k, v in overrides.items() if v is not None})
        unknown = set(values) - {f.name for f in fields(cls)}
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        settings = cls(**values)
        settings.validate()
        return settings

    def replace(self, **changes: Any) -> Settings:
        new = dataclasses.replace(self, **changes)
        new.validate()
        return new

    def validate(self) -> None:
        if self.index_kind not in ("auto", "flat", "ivf", "numpy"):
            raise ConfigError(
                f"index_kind must be auto, flat, ivf or numpy, not {self.index_kind!r}"
            )
        if self.runtime not in ("auto", "openvino", "onnxruntime"):
            raise ConfigError(
                f"runtime must be auto, openvino or onnxruntime, not {self.runtime!r}"
            )
        if self.precision not in ("auto", "bf16", "fp32"):
            raise ConfigError(f"precision must be auto, bf16 or fp32, not {self.precision!r}")
        if not 0.0 < self.det_score_threshold < 1.0:
            raise ConfigError("det_score_threshold must be between 0 and 1")
        if not 0.0 < self.verify_max_fmr < 1.0:
            raise ConfigError("verify_max_fmr must be between 0 and 1")
        for name in ("batch_size", "max_file_bytes", "max_pixels", "detect_max_side"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive")
        if self.min_face_size < 0 or self.threads < 0:
            raise ConfigError("min_face_size and threads must not be negative")

    @staticmethod
    def describe() -> list[tuple[str, str, str]]:
        """(environment variable, default, description) for every setting."""
        out = []
        defaults = Settings()
        for f in fields(Settings):
            out.append(
                ("FACESEARCH_" + f.name.upper(), str(getattr(defaults, f.name)), f.metadata["doc"])
            )
        return out


def _parse(f: dataclasses.Field[Any], raw: str) -> Any:
    kind = str(f.type)
    try:
        if "Path" in kind:
            return Path(raw).expanduser()
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "bool":
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
    except ValueError as exc:
        raise ConfigError(f"FACESEARCH_{f.name.upper()}: cannot read {raw!r} as {kind}") from exc
    return raw
