"""The one settings object, in groups. Built once (``Settings.from_env()``) and passed in.

    settings = Settings.from_env()                # FACESEARCH_* variables, then defaults
    settings.models.detector, settings.limits.max_pixels, settings.server.rate_limit
    settings.replace(index_kind="flat")           # a changed copy, by the setting's key

Every setting has a key (``index_kind``), an environment variable (``FACESEARCH_INDEX_KIND``)
and a description; ``facesearch settings`` prints them all. A ``Settings`` is validated and its
paths have ``~`` expanded when it is built, however it is built (``__post_init__``): the one
place where settings are checked is ``_validate`` below.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from facesearch.errors import ConfigError

__all__ = [
    "AccountSettings",
    "AuditSettings",
    "IndexSettings",
    "LimitSettings",
    "MatchingSettings",
    "ModelSettings",
    "ProbeSettings",
    "ServerSettings",
    "Settings",
]

INDEX_KINDS = ("auto", "flat", "ivf", "numpy")
RUNTIMES = ("auto", "openvino", "onnxruntime")
PRECISIONS = ("auto", "bf16", "fp32")
MIN_PASSWORD_LENGTH = 12


def _data_home() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "facesearch"


def _cache_home() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "facesearch"


def _setting(default: Any, doc: str, key: str, *, factory: Any = None) -> Any:
    """A field with its description and its key (FACESEARCH_<KEY> is its variable)."""
    meta = {"doc": doc, "key": key}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


class _Group:
    """A group of settings: its paths have ``~`` expanded when it is built."""

    def __post_init__(self) -> None:
        for f in fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if isinstance(value, str) and typing.get_type_hints(type(self))[f.name] is not str:
                value = Path(value)  # a str given for a Path field
            if isinstance(value, Path):
                object.__setattr__(self, f.name, value.expanduser())


@dataclass(frozen=True)
class ModelSettings(_Group):
    dir: Path | None = _setting(
        None,
        "Optional folder of operator models: each model is NAME.onnx plus NAME.json "
        "(its spec: task, input size, normalisation, sha256).",
        "models_dir",
    )
    detector: str = _setting("yunet", "Name of the detector model.", "detector")
    embedder: str = _setting("sface", "Name of the embedder model.", "embedder")
    runtime: str = _setting(
        "auto", "Inference runtime: auto (fastest available), openvino or onnxruntime.", "runtime"
    )
    precision: str = _setting(
        "auto",
        "OpenVINO inference precision: auto (bf16 where the CPU supports it), bf16 or fp32.",
        "precision",
    )
    threads: int = _setting(0, "Inference threads per model; 0 = the runtime's default.", "threads")
    batch_size: int = _setting(32, "Faces embedded per inference call.", "batch_size")
    detect_max_side: int = _setting(
        640,
        "Images are downscaled so that their longer side is at most this for detection.",
        "detect_max_side",
    )
    det_score_threshold: float = _setting(
        0.7, "Detector score below which a face is dropped (0..1).", "det_score_threshold"
    )
    nms_threshold: float = _setting(
        0.3, "IoU above which overlapping detections are merged.", "nms_threshold"
    )
    min_face_size: int = _setting(
        20,
        "Faces whose shorter box side is smaller than this (pixels) are dropped.",
        "min_face_size",
    )
    flip_average: bool = _setting(
        False,
        "Average the embeddings of the face and its mirror image (off: it did not help on "
        "LFW, see the README).",
        "flip_average",
    )
    calibration_file: Path | None = _setting(
        None,
        "Calibration table (JSON from 'facesearch calibrate') to use instead of the one "
        "shipped for the embedder.",
        "calibration_file",
    )


@dataclass(frozen=True)
class LimitSettings(_Group):
    max_file_bytes: int = _setting(
        50 * 1024 * 1024, "Largest image file accepted, in bytes.", "max_file_bytes"
    )
    max_pixels: int = _setting(
        80_000_000,
        "Largest image accepted, in pixels (decompression-bomb guard).",
        "max_pixels",
    )


@dataclass(frozen=True)
class IndexSettings(_Group):
    kind: str = _setting(
        "auto",
        "Vector index per collection: auto (exact FAISS, approximate IVF-PQ past "
        "index_approx_threshold faces), flat (always exact), ivf, or numpy (reference).",
        "index_kind",
    )
    approx_threshold: int = _setting(
        200_000,
        "With index_kind=auto: faces in a collection past which search is approximate.",
        "index_approx_threshold",
    )


@dataclass(frozen=True)
class MatchingSettings(_Group):
    top: int = _setting(10, "Candidates returned per probe face.", "search_top")
    verify_max_fmr: float = _setting(
        1e-3,
        "False match rate at which verify's default threshold is set, read from the "
        "calibration table.",
        "verify_max_fmr",
    )
    blocklist_max_fmr: float = _setting(
        1e-4,
        "A new face matching an erasure-blocklist entry at this false match rate or rarer is "
        "skipped at ingest; forget --like uses it too.",
        "blocklist_max_fmr",
    )


@dataclass(frozen=True)
class ProbeSettings(_Group):
    min_face_size: int = _setting(
        32,
        "Probe faces smaller than this (pixels, shorter box side) are refused.",
        "probe_min_face_size",
    )
    min_sharpness: float = _setting(
        10.0,
        "Probe faces less sharp than this (Laplacian variance) are refused.",
        "probe_min_sharpness",
    )
    max_yaw: float = _setting(
        50.0, "Probe faces turned further than this (degrees) are refused.", "probe_max_yaw"
    )
    retention_days: int = _setting(
        30,
        "Days a searched or verified probe image is kept (named by its sha256 in the audit "
        "trail) so a match can be re-checked; then its bytes are deleted.",
        "probe_retention_days",
    )


@dataclass(frozen=True)
class ServerSettings(_Group):
    max_upload_bytes: int = _setting(
        25 * 1024 * 1024,
        "Largest request body the server accepts, in bytes (search, verify, every form); "
        "larger is refused with 413.",
        "server_max_upload_bytes",
    )
    max_ingest_bytes: int = _setting(
        2 * 1024 * 1024 * 1024,
        "Largest ingest upload (images or zip/tar archives in one request), in bytes; larger "
        "is refused with 413.",
        "server_max_ingest_bytes",
    )
    rate_limit: int = _setting(
        600,
        "Requests per minute per user (per client address before login) before the server "
        "answers 429; short bursts of up to this many are allowed. 0 = no limit.",
        "server_rate_limit",
    )
    login_rate_limit: int = _setting(
        30,
        "Login attempts per minute per client address before the server answers 429.",
        "server_login_rate_limit",
    )
    request_timeout: float = _setting(
        60.0,
        "Seconds a request may take (waiting for the engine included) before the server "
        "answers 503; uploads to ingest are exempt.",
        "server_request_timeout",
    )
    trusted_proxies: str = _setting(
        "",
        "Comma-separated addresses (or CIDR networks) of reverse proxies whose "
        "X-Forwarded-For / X-Forwarded-Proto headers are believed; empty = none, the client "
        "address is the socket's peer.",
        "trusted_proxies",
    )
    max_analyses: int = _setting(
        0,
        "Probe analyses (decode + detect + embed) running or queued at once in the server; "
        "more are refused with 503 and Retry-After. 0 = twice the number of CPU cores.",
        "server_max_analyses",
    )
    max_analyses_per_user: int = _setting(
        2,
        "Probe analyses one user may have running or queued at once; more are refused with "
        "429 and Retry-After. 0 = no limit per user (the total cap still holds).",
        "server_max_analyses_per_user",
    )
    read_rate_limit: int = _setting(
        120,
        "Reads of personal data (probe photos, face crops, gallery images, search records, "
        "subject exports) per minute per user before the server answers 429. 0 = no limit.",
        "server_read_rate_limit",
    )
    min_free_bytes: int = _setting(
        256 * 1024 * 1024,
        "Free bytes on the home's disk below which /health answers 503 (storage nearly full: "
        "ingest and the audit trail would fail).",
        "server_min_free_bytes",
    )


@dataclass(frozen=True)
class AccountSettings(_Group):
    min_password_length: int = _setting(
        MIN_PASSWORD_LENGTH,
        "Shortest password accepted for a user account (at least 8).",
        "min_password_length",
    )
    min_password_score: int = _setting(
        3,
        "Lowest zxcvbn strength score (0..4) a new password must reach; common passwords "
        "from the shipped list are refused whatever their score.",
        "min_password_score",
    )
    login_max_failures: int = _setting(
        5,
        "Failed logins for one name from one address within 15 minutes that lock that name "
        "for that address: 1 minute, doubling with each further lock, at most an hour.",
        "login_max_failures",
    )
    session_idle_minutes: int = _setting(
        30, "A browser session unused for this many minutes ends.", "session_idle_minutes"
    )
    session_lifetime_hours: int = _setting(
        12,
        "A browser session ends this many hours after login, used or not.",
        "session_lifetime_hours",
    )
    token_lifetime_days: int = _setting(
        90,
        "An API token stops working this many days after it was issued, or at the expiry it "
        "was given when issued, whichever comes first. 0 = tokens issued from now on never "
        "expire (it does not lengthen tokens issued before). Tokens from a home made before "
        "token expiry existed expire this many days after issue: those older stop working at "
        "once.",
        "token_lifetime_days",
    )


@dataclass(frozen=True)
class AuditSettings(_Group):
    key_file: Path | None = _setting(
        None,
        "Secret key (HMAC) that signs every audit entry; keep it outside the home. Unset: a "
        "key file in the user's config folder (XDG_CONFIG_HOME/facesearch), made on first use "
        "with mode 0600.",
        "audit_key_file",
    )
    anchor_file: Path | None = _setting(
        None,
        "Append-only file outside the home that records every new audit-chain head, so that "
        "'audit verify' catches an appended, rewritten or truncated chain. Unset: a file in "
        "the user's state folder (XDG_STATE_HOME/facesearch).",
        "audit_anchor_file",
    )


_GROUPS: dict[str, type[_Group]] = {
    "models": ModelSettings,
    "limits": LimitSettings,
    "index": IndexSettings,
    "matching": MatchingSettings,
    "probe": ProbeSettings,
    "server": ServerSettings,
    "accounts": AccountSettings,
    "audit": AuditSettings,
}


@dataclass(frozen=True)
class Settings(_Group):
    home: Path = _setting(
        None,
        "Folder holding the catalog (SQLite) and the vector index files.",
        "home",
        factory=_data_home,
    )
    cache_dir: Path = _setting(
        None,
        "Folder for derived files: dequantised models, compiled-model cache, evaluation "
        "embedding caches. Safe to delete.",
        "cache_dir",
        factory=_cache_home,
    )
    lfw_dir: Path = _setting(
        None,
        "LFW data folder (lfw-deepfunneled/ and pairs.txt) for eval and tests.",
        "lfw_dir",
        factory=lambda: Path("../shared/data/lfw"),
    )
    models: ModelSettings = field(default_factory=ModelSettings)
    limits: LimitSettings = field(default_factory=LimitSettings)
    index: IndexSettings = field(default_factory=IndexSettings)
    matching: MatchingSettings = field(default_factory=MatchingSettings)
    probe: ProbeSettings = field(default_factory=ProbeSettings)
    server: ServerSettings = field(default_factory=ServerSettings)
    accounts: AccountSettings = field(default_factory=AccountSettings)
    audit: AuditSettings = field(default_factory=AuditSettings)

    def __post_init__(self) -> None:
        super().__post_init__()
        _validate(self)

    @classmethod
    def from_env(cls, env: typing.Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """The settings of FACESEARCH_* variables (``env``, default the process's), then
        ``overrides`` by key (``index_kind="flat"``); None overrides are ignored."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for key, (_, _field, kind) in _KEYS.items():
            raw = env.get(_env_name(key), "")
            if raw != "":
                values[key] = _parse(key, kind, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        return Settings().replace(**values)

    def replace(self, **changes: Any) -> Settings:
        """A copy with settings changed by key; ConfigError for an unknown key or bad value."""
        unknown = sorted(set(changes) - set(_KEYS))
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(unknown)}")
        top: dict[str, Any] = {}
        groups: dict[str, dict[str, Any]] = {}
        for key, value in changes.items():
            group, f, _ = _KEYS[key]
            if group is None:
                top[f.name] = value
            else:
                groups.setdefault(group, {})[f.name] = value
        for group, values in groups.items():
            top[group] = dataclasses.replace(getattr(self, group), **values)
        return dataclasses.replace(self, **top)

    def value(self, key: str) -> Any:
        """The value of the setting ``key`` (``index_kind`` -> ``settings.index.kind``)."""
        group, f, _ = _KEYS[key]
        return getattr(self if group is None else getattr(self, group), f.name)

    @staticmethod
    def describe() -> list[tuple[str, str, str]]:
        """(environment variable, default, description) for every setting."""
        defaults = Settings()
        return [
            (_env_name(key), str(defaults.value(key)), f.metadata["doc"])
            for key, (_, f, _) in _KEYS.items()
        ]

    @staticmethod
    def keys() -> list[str]:
        return list(_KEYS)


def _env_name(key: str) -> str:
    return "FACESEARCH_" + key.upper()


def _keys() -> dict[str, tuple[str | None, dataclasses.Field[Any], Any]]:
    """key -> (group or None, field, its type) for every setting."""
    out: dict[str, tuple[str | None, dataclasses.Field[Any], Any]] = {}
    hints = typing.get_type_hints(Settings)
    for f in fields(Settings):
        if f.name in _GROUPS:
            group_hints = typing.get_type_hints(_GROUPS[f.name])
            for g in fields(_GROUPS[f.name]):  # type: ignore[arg-type]
                out[g.metadata["key"]] = (f.name, g, group_hints[g.name])
        else:
            out[f.metadata["key"]] = (None, f, hints[f.name])
    return out


def _parse(key: str, kind: Any, raw: str) -> Any:
    base = [t for t in typing.get_args(kind) if t is not type(None)] or [kind]
    target = base[0]
    try:
        if target is Path:
            return Path(raw)
        if target is bool:
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        return target(raw)
    except ValueError as exc:
        raise ConfigError(
            f"{_env_name(key)}: cannot read {raw!r} as {getattr(target, '__name__', target)}"
        ) from exc


def _validate(s: Settings) -> None:
    """Every check of every setting, in one place."""
    m = s.models

    def one_of(value: str, allowed: tuple[str, ...], key: str) -> None:
        if value not in allowed:
            raise ConfigError(f"{key} must be {', '.join(allowed)}, not {value!r}")

    one_of(s.index.kind, INDEX_KINDS, "index_kind")
    one_of(m.runtime, RUNTIMES, "runtime")
    one_of(m.precision, PRECISIONS, "precision")
    for key, value in (
        ("det_score_threshold", m.det_score_threshold),
        ("nms_threshold", m.nms_threshold),
        ("verify_max_fmr", s.matching.verify_max_fmr),
        ("blocklist_max_fmr", s.matching.blocklist_max_fmr),
    ):
        if not 0.0 < value < 1.0:
            raise ConfigError(f"{key} must be between 0 and 1, not {value!r}")
    positive = {
        "batch_size": m.batch_size,
        "max_file_bytes": s.limits.max_file_bytes,
        "max_pixels": s.limits.max_pixels,
        "detect_max_side": m.detect_max_side,
        "index_approx_threshold": s.index.approx_threshold,
        "search_top": s.matching.top,
        "probe_retention_days": s.probe.retention_days,
        "server_max_upload_bytes": s.server.max_upload_bytes,
        "server_max_ingest_bytes": s.server.max_ingest_bytes,
        "server_login_rate_limit": s.server.login_rate_limit,
        "server_request_timeout": s.server.request_timeout,
        "login_max_failures": s.accounts.login_max_failures,
        "session_idle_minutes": s.accounts.session_idle_minutes,
        "session_lifetime_hours": s.accounts.session_lifetime_hours,
    }
    for key, value in positive.items():
        if value <= 0:
            raise ConfigError(f"{key} must be positive, not {value!r}")
    not_negative = {
        "min_face_size": m.min_face_size,
        "threads": m.threads,
        "probe_min_face_size": s.probe.min_face_size,
        "probe_min_sharpness": s.probe.min_sharpness,
        "probe_max_yaw": s.probe.max_yaw,
        "server_rate_limit": s.server.rate_limit,
        "server_max_analyses": s.server.max_analyses,
        "server_max_analyses_per_user": s.server.max_analyses_per_user,
        "server_read_rate_limit": s.server.read_rate_limit,
        "server_min_free_bytes": s.server.min_free_bytes,
        "token_lifetime_days": s.accounts.token_lifetime_days,
    }
    for key, value in not_negative.items():
        if value < 0:
            raise ConfigError(f"{key} must not be negative, not {value!r}")
    if s.accounts.min_password_length < 8:
        raise ConfigError("min_password_length must be at least 8")
    if not 0 <= s.accounts.min_password_score <= 4:
        raise ConfigError("min_password_score must be between 0 and 4")
    trusted_networks(s.server.trusted_proxies)


def trusted_networks(text: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """The ``trusted_proxies`` setting read: comma-separated addresses or CIDR networks."""
    networks = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError as exc:
            raise ConfigError(
                f"trusted_proxies: {item!r} is not an IP address or network "
                "(e.g. 127.0.0.1, 10.0.0.0/8, ::1)"
            ) from exc
    return tuple(networks)


_KEYS = _keys()
