"""CLI command of erasures' aftermath: what the vector store has yet to remove from its disk.

    facesearch erasure status [--json]

``forget`` (in ``gallery``) erases; with Milvus the server removes erased vectors from its
files later (compaction, garbage collection), and this lists those pending physical deletions
(with FAISS files there are none, and it says why). Not logged: it reads no personal data.
"""

from __future__ import annotations

import argparse
from typing import Any

from facesearch.app import erasure_status
from facesearch.cli.common import Cli, emit

__all__ = ["add_parsers"]


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("erasure", help="erasures: what the vector store has yet to remove")
    actions = p.add_subparsers(title="actions", metavar="ACTION", required=True)
    q = actions.add_parser("status", help="pending physical deletions of erased vectors")
    q.add_argument("--json", action="store_true")
    q.set_defaults(handler=cmd_erasure_status)


def cmd_erasure_status(args: argparse.Namespace, cli: Cli) -> int:
    with cli.local() as local:
        status = erasure_status(local.engine, local.store, local.actor)
    if args.json:
        emit(status.as_json())
    else:
        print("\n".join(status.lines()))
    return 0
