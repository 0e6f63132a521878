"""CLI commands that describe the installation: models (the registry, digests checked) and
settings (every setting and its environment variable)."""

from __future__ import annotations

import argparse
from typing import Any

from facesearch.app.analyse import model_status, runtimes
from facesearch.cli.common import Cli, emit
from facesearch.settings import Settings

__all__ = ["add_parsers"]


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("models", help="list the registered models")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_models)

    p = sub.add_parser("settings", help="list every setting and its environment variable")
    p.set_defaults(handler=cmd_settings)


def cmd_models(args: argparse.Namespace, cli: Cli) -> int:
    models = model_status(cli.settings)
    if args.json:
        for model in models:
            emit(model.as_json())
        return 0
    found = runtimes(cli.settings)
    print(f"runtimes installed: {', '.join(found.installed)}; in use: {found.in_use}")
    for model in models:
        row = model.spec
        print(f"{row['name']:<12} {row['task']:<9} {row['model_id']}")
        print(f"    sha256 {row['sha256']}")
        print(f"    from   {model.path or row['source']}")
        print(f"    status {model.status}")
    return 0


def cmd_settings(args: argparse.Namespace, cli: Cli) -> int:
    for env, default, doc in Settings.describe():
        print(f"{env}\n    {doc}\n    default: {default}")
    return 0
