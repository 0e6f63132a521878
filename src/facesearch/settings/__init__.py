"""The one settings object, in groups. Built once (``Settings.from_env()``) and passed in.

    settings = Settings.from_env()                # FACESEARCH_* variables, then defaults
    settings.models.detector, settings.limits.max_pixels, settings.server.rate_limit
    settings.replace(index_kind="flat")           # a changed copy, by the setting's key

Every setting has a key (``index_kind``), an environment variable (``FACESEARCH_INDEX_KIND``)
and a description; ``facesearch settings`` prints them all. A ``Settings`` is validated and its
paths have ``~`` expanded when it is built, however it is built (``__post_init__``): the one
place where settings are checked is ``checks.validate``. The groups and their settings are
declared in ``groups.py``.
"""

from __future__ import annotations

import dataclasses
import os
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from facesearch.errors import ConfigError
from facesearch.settings.checks import env_name, parse, trusted_networks, validate
from facesearch.settings.groups import (
    GROUPS,
    INDEX_KINDS,
    MIN_PASSWORD_LENGTH,
    PRECISIONS,
    RUNTIMES,
    AccountSettings,
    AuditSettings,
    Group,
    IndexSettings,
    LimitSettings,
    MatchingSettings,
    ModelSettings,
    ProbeSettings,
    ServerSettings,
    cache_home,
    data_home,
    setting,
)
from facesearch.sqlstore.target import without_password

__all__ = [
    "INDEX_KINDS",
    "MIN_PASSWORD_LENGTH",
    "PRECISIONS",
    "RUNTIMES",
    "AccountSettings",
    "AuditSettings",
    "IndexSettings",
    "LimitSettings",
    "MatchingSettings",
    "ModelSettings",
    "ProbeSettings",
    "ServerSettings",
    "Settings",
    "trusted_networks",
]


@dataclass(frozen=True)
class Settings(Group):
    home: Path = setting(
        None,
        "Folder holding the catalog (SQLite) and the vector index files.",
        "home",
        factory=data_home,
    )
    cache_dir: Path = setting(
        None,
        "Folder for derived files: dequantised models, compiled-model cache, evaluation "
        "embedding caches. Safe to delete.",
        "cache_dir",
        factory=cache_home,
    )
    database_url: str = setting(
        "",
        "Where the catalog, accounts, sessions and audit trail live: unset, SQLite files in the "
        "home; postgresql://USER@HOST[:PORT]/DATABASE, one PostgreSQL database shared by "
        "every replica.",
        "database_url",
    )
    ray_address: str = setting(
        "",
        "Where a scan of the whole catalog runs (an erasure like a photo, its preview in the "
        "web UI, forget --like without --ray): unset, in this process; auto, a local Ray "
        "cluster started for the scan; HOST:PORT or ray://HOST:PORT, an existing Ray "
        "cluster's head (its workers get the home and database_url: PostgreSQL for a cluster "
        "of several machines).",
        "ray_address",
    )
    lfw_dir: Path = setting(
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
        validate(self)

    @classmethod
    def from_env(cls, env: typing.Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """The settings of FACESEARCH_* variables (``env``, default the process's), then
        ``overrides`` by key (``index_kind="flat"``); None overrides are ignored."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for key, (_, _field, kind) in _KEYS.items():
            raw = env.get(env_name(key), "")
            if raw != "":
                values[key] = parse(key, kind, raw)
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

    def shown_value(self, key: str, *, host: bool = True) -> Any:
        """``value(key)`` as an admin may read it (``GET /api/v1/settings``): a URL
        (``database_url``, ``vectors_url``) without its password, behind which every
        organisation's data is. ``host=False`` (an organisation's admin, not the host's):
        ``HOST_ONLY`` for where the deployment keeps its files and which machines it talks
        to (every path, the database and vector store URLs, the trusted proxies)."""
        if not host and _host_only(key):
            return HOST_ONLY
        value = self.value(key)
        return without_password(value) if isinstance(value, str) else value

    @staticmethod
    def describe() -> list[tuple[str, str, str]]:
        """(environment variable, default, description) for every setting."""
        defaults = Settings()
        return [
            (env_name(key), str(defaults.value(key)), f.metadata["doc"])
            for key, (_, f, _) in _KEYS.items()
        ]

    @staticmethod
    def keys() -> list[str]:
        return list(_KEYS)


def _keys() -> dict[str, tuple[str | None, dataclasses.Field[Any], Any]]:
    """key -> (group or None, field, its type) for every setting."""
    out: dict[str, tuple[str | None, dataclasses.Field[Any], Any]] = {}
    hints = typing.get_type_hints(Settings)
    for f in fields(Settings):
        if f.name in GROUPS:
            group_hints = typing.get_type_hints(GROUPS[f.name])
            for g in fields(GROUPS[f.name]):  # type: ignore[arg-type]
                out[g.metadata["key"]] = (f.name, g, group_hints[g.name])
        else:
            out[f.metadata["key"]] = (None, f, hints[f.name])
    return out


_KEYS = _keys()

HOST_ONLY = "(the host's: not shown to an organisation)"
_HOST_ONLY_URLS = frozenset({"database_url", "vectors_url", "trusted_proxies", "ray_address"})


def _host_only(key: str) -> bool:
    """Whether setting ``key`` says where the deployment's files are or which machines it
    talks to: a path (or optional path), or one of ``_HOST_ONLY_URLS``."""
    kind = _KEYS[key][2]
    return key in _HOST_ONLY_URLS or kind is Path or Path in typing.get_args(kind)
