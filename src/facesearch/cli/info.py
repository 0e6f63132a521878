"""CLI commands that describe the installation: models (the registry, digests checked) and
settings (every setting and its environment variable)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from facesearch.app.analyse import model_status, providers, runtimes
from facesearch.app.quantize import precision_status, quantize_models
from facesearch.cli.common import Cli, emit
from facesearch.settings import Settings

__all__ = ["add_parsers"]


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("models", help="list the registered models and the precision each runs at")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_models)
    steps = p.add_subparsers(dest="step", metavar="STEP")
    q = steps.add_parser(
        "quantize",
        help="build the int8 detector and embedder into the cache (NNCF; calibrated on LFW "
        "people absent from pairs.txt)",
    )
    q.add_argument("--data", type=Path, help="LFW folder (default: setting lfw_dir)")
    q.add_argument("--count", type=int, default=300, help="calibration photos (default 300)")
    q.set_defaults(handler=cmd_quantize)

    p = sub.add_parser("settings", help="list every setting and its environment variable")
    p.set_defaults(handler=cmd_settings)


def cmd_models(args: argparse.Namespace, cli: Cli) -> int:
    models = model_status(cli.settings)
    if args.json:
        runs_at = {p.model: p.as_json() for p in precision_status(cli.settings)}
        for model in models:
            emit({**model.as_json(), "precision": runs_at.get(str(model.spec["name"]))})
        return 0
    found = runtimes(cli.settings)
    print(f"runtimes installed: {', '.join(found.installed)}; in use: {found.in_use}")
    if found.in_use != "openvino":
        gpu = providers(cli.settings)
        state = " > ".join(gpu.providers) if gpu.usable else "not available"
        print(f"ONNX Runtime providers: {state} ({gpu.reason})")
    precisions = precision_status(cli.settings)
    kind = precisions[0].cpu_kind if precisions else "unknown"
    print(f"precision setting: {cli.settings.models.precision}; CPU kind: {kind}")
    for p in precisions:
        built = f"int8 build {p.int8_file}" if p.int8_file else "no int8 build"
        print(f"  {p.model:<12} runs at {p.precision}: {p.reason} ({built})")
    for model in models:
        row = model.spec
        print(f"{row['name']:<12} {row['task']:<9} {row['model_id']}")
        print(f"    sha256 {row['sha256']}")
        print(f"    from   {model.path or row['source']}")
        print(f"    status {model.status}")
    return 0


def cmd_quantize(args: argparse.Namespace, cli: Cli) -> int:
    lfw = args.data or cli.settings.lfw_dir
    for built in quantize_models(cli.settings, lfw, args.count):
        print(f"{built.provenance.model:<12} int8 -> {built.path}")
        print(f"    {built.provenance.calibration}; {built.provenance.samples} inputs")
    return 0


def cmd_settings(args: argparse.Namespace, cli: Cli) -> int:
    for env, default, doc in Settings.describe():
        print(f"{env}\n    {doc}\n    default: {default}")
    return 0
