"""CLI commands that check what facesearch says about its own reliability: ``eval fmr-check``
(does the FMR shown understate, on held-out and degraded LFW?) and ``eval quality`` (misses
and false matches by probe quality). They join the ``eval`` command of ``cli.evaluate``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from facesearch.app.analyse import open_pipeline
from facesearch.cli.common import Cli

__all__ = ["add_parsers"]


def add_parsers(sub: Any) -> None:
    ev = _eval_protocols(sub)
    q = ev.add_parser("fmr-check", help="is the FMR shown conservative? held-out and degraded LFW")
    q.add_argument("--data", type=Path, help="LFW folder (default: setting lfw_dir)")
    q.add_argument("--people", type=int, help="only the first N people by name (quick check)")
    q.add_argument(
        "--fused", action="store_true", help="check the fused score's table (what verify shows)"
    )
    q.set_defaults(handler=cmd_fmr_check)
    q = ev.add_parser("quality", help="FNMR and FMR by probe size, sharpness and yaw on LFW")
    q.add_argument("--data", type=Path, help="LFW folder (default: setting lfw_dir)")
    q.add_argument("--people", type=int, help="only the first N held-out people (quick)")
    q.add_argument("--max-fmr", type=float, help="threshold's FMR (default: verify_max_fmr)")
    q.add_argument("--out", type=Path, help="write the table as JSON (data/quality-<model>.json)")
    q.set_defaults(handler=cmd_quality)


def _eval_protocols(sub: Any) -> Any:
    """The sub-commands of ``eval`` (made by ``cli.evaluate``, which is registered first)."""
    parser: argparse.ArgumentParser = sub.choices["eval"]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    raise LookupError("the eval command has no protocols")


def cmd_fmr_check(args: argparse.Namespace, cli: Cli) -> int:
    from facesearch.evaluation import fmr_check

    data: Path = args.data or cli.settings.lfw_dir
    with open_pipeline(cli.settings, pipelines=cli.pipelines) as pipeline:
        result = fmr_check.on_lfw(
            pipeline, data, people=args.people, progress=True, fused=args.fused
        )
    print(fmr_check.describe(result))
    return 0 if result.passed else 1


def cmd_quality(args: argparse.Namespace, cli: Cli) -> int:
    import json

    from facesearch.core.calibration import load_table
    from facesearch.evaluation import quality_buckets

    data: Path = args.data or cli.settings.lfw_dir
    max_fmr: float = args.max_fmr or cli.settings.matching.verify_max_fmr
    with open_pipeline(cli.settings, pipelines=cli.pipelines) as pipeline:
        table = load_table(pipeline.model_id, cli.settings.models.calibration_file)
        result = quality_buckets.on_lfw(
            pipeline, data, table, max_fmr=max_fmr, people=args.people, progress=True
        )
    print(quality_buckets.describe(result))
    if args.out:
        args.out.write_text(json.dumps(result.as_dict(), indent=1) + "\n")
        print(f"written {args.out}")
    return 0
