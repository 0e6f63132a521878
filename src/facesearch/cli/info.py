"""CLI commands that describe the installation: models (the registry, digests checked) and
settings (every setting and its environment variable)."""

from __future__ import annotations

import argparse
from typing import Any

from facesearch.cli.common import Cli, emit
from facesearch.errors import FaceSearchError
from facesearch.settings import Settings

__all__ = ["add_parsers"]


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("models", help="list the registered models")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_models)

    p = sub.add_parser("settings", help="list every setting and its environment variable")
    p.set_defaults(handler=cmd_settings)


def cmd_models(args: argparse.Namespace, cli: Cli) -> int:
    from facesearch.models.registry import ModelRegistry, locate
    from facesearch.models.runtime import available_runtimes, choose_runtime

    registry = ModelRegistry(cli.settings)
    rows = []
    for spec in registry.specs():
        info = spec.as_dict()
        try:
            info["path"] = str(locate(spec))
            info["status"] = "ok (sha256 verified)"
        except FaceSearchError as exc:
            info["status"] = f"unavailable: {exc}"
        rows.append(info)
    if args.json:
        for row in rows:
            emit(row)
        return 0
    runtime = choose_runtime(cli.settings)
    print(f"runtimes installed: {', '.join(available_runtimes())}; in use: {runtime}")
    for row in rows:
        print(f"{row['name']:<10} {row['task']:<9} {row['model_id']}")
        print(f"    sha256 {row['sha256']}")
        print(f"    from   {row.get('path', row['source'])}")
        print(f"    status {row['status']}")
    return 0


def cmd_settings(args: argparse.Namespace, cli: Cli) -> int:
    for env, default, doc in Settings.describe():
        print(f"{env}\n    {doc}\n    default: {default}")
    return 0
