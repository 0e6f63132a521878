"""CLI commands of a catalog whose PostgreSQL database is a copy or a move of the one it was
made in (``app/catalog.py``):

    facesearch catalog fork     a copy (staging, tests): a catalog of its own, with its own
                                vectors built from it; the original's are untouched
    facesearch catalog adopt    a move of the one deployment (the old database no longer
                                used): this database recorded, the vectors kept

Until one of them runs, such a catalog does not open its Milvus collection (the error names
both). Each refuses a catalog in the database it was made in, and is an audit entry.
"""

from __future__ import annotations

import argparse
from typing import Any

from facesearch.app import catalog as app_catalog
from facesearch.cli.common import Cli

__all__ = ["add_parsers"]


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("catalog", help="a catalog in a copied or moved PostgreSQL database")
    actions = p.add_subparsers(title="actions", metavar="ACTION", required=True)
    q = actions.add_parser(
        "fork", help="this database is a copy: make it a catalog of its own (own vectors)"
    )
    q.set_defaults(handler=cmd_fork)
    q = actions.add_parser(
        "adopt", help="the deployment moved to this database: record it, keep the vectors"
    )
    q.set_defaults(handler=cmd_adopt)


def cmd_fork(args: argparse.Namespace, cli: Cli) -> int:
    with cli.local() as local:
        move = app_catalog.fork(local.engine, local.store, local.actor)
    print("\n".join(move.lines()))
    return 0


def cmd_adopt(args: argparse.Namespace, cli: Cli) -> int:
    with cli.local() as local:
        move = app_catalog.adopt(local.engine, local.store, local.actor)
    print("\n".join(move.lines()))
    return 0
