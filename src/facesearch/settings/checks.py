"""Reading a setting from its variable, and every check of every setting, in one place."""

from __future__ import annotations

import ipaddress
import math
import re
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Any

from facesearch.errors import ConfigError
from facesearch.settings.groups import INDEX_KINDS, MILVUS_INDEX_TYPES, PRECISIONS, RUNTIMES

if TYPE_CHECKING:
    from facesearch.settings import Settings


def env_name(key: str) -> str:
    return "FACESEARCH_" + key.upper()


def parse(key: str, kind: Any, raw: str) -> Any:
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
            f"{env_name(key)}: cannot read {raw!r} as {getattr(target, '__name__', target)}"
        ) from exc


def validate(s: Settings) -> None:
    """Every check of every setting, in one place."""
    m = s.models

    def one_of(value: str, allowed: tuple[str, ...], key: str) -> None:
        if value not in allowed:
            raise ConfigError(f"{key} must be {', '.join(allowed)}, not {value!r}")

    one_of(s.index.kind, INDEX_KINDS, "index_kind")
    _check_ray_address(s.ray_address)
    one_of(s.index.milvus_index, MILVUS_INDEX_TYPES, "milvus_index")
    one_of(m.runtime, RUNTIMES, "runtime")
    one_of(m.precision, PRECISIONS, "precision")
    for key, value in (
        ("det_score_threshold", m.det_score_threshold),
        ("nms_threshold", m.nms_threshold),
        ("verify_max_fmr", s.matching.verify_max_fmr),
        ("blocklist_max_fmr", s.matching.blocklist_max_fmr),
        ("blocklist_max_skip", s.matching.blocklist_max_skip),
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
        "milvus_nlist": s.index.milvus_nlist,
        "milvus_nprobe": s.index.milvus_nprobe,
        "milvus_ef": s.index.milvus_ef,
    }
    for key, value in not_negative.items():
        if value < 0:
            raise ConfigError(f"{key} must not be negative, not {value!r}")
    strangers = s.matching.erase_like_max_strangers
    if not (math.isfinite(strangers) and strangers >= 0):
        raise ConfigError(
            f"erase_like_max_strangers must be a number of faces, 0 or more, not {strangers!r}"
        )
    if not 2 <= s.index.milvus_hnsw_m <= 2048:
        raise ConfigError("milvus_hnsw_m must be between 2 and 2048")
    if s.accounts.min_password_length < 8:
        raise ConfigError("min_password_length must be at least 8")
    if not 0 <= s.accounts.min_password_score <= 4:
        raise ConfigError("min_password_score must be between 0 and 4")
    trusted_networks(s.server.trusted_proxies)
    processes = s.server.analysis_processes.strip().lower()
    if processes != "auto" and not (processes.isdigit() and int(processes) <= 256):
        raise ConfigError(
            "server_analysis_processes must be auto or a count from 0 to 256, "
            f"not {s.server.analysis_processes!r}"
        )


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


_HOST = re.compile(r"[A-Za-z0-9_.]([A-Za-z0-9_.-]*[A-Za-z0-9_])?|\[[0-9A-Fa-f:.]+\]")


def _check_ray_address(address: str) -> None:
    """``ray_address``: empty, ``auto``, or ``[ray://]HOST:PORT``: a host name, an IPv4
    address or a bracketed IPv6 one, and a port of ASCII digits (nothing else: no scheme,
    user, path or option-like text reaches ``ray.init``)."""
    if address in ("", "auto"):
        return
    host, _, port = address.removeprefix("ray://").rpartition(":")
    port_ok = port.isascii() and port.isdigit() and 0 < int(port) < 65536
    if not port_ok or _HOST.fullmatch(host) is None:
        raise ConfigError(
            f"ray_address must be empty, auto, or HOST:PORT (ray://HOST:PORT), not {address!r}"
        )
