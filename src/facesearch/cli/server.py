"""CLI commands of the server side: serve, users, audit.

    facesearch serve [--host 127.0.0.1] [--port 8000]
    facesearch users add NAME --role admin|investigator|auditor [--password-stdin]
    facesearch users list | disable NAME | enable NAME | token NAME | tokens NAME
    facesearch audit verify [--head SEQ:HASH] [--anchor-lost] | export --format csv|jsonl
        [--out FILE] | head

The person at the CLI acts as ``os:<login>`` (``local_actor()``); every change is in the audit
trail like one made through the server.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from facesearch.private import FILE_MODE, private_file
from facesearch.settings import Settings


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("serve", help="run the web UI and the HTTP API")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.set_defaults(handler=cmd_serve)

    p = sub.add_parser("users", help="user accounts of the server")
    us = p.add_subparsers(title="actions", metavar="ACTION", required=True)
    q = us.add_parser("add", help="add a user (asks for the password)")
    q.add_argument("name")
    q.add_argument("--role", required=True, choices=["admin", "investigator", "auditor"])
    q.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    q.set_defaults(handler=cmd_users_add)
    q = us.add_parser("list", help="list the users")
    q.add_argument("--json", action="store_true")
    q.set_defaults(handler=cmd_users_list)
    q = us.add_parser("disable", help="disable a user (sessions end, tokens stop working)")
    q.add_argument("name")
    q.set_defaults(handler=cmd_users_disable)
    q = us.add_parser("enable", help="enable a disabled user again")
    q.add_argument("name")
    q.set_defaults(handler=cmd_users_enable)
    q = us.add_parser("token", help="issue an API token for a user (shown once)")
    q.add_argument("name")
    q.set_defaults(handler=cmd_users_token)
    q = us.add_parser("tokens", help="list a user's API tokens: issued, expires, last used")
    q.add_argument("name")
    q.add_argument("--json", action="store_true")
    q.set_defaults(handler=cmd_users_tokens)

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


def _store(settings: Settings, *, existing: bool = False) -> Any:
    """The accountability store of the home; ``existing``: for commands that read or change
    what is there (a mistyped --home must not make a new, empty trail that then "verifies")."""
    from facesearch.accountability import AccountabilityStore
    from facesearch.accountability.db import FILENAME
    from facesearch.errors import NotFoundError

    if existing and not (settings.home / FILENAME).is_file():
        raise NotFoundError(
            f"no facesearch accounts or audit trail in {settings.home} (no {FILENAME}); "
            "choose the home with --home or FACESEARCH_HOME"
        )
    return AccountabilityStore.from_settings(settings)


def _print_audit_files(settings: Settings) -> None:
    """Which key and anchor files this process uses: they follow HOME/XDG unless set, so a
    server run as another user may look elsewhere than the CLI (see the README)."""
    from facesearch.accountability.store import audit_files

    key_file, anchor_file = audit_files(settings)
    print(f"  audit key: {key_file}\n  audit anchor: {anchor_file}", file=sys.stderr)


@contextmanager
def _users_store(settings: Settings) -> Iterator[Any]:
    """The store, for commands naming a user: "no user X" says which home it looked in."""
    from facesearch.errors import NotFoundError

    with _store(settings, existing=True) as store:
        try:
            yield store
        except NotFoundError as exc:
            raise NotFoundError(
                f"{exc} in the home {settings.home} (choose the server's home with --home "
                "or FACESEARCH_HOME)"
            ) from exc


def _actor() -> Any:
    from facesearch.accountability import local_actor

    return local_actor()


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from facesearch.server import create_app
    from facesearch.server.auth import TrustedProxies

    app = create_app(settings)
    trusted = TrustedProxies.parse(settings.server.trusted_proxies)
    with _store(settings) as store:
        has_users = store.accounts.has_users()
    url = f"http://{'[' + args.host + ']' if ':' in args.host else args.host}:{args.port}/"
    print(f"facesearch: serving {settings.home} at {url}", file=sys.stderr)
    _print_audit_files(settings)
    print("  open it in a browser and log in with a user account; API: /docs", file=sys.stderr)
    if not has_users:
        print(
            "  no user accounts yet: add one with\n"
            "    facesearch users add NAME --role admin   (or investigator, auditor)",
            file=sys.stderr,
        )
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(
            "  warning: listening beyond this machine without TLS; put a TLS reverse proxy "
            "in front",
            file=sys.stderr,
        )
    if trusted:
        print(f"  believing X-Forwarded-For from {', '.join(trusted.as_list())}", file=sys.stderr)
    # Forwarded headers only from the trusted proxies (uvicorn's default trusts loopback).
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level="warning",
        access_log=False,
        proxy_headers=bool(trusted),
        forwarded_allow_ips=trusted.as_list() if trusted else [],
    )
    return 0


def _read_password(from_stdin: bool) -> str:
    from facesearch.errors import InputError

    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("password: ")
        if getpass.getpass("again: ") != password:
            raise InputError("the two passwords differ")
    if not password:
        raise InputError("no password given")
    return password


def cmd_users_add(args: argparse.Namespace, settings: Settings) -> int:
    password = _read_password(args.password_stdin)
    with _store(settings) as store:
        user = store.accounts.add_user(args.name, args.role, password, by=_actor())
    print(f"added {user.name} ({user.role.value})")
    return 0


def cmd_users_list(args: argparse.Namespace, settings: Settings) -> int:
    import json

    with _store(settings, existing=True) as store:
        rows = []
        for u in store.accounts.users():
            live = sum(1 for t in store.accounts.tokens(u.name) if t.live)
            rows.append(
                {
                    "name": u.name,
                    "role": u.role.value,
                    "disabled": u.disabled,
                    "created_at": u.created_at.isoformat(timespec="seconds"),
                    "tokens": live,
                }
            )
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return 0
    if not rows:
        print("no users (add one with: facesearch users add NAME --role admin)")
    for r in rows:
        state = "disabled" if r["disabled"] else "active"
        print(f"{r['name']:<24} {r['role']:<13} {state:<9} tokens {r['tokens']}  {r['created_at']}")
    return 0


def cmd_users_disable(args: argparse.Namespace, settings: Settings) -> int:
    with _users_store(settings) as store:
        user = store.accounts.disable_user(args.name, by=_actor())
    print(f"{user.name} disabled: its sessions ended and its tokens no longer work")
    return 0


def cmd_users_enable(args: argparse.Namespace, settings: Settings) -> int:
    with _users_store(settings) as store:
        user = store.accounts.enable_user(args.name, by=_actor())
    print(f"{user.name} enabled")
    return 0


def cmd_users_token(args: argparse.Namespace, settings: Settings) -> int:
    with _users_store(settings) as store:
        token = store.accounts.issue_token(args.name, by=_actor())
        expires = store.accounts.tokens(args.name)[-1].expires_at
    print(token)
    until = "never expires" if expires is None else f"expires {expires:%Y-%m-%d %H:%M} UTC"
    print(
        f"API token for {args.name}: shown only this once ({until}); send it as "
        "'Authorization: Bearer <token>'",
        file=sys.stderr,
    )
    return 0


def cmd_users_tokens(args: argparse.Namespace, settings: Settings) -> int:
    import json

    with _users_store(settings) as store:
        tokens = store.accounts.tokens(args.name)

    def when(moment: Any) -> str | None:
        return None if moment is None else moment.isoformat(timespec="seconds")

    rows = [
        {
            "prefix": t.prefix,
            "state": t.state,
            "created_at": when(t.created_at),
            "expires_at": when(t.expires_at),
            "last_used_at": when(t.last_used_at),
            "revoked_at": when(t.revoked_at),
        }
        for t in tokens
    ]
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return 0
    if not rows:
        print(f"{args.name} has no API tokens")
    for r in rows:
        print(
            f"{r['prefix']}…  {r['state']:<8} issued {r['created_at']}  "
            f"expires {r['expires_at'] or 'never'}  last used {r['last_used_at'] or 'never'}"
        )
    return 0


def cmd_audit_verify(args: argparse.Namespace, settings: Settings) -> int:
    from facesearch.accountability import AuditHead

    expected = AuditHead.parse(args.head) if args.head else None
    _print_audit_files(settings)  # before opening: a refused key is named with its anchor
    with _store(settings, existing=True) as store:
        report = store.verify(expected, anchor_lost=args.anchor_lost)
        print(report.summary())
    return 0 if report.ok else 1


def cmd_audit_export(args: argparse.Namespace, settings: Settings) -> int:
    from facesearch.accountability import Action
    from facesearch.errors import InputError

    try:
        action = Action(args.action) if args.action else None
    except ValueError as exc:
        names = ", ".join(a.value for a in Action)
        raise InputError(f"unknown action {args.action!r}; one of {names}") from exc
    with _store(settings, existing=True) as store:
        if args.out is None:
            count = _export(store, args, action, sys.stdout)
        else:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(args.out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
            private_file(args.out)  # personal data: a file that was there keeps no looser mode
            with open(fd, "w", encoding="utf-8", newline="") as out:
                count = _export(store, args, action, out)
    print(f"exported {count} entries", file=sys.stderr)
    return 0


def _export(store: Any, args: argparse.Namespace, action: Any, out: Any) -> int:
    count: int = store.audit.export(
        args.format,
        out,
        actor=_actor().name,
        filter_actor=args.actor,
        filter_action=action,
        filter_case=args.case,
    )
    return count


def cmd_audit_head(args: argparse.Namespace, settings: Settings) -> int:
    with _store(settings, existing=True) as store:
        print(store.audit.head())
    return 0
