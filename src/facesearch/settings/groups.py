"""The groups of the settings object (``settings.models``, ``.limits`` ...): every setting with
its default, its key (``FACESEARCH_<KEY>`` is its variable) and its description."""

from __future__ import annotations

import os
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

INDEX_KINDS = ("auto", "flat", "ivf", "numpy")
MILVUS_INDEX_TYPES = (
    "auto",
    "FLAT",
    "IVF_FLAT",
    "IVF_SQ8",
    "IVF_PQ",
    "HNSW",
    "HNSW_SQ",
    "IVF_RABITQ",
    "DISKANN",
)
RUNTIMES = ("auto", "openvino", "onnxruntime", "cuda", "tensorrt")
PRECISIONS = ("auto", "bf16", "fp32", "int8")
MIN_PASSWORD_LENGTH = 12


def data_home() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "facesearch"


def cache_home() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "facesearch"


def setting(default: Any, doc: str, key: str, *, factory: Any = None) -> Any:
    """A field with its description and its key (FACESEARCH_<KEY> is its variable)."""
    meta = {"doc": doc, "key": key}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


class Group:
    """A group of settings: its paths have ``~`` expanded when it is built."""

    def __post_init__(self) -> None:
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if isinstance(value, str) and typing.get_type_hints(type(self))[f.name] is not str:
                value = Path(value)  # a str given for a Path field
            if isinstance(value, Path):
                object.__setattr__(self, f.name, value.expanduser())


@dataclass(frozen=True)
class ModelSettings(Group):
    dir: Path | None = setting(
        None,
        "Optional folder of operator models: each model is NAME.onnx plus NAME.json "
        "(its spec: task, input size, normalisation, sha256).",
        "models_dir",
    )
    detector: str = setting("yunet", "Name of the detector model.", "detector")
    embedder: str = setting("sface", "Name of the embedder model.", "embedder")
    second_embedder: str = setting(
        "dlib_resnet",
        "Second, independent embedder whose scores are fused with the first's (verify, "
        "re-ranking); 'none' turns fusion off.",
        "second_embedder",
    )
    runtime: str = setting(
        "auto",
        "Inference runtime: auto (fastest available CPU runtime), openvino, onnxruntime, or on "
        "an NVIDIA GPU cuda or tensorrt (pip install '.[gpu]'; there the default batch_size "
        "becomes 256).",
        "runtime",
    )
    precision: str = setting(
        "auto",
        "OpenVINO inference precision: auto (the fastest for the CPU, see 'facesearch models'), "
        "fp32, bf16 or int8 (the int8 builds from 'facesearch models quantize').",
        "precision",
    )
    threads: int = setting(0, "Inference threads per model; 0 = the runtime's default.", "threads")
    batch_size: int = setting(32, "Faces embedded per inference call.", "batch_size")
    detect_max_side: int = setting(
        640,
        "Images are downscaled so that their longer side is at most this for detection.",
        "detect_max_side",
    )
    det_score_threshold: float = setting(
        0.7, "Detector score below which a face is dropped (0..1).", "det_score_threshold"
    )
    nms_threshold: float = setting(
        0.3, "IoU above which overlapping detections are merged.", "nms_threshold"
    )
    min_face_size: int = setting(
        20,
        "Faces whose shorter box side is smaller than this (pixels) are dropped.",
        "min_face_size",
    )
    flip_average: bool = setting(
        False,
        "Average the embeddings of the face and its mirror image (off: it did not help on "
        "LFW, see the README).",
        "flip_average",
    )
    calibration_file: Path | None = setting(
        None,
        "Calibration tables (JSON from 'facesearch calibrate DIR') to use instead of the "
        "shipped ones: the first model's and, while a second model is on, the fused score's, "
        "which verify decides by (a file without it is refused, never made up from the "
        "shipped one).",
        "calibration_file",
    )


@dataclass(frozen=True)
class LimitSettings(Group):
    max_file_bytes: int = setting(
        50 * 1024 * 1024, "Largest image file accepted, in bytes.", "max_file_bytes"
    )
    max_pixels: int = setting(
        80_000_000,
        "Largest image accepted, in pixels (decompression-bomb guard).",
        "max_pixels",
    )


@dataclass(frozen=True)
class IndexSettings(Group):
    kind: str = setting(
        "auto",
        "Vector index per collection: auto (exact FAISS, approximate IVF-PQ past "
        "index_approx_threshold faces), flat (always exact), ivf, or numpy (reference).",
        "index_kind",
    )
    approx_threshold: int = setting(
        200_000,
        "With index_kind=auto: faces in a collection past which search is approximate.",
        "index_approx_threshold",
    )
    vectors_url: str = setting(
        "",
        "Where the vectors live: unset, index files in the home (index_kind); a path ending "
        "in .db, Milvus Lite (embedded); milvus://HOST:PORT, a Milvus server.",
        "vectors_url",
    )
    milvus_index: str = setting(
        "auto",
        "Milvus index type: auto (by the model's face count: FLAT below 200,000, then IVF_SQ8; "
        "docs/scale.md), FLAT, IVF_FLAT, IVF_SQ8, IVF_PQ, HNSW, or where the server has them "
        "HNSW_SQ, IVF_RABITQ, DISKANN. A change rebuilds the index.",
        "milvus_index",
    )
    milvus_nlist: int = setting(
        0, "Milvus IVF lists; 0: the power of two nearest 4 sqrt(faces).", "milvus_nlist"
    )
    milvus_nprobe: int = setting(
        0, "Milvus IVF lists searched per query; 0: milvus_nlist / 4.", "milvus_nprobe"
    )
    milvus_hnsw_m: int = setting(16, "Milvus HNSW graph degree (M).", "milvus_hnsw_m")
    milvus_ef: int = setting(
        0, "Milvus HNSW ef (DISKANN search_list) per query; 0: 512.", "milvus_ef"
    )


@dataclass(frozen=True)
class MatchingSettings(Group):
    top: int = setting(10, "Candidates returned per probe face.", "search_top")
    verify_max_fmr: float = setting(
        1e-3,
        "False match rate at which verify's default threshold is set, read from the "
        "calibration table.",
        "verify_max_fmr",
    )
    blocklist_max_fmr: float = setting(
        1e-4,
        "A new face matching an erasure-blocklist entry at this false match rate or rarer is "
        "skipped at ingest; forget --like uses it too.",
        "blocklist_max_fmr",
    )
    blocklist_max_skip: float = setting(
        1e-3,
        "The share of other people's new faces the whole erasure blocklist may skip at ingest: "
        "each of K entries is matched at the false match rate min(blocklist_max_fmr, this / K), "
        "so a long blocklist catches fewer new photos of each erased person "
        "(facesearch stats says how many).",
        "blocklist_max_skip",
    )
    erase_like_max_strangers: float = setting(
        0.5,
        "An erasure like a photo is refused when more faces of other people than this are "
        "expected to match it by chance (its false match rate x the faces it searches): give "
        "a lower false match rate, or erase by face id after checking the candidates.",
        "erase_like_max_strangers",
    )
    rerank_top: int = setting(
        0,
        "Re-rank this many of a search's best candidates by the fused score of both models "
        "(0: off).",
        "rerank_top",
    )


@dataclass(frozen=True)
class ProbeSettings(Group):
    min_face_size: int = setting(
        32,
        "Probe faces smaller than this (pixels, shorter box side) are refused (under 32 px "
        "LFW probes miss 2.4x as many true matches; 'facesearch eval quality').",
        "probe_min_face_size",
    )
    min_sharpness: float = setting(
        20.0,
        "Probe faces less sharp than this (Laplacian variance) are refused (under 20 LFW "
        "probes miss 2.2x as many true matches; 'facesearch eval quality').",
        "probe_min_sharpness",
    )
    max_yaw: float = setting(
        50.0, "Probe faces turned further than this (degrees) are refused.", "probe_max_yaw"
    )
    retention_days: int = setting(
        30,
        "Days a searched or verified probe image is kept (named by its sha256 in the audit "
        "trail) so a match can be re-checked; then its bytes are deleted.",
        "probe_retention_days",
    )


@dataclass(frozen=True)
class ServerSettings(Group):
    max_upload_bytes: int = setting(
        25 * 1024 * 1024,
        "Largest request body the server accepts, in bytes (search, verify, every form); "
        "larger is refused with 413.",
        "server_max_upload_bytes",
    )
    max_ingest_bytes: int = setting(
        2 * 1024 * 1024 * 1024,
        "Largest ingest upload (images or zip/tar archives in one request), in bytes; larger "
        "is refused with 413.",
        "server_max_ingest_bytes",
    )
    rate_limit: int = setting(
        600,
        "Requests per minute per user (per client address before login) before the server "
        "answers 429; short bursts of up to this many are allowed. 0 = no limit.",
        "server_rate_limit",
    )
    login_rate_limit: int = setting(
        30,
        "Login attempts per minute per client address before the server answers 429.",
        "server_login_rate_limit",
    )
    request_timeout: float = setting(
        60.0,
        "Seconds a request may take (waiting for the engine included) before the server "
        "answers 503; uploads to ingest are exempt.",
        "server_request_timeout",
    )
    trusted_proxies: str = setting(
        "",
        "Comma-separated addresses (or CIDR networks) of reverse proxies whose "
        "X-Forwarded-For / X-Forwarded-Proto headers are believed; empty = none, the client "
        "address is the socket's peer.",
        "trusted_proxies",
    )
    max_analyses: int = setting(
        0,
        "Probe analyses (decode + detect + embed) running or queued at once in the server; "
        "more are refused with 503 and Retry-After. 0 = 32 per CPU core. A queued analysis "
        "holds its upload (at most server_max_upload_bytes).",
        "server_max_analyses",
    )
    analysis_processes: str = setting(
        "auto",
        "Processes that analyse probe photos (decode + detect + embed) beside the server "
        "process, each with its own models: a count, or auto = one fewer than the CPU cores "
        "where there are at least two (none on a GPU runtime); 0 = analyse on threads in the "
        "server process.",
        "server_analysis_processes",
    )
    max_analyses_per_user: int = setting(
        2,
        "Probe analyses one user may have running or queued at once; more are refused with "
        "429 and Retry-After. 0 = no limit per user (the total cap still holds).",
        "server_max_analyses_per_user",
    )
    read_rate_limit: int = setting(
        120,
        "Reads of personal data (probe photos, face crops, gallery images, search records, "
        "subject exports) per minute per user before the server answers 429. 0 = no limit.",
        "server_read_rate_limit",
    )
    min_free_bytes: int = setting(
        256 * 1024 * 1024,
        "Free bytes on the home's disk below which /health answers 503 (storage nearly full: "
        "ingest and the audit trail would fail); an upload job unpacks no archive member "
        "that would take the disk below it.",
        "server_min_free_bytes",
    )


@dataclass(frozen=True)
class AccountSettings(Group):
    min_password_length: int = setting(
        MIN_PASSWORD_LENGTH,
        "Shortest password accepted for a user account (at least 8).",
        "min_password_length",
    )
    min_password_score: int = setting(
        3,
        "Lowest zxcvbn strength score (0..4) a new password must reach; common passwords "
        "from the shipped list are refused whatever their score.",
        "min_password_score",
    )
    login_max_failures: int = setting(
        5,
        "Failed logins for one name from one address within 15 minutes that lock that name "
        "for that address: 1 minute, doubling with each further lock, at most an hour.",
        "login_max_failures",
    )
    session_idle_minutes: int = setting(
        30, "A browser session unused for this many minutes ends.", "session_idle_minutes"
    )
    session_lifetime_hours: int = setting(
        12,
        "A browser session ends this many hours after login, used or not.",
        "session_lifetime_hours",
    )
    token_lifetime_days: int = setting(
        90,
        "An API token stops working this many days after it was issued, or at the expiry it "
        "was given when issued, whichever comes first. 0 = tokens issued from now on never "
        "expire (it does not lengthen tokens issued before). Tokens from a home made before "
        "token expiry existed expire this many days after issue: those older stop working at "
        "once.",
        "token_lifetime_days",
    )
    training_required: bool = setting(
        True,
        "Users pass the in-app training and its quiz (renewed yearly) before their first "
        "search or verification. Off only for a pilot: every search then says in the audit "
        "trail that training was not required.",
        "training_required",
    )


@dataclass(frozen=True)
class AuditSettings(Group):
    key_file: Path | None = setting(
        None,
        "Secret key (HMAC) that signs every audit entry; keep it outside the home. Unset: a "
        "key file in the user's config folder (XDG_CONFIG_HOME/facesearch), made on first use "
        "with mode 0600.",
        "audit_key_file",
    )
    anchor_file: Path | None = setting(
        None,
        "Append-only file outside the home that records every new audit-chain head, so that "
        "'audit verify' catches an appended, rewritten or truncated chain. Unset: a file in "
        "the user's state folder (XDG_STATE_HOME/facesearch).",
        "audit_anchor_file",
    )


GROUPS: dict[str, type[Group]] = {
    "models": ModelSettings,
    "limits": LimitSettings,
    "index": IndexSettings,
    "matching": MatchingSettings,
    "probe": ProbeSettings,
    "server": ServerSettings,
    "accounts": AccountSettings,
    "audit": AuditSettings,
}
