"""CLI commands of erasures' aftermath: what the vector store has yet to remove from its disk,
and blocklist entries of erasures killed before their audit entry was written.

    facesearch erasure status [--json]
    facesearch erasure blocklist [--json]
    facesearch erasure settle ENTRY (--keep | --take-back) --reason TEXT

``forget`` (in ``gallery``) erases; with Milvus the server removes erased vectors from its
files later (compaction, garbage collection), and this lists those pending physical deletions
(with FAISS files there are none, and it says why). Not logged: it reads no personal data.
``blocklist`` lists the pending blocklist entries (``app.blocklist_pending``), ``settle`` keeps
or takes back one whose process is gone, in an ``erase`` audit entry.
"""

from __future__ import annotations

import argparse
from typing import Any

from facesearch.app import erasure_status
from facesearch.app.blocklist_pending import pending_blocklist, settle_pending
from facesearch.cli.common import Cli, emit

__all__ = ["add_parsers"]


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("erasure", help="erasures: what the vector store has yet to remove")
    actions = p.add_subparsers(title="actions", metavar="ACTION", required=True)
    q = actions.add_parser("status", help="pending physical deletions of erased vectors")
    q.add_argument("--json", action="store_true")
    q.set_defaults(handler=cmd_erasure_status)
    b = actions.add_parser(
        "blocklist", help="blocklist entries whose erasure wrote no audit entry (yet)"
    )
    b.add_argument("--json", action="store_true")
    b.set_defaults(handler=cmd_erasure_blocklist)
    s = actions.add_parser(
        "settle", help="keep or take back a pending blocklist entry whose erasure was killed"
    )
    s.add_argument("entry", type=int, help="the entry's id (erasure blocklist lists them)")
    how = s.add_mutually_exclusive_group(required=True)
    how.add_argument("--keep", action="store_true", help="keep it, recorded in the trail")
    how.add_argument("--take-back", action="store_true", help="take it off the blocklist")
    s.add_argument("--reason", required=True, help="why (recorded in the erase entry)")
    s.set_defaults(handler=cmd_erasure_settle)


def cmd_erasure_status(args: argparse.Namespace, cli: Cli) -> int:
    with cli.local() as local:
        status = erasure_status(local.engine, local.store, local.actor)
    if args.json:
        emit(status.as_json())
    else:
        print("\n".join(status.lines()))
    return 0


def cmd_erasure_blocklist(args: argparse.Namespace, cli: Cli) -> int:
    with cli.local() as local:
        pending = pending_blocklist(local.engine, local.store, local.actor)
    if args.json:
        emit({"pending": [p.as_json() for p in pending]})
        return 0
    if not pending:
        print("no pending blocklist entries: every erasure's entry is recorded in the trail")
    for p in pending:
        print(p.line())
    if any(p.gone for p in pending):
        print(
            "settle each whose process is gone: `facesearch erasure settle ENTRY --keep "
            "--reason ...` records it (run the erasure again to erase what it did not get "
            "to), `--take-back` takes it off the blocklist"
        )
    return 0


def cmd_erasure_settle(args: argparse.Namespace, cli: Cli) -> int:
    with cli.local() as local:
        entry = settle_pending(
            local.engine, local.store, local.actor, args.entry, keep=args.keep, reason=args.reason
        )
    done = "kept and recorded" if args.keep else "taken back"
    print(f"blocklist entry {args.entry} {done} (audit entry {entry.seq})")
    return 0
