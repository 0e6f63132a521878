"""CLI commands of the gallery: ingest, search, forget, stats, export, reindex, eval lfw-1n."""

from __future__ import annotations

import argparse
from typing import Any


def add_case_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--case", help="case number this use belongs to (required once accounts exist)")
    p.add_argument("--purpose", help="stated purpose of this use (required once accounts exist)")


def add_eval_parsers(ev: Any) -> None:
    return None


def add_parsers(sub: Any) -> None:
    return None
