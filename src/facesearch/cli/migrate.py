"""CLI command that moves an embedded home into the distributed deployment.

    facesearch --home HOME migrate --database-url postgresql://USER@HOST/DB
                                   [--vectors-url milvus://HOST:19530] [--json]

Copies the catalog, accounts, sessions, tokens, decisions, kept probes and the audit trail
into PostgreSQL, rebuilds the vectors into Milvus (or FAISS files per replica when
``--vectors-url`` is not given), verifies the trail there and prints what it did. The home is
not changed; re-running is safe (``app/migrate.py``).
"""

from __future__ import annotations

import argparse
from typing import Any

from facesearch.app.migrate import migrate, mismatched
from facesearch.cli.common import Cli, emit

__all__ = ["add_parsers"]


def add_parsers(sub: Any) -> None:
    p = sub.add_parser(
        "migrate", help="copy this embedded home into PostgreSQL (+ Milvus): moving house"
    )
    p.add_argument("--database-url", required=True, help="postgresql://USER@HOST[:PORT]/DB")
    p.add_argument(
        "--vectors-url",
        default="",
        help="milvus://HOST:PORT or a Milvus Lite .db path (default: FAISS in each home)",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_migrate)


def cmd_migrate(args: argparse.Namespace, cli: Cli) -> int:
    report = migrate(cli.settings, args.database_url, args.vectors_url)
    if args.json:
        emit(report.as_json())
    else:
        print("\n".join(report.lines()))
    return 0 if report.audit_ok and not mismatched(report) else 1
