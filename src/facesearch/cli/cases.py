"""CLI commands of the case registry.

    facesearch cases open NUMBER --title TEXT [--legal-basis TEXT] [--member USER]...
    facesearch cases close NUMBER
    facesearch cases add-member NUMBER USER
    facesearch cases list [--json]
    facesearch cases report NUMBER --out FILE.html|FILE.pdf

The person at the CLI acts as ``os:<login>`` (an admin); every change is in the audit trail
like one made through the server (``app.cases``). Once the registry holds a case, searches,
verifications and decisions must name an open case of which the user is a member.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from facesearch.accountability import Case
from facesearch.app import open_local, open_store
from facesearch.app.cases import OpenCaseRequest, add_member, close_case, list_cases, open_case
from facesearch.cli.common import Cli

__all__ = ["add_parsers"]


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("cases", help="the case registry: cases that work is done under")
    cs = p.add_subparsers(title="actions", metavar="ACTION", required=True)
    q = cs.add_parser("open", help="open a case (from then on every search needs an open case)")
    q.add_argument("number", help="the case number users type")
    q.add_argument("--title", required=True)
    q.add_argument("--legal-basis", help="the legal basis of the work under the case")
    q.add_argument(
        "--member", action="append", default=[], metavar="USER", help="a member (repeatable)"
    )
    q.set_defaults(handler=cmd_cases_open)
    q = cs.add_parser("close", help="close a case: no new work under it")
    q.add_argument("number")
    q.set_defaults(handler=cmd_cases_close)
    q = cs.add_parser("add-member", help="make a user a member of an open case")
    q.add_argument("number")
    q.add_argument("user")
    q.set_defaults(handler=cmd_cases_add_member)
    q = cs.add_parser("list", help="list the cases, newest first")
    q.add_argument("--json", action="store_true")
    q.set_defaults(handler=cmd_cases_list)
    q = cs.add_parser("report", help="the case report (evidence), as HTML or PDF; it is logged")
    q.add_argument("number")
    q.add_argument("--out", type=Path, required=True, help="FILE.html or FILE.pdf")
    q.set_defaults(handler=cmd_cases_report)


def _line(case: Case) -> str:
    members = ", ".join(case.members) or "no members"
    return f"{case.number:<16} {case.status.value:<7} {case.title}  ({members})"


def cmd_cases_open(args: argparse.Namespace, cli: Cli) -> int:
    request = OpenCaseRequest(args.number, args.title, args.legal_basis, tuple(args.member))
    with open_store(cli.settings) as store:
        case = open_case(store, cli.actor(store), request)
    print(f"opened case {_line(case)}")
    return 0


def cmd_cases_close(args: argparse.Namespace, cli: Cli) -> int:
    with open_store(cli.settings, existing=True) as store:
        case = close_case(store, cli.actor(store), args.number)
    print(f"closed case {case.number}: no new work under it")
    return 0


def cmd_cases_add_member(args: argparse.Namespace, cli: Cli) -> int:
    with open_store(cli.settings, existing=True) as store:
        case = add_member(store, cli.actor(store), args.number, args.user)
    print(f"case {_line(case)}")
    return 0


def cmd_cases_list(args: argparse.Namespace, cli: Cli) -> int:
    with open_store(cli.settings, existing=True) as store:
        cases = list_cases(store, cli.actor(store))
    if args.json:
        for case in cases:
            print(json.dumps(case.as_json()))
        return 0
    if not cases:
        print("no cases (open one with: facesearch cases open NUMBER --title TEXT)")
    for case in cases:
        print(_line(case))
    return 0


def cmd_cases_report(args: argparse.Namespace, cli: Cli) -> int:
    from facesearch.app.case_report import ReportFormat
    from facesearch.private import write_private
    from facesearch.reports.case_html import case_report_file

    out: Path = args.out
    fmt: ReportFormat = "pdf" if out.suffix.lower() == ".pdf" else "html"
    with open_local(cli.settings) as local:
        data = case_report_file(
            local.store, local.engine, local.engine.calibration, local.actor, args.number, fmt
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    write_private(out, data)  # face crops of probes and candidates: owner-only
    print(f"wrote the report of case {args.number} to {out} (logged in the audit trail)")
    return 0
