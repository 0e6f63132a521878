"""CLI commands of the audit trail: verify, export, head.

    facesearch audit verify [--head SEQ:HASH] [--anchor-lost]
    facesearch audit export --format csv|jsonl [--out FILE] [--actor A] [--action A] [--case C]
    facesearch audit head

They read the trail of an existing home only: a mistyped ``--home`` is an error, not a new,
empty trail that then "verifies". An export is itself logged.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from facesearch.accountability import AuditHead
from facesearch.app import trail
from facesearch.cli.common import Cli
from facesearch.private import FILE_MODE, private_file
from facesearch.settings import Settings

__all__ = ["add_parsers", "print_audit_files"]


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("audit", help="the audit trail: verify, export, head")
    au = p.add_subparsers(title="actions", metavar="ACTION", required=True)
    q = au.add_parser(
        "verify",
        help="check the hash chain, the MACs and the anchor file; exit 0 intact, 1 broken",
    )
    q.add_argument("--head", help="a head written down earlier (SEQ:HASH from 'audit head')")
    q.add_argument(
        "--anchor-lost",
        action="store_true",
        help="the anchor file is gone or was started over on purpose: warn, do not fail",
    )
    q.set_defaults(handler=cmd_audit_verify)
    q = au.add_parser("export", help="write the entries as CSV or JSON lines (logged)")
    q.add_argument("--format", required=True, choices=["csv", "jsonl"])
    q.add_argument("--out", type=Path, help="file to write (default: stdout)")
    q.add_argument("--actor", help="only entries of this actor")
    q.add_argument("--action", help="only entries of this action")
    q.add_argument("--case", help="only entries of this case number")
    q.set_defaults(handler=cmd_audit_export)
    q = au.add_parser("head", help="print the chain head (SEQ:HASH) to write down as an anchor")
    q.set_defaults(handler=cmd_audit_head)


def print_audit_files(settings: Settings) -> None:
    """Which key and anchor files this process uses: they follow HOME/XDG unless set, so a
    server run as another user may look elsewhere than the CLI (see the README)."""
    key_file, anchor_file = trail.trail_files(settings)
    print(f"  audit key: {key_file}\n  audit anchor: {anchor_file}", file=sys.stderr)


def cmd_audit_verify(args: argparse.Namespace, cli: Cli) -> int:
    expected = AuditHead.parse(args.head) if args.head else None
    print_audit_files(cli.settings)  # before opening: a refused key is named with its anchor
    with trail.open_store(cli.settings, existing=True) as store:
        report = trail.verify_audit(store, cli.actor(store), expected, anchor_lost=args.anchor_lost)
        print(report.summary())
    return 0 if report.ok else 1


def cmd_audit_export(args: argparse.Namespace, cli: Cli) -> int:
    where = trail.AuditFilter(
        actor=args.actor, action=trail.parse_action(args.action), case=args.case
    )
    with trail.open_store(cli.settings, existing=True) as store:
        if args.out is None:
            count = trail.export_audit(store, cli.actor(store), args.format, sys.stdout, where)
        else:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
            private_file(args.out)  # personal data: a file that was there keeps no looser mode
            with open(fd, "w", encoding="utf-8", newline="") as out:
                count = trail.export_audit(store, cli.actor(store), args.format, out, where)
    print(f"exported {count} entries", file=sys.stderr)
    return 0


def cmd_audit_head(args: argparse.Namespace, cli: Cli) -> int:
    with trail.open_store(cli.settings, existing=True) as store:
        print(trail.audit_head(store, cli.actor(store)))
    return 0
