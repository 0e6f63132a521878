"""CLI commands of the user accounts of the server.

    facesearch users add NAME --role admin|supervisor|investigator|auditor|operator
        [--password-stdin] [--org ORG]
    facesearch users password NAME [--password-stdin]
    facesearch users list [--json] | disable NAME | enable NAME | token NAME | tokens NAME

The person at the CLI acts as ``os:<login>``; every change is in the audit trail like one
made through the server (``app.accounts``).
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from facesearch.accountability import Role
from facesearch.app import (
    add_user,
    disable_user,
    enable_user,
    issue_token,
    list_accounts,
    open_store,
    set_password,
    tokens_of,
)
from facesearch.cli.common import Cli
from facesearch.errors import InputError, NotFoundError
from facesearch.settings import Settings

__all__ = ["add_parsers"]


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("users", help="user accounts of the server")
    us = p.add_subparsers(title="actions", metavar="ACTION", required=True)
    q = us.add_parser("add", help="add a user (asks for the password)")
    q.add_argument("name")
    q.add_argument("--role", required=True, choices=[r.value for r in Role])
    q.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    q.set_defaults(handler=cmd_users_add)  # --org ORG: the organisation (any command takes it)
    q = us.add_parser(
        "password",
        help="set a user's password (asks for it; an ordinary one, not one-time): their "
        "sessions end and their API tokens are revoked",
    )
    q.add_argument("name")
    q.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    q.set_defaults(handler=cmd_users_password)
    q = us.add_parser("list", help="list the users")
    q.add_argument("--json", action="store_true")
    q.set_defaults(handler=cmd_users_list)
    for action, text, handler in (
        ("disable", "disable a user (sessions end, tokens stop working)", cmd_users_disable),
        ("enable", "enable a disabled user again", cmd_users_enable),
        ("token", "issue an API token for a user (shown once)", cmd_users_token),
    ):
        q = us.add_parser(action, help=text)
        q.add_argument("name")
        q.set_defaults(handler=handler)
    q = us.add_parser("tokens", help="list a user's API tokens: issued, expires, last used")
    q.add_argument("name")
    q.add_argument("--json", action="store_true")
    q.set_defaults(handler=cmd_users_tokens)


@contextmanager
def _naming_the_home(settings: Settings) -> Iterator[None]:
    """For commands naming a user: "no user X" says which home it looked in."""
    try:
        yield
    except NotFoundError as exc:
        raise NotFoundError(
            f"{exc} in the home {settings.home} (choose the server's home with --home "
            "or FACESEARCH_HOME)"
        ) from exc


NO_TERMINAL = (
    "no terminal to ask for the password at: pipe it in with --password-stdin "
    "(printf '%s\\n' \"$PASSWORD\" | facesearch users ... --password-stdin)"
)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        if not _has_terminal():  # getpass would read stdin, echoing it, or fail at its end
            raise InputError(NO_TERMINAL)
        try:
            password = getpass.getpass("password: ")
            again = getpass.getpass("again: ")
        except EOFError as exc:
            raise InputError(NO_TERMINAL) from exc
        if again != password:
            raise InputError("the two passwords differ")
    if not password:
        raise InputError("no password given")
    return password


def _has_terminal() -> bool:
    """Whether getpass can ask at a terminal: stdin is one, or the process has /dev/tty."""
    if sys.stdin.isatty():
        return True
    try:
        with open("/dev/tty"):
            return True
    except OSError:
        return False


def _when(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat(timespec="seconds")


def cmd_users_add(args: argparse.Namespace, cli: Cli) -> int:
    password = _read_password(args.password_stdin)
    with open_store(cli.settings) as store:
        org = None if args.role == Role.OPERATOR.value else cli.org
        user = add_user(store, cli.actor(store), args.name, args.role, password, org=org)
    where = f"organisation {user.org}" if user.org else "the platform"
    print(f"added {user.name} ({user.role.value}) to {where}")
    return 0


def cmd_users_password(args: argparse.Namespace, cli: Cli) -> int:
    password = _read_password(args.password_stdin)
    with open_store(cli.settings, existing=True) as store, _naming_the_home(cli.settings):
        set_password(store, cli.actor(store), args.name, password)
    print(
        f"new password set for {args.name}: their sessions ended and their API tokens were revoked"
    )
    return 0


def cmd_users_list(args: argparse.Namespace, cli: Cli) -> int:
    with open_store(cli.settings, existing=True) as store:
        rows = [
            {
                "name": a.user.name,
                "role": a.user.role.value,
                "org": a.user.org,
                "disabled": a.user.disabled,
                "created_at": _when(a.user.created_at),
                "tokens": a.live_tokens,
            }
            for a in list_accounts(store, cli.actor(store))
        ]
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return 0
    if not rows:
        print("no users (add one with: facesearch users add NAME --role admin)")
    for r in rows:
        state = "disabled" if r["disabled"] else "active"
        org = r["org"] or "(platform)"
        print(
            f"{r['name']:<24} {r['role']:<13} {org:<16} {state:<9} tokens {r['tokens']}  "
            f"{r['created_at']}"
        )
    return 0


def cmd_users_disable(args: argparse.Namespace, cli: Cli) -> int:
    with open_store(cli.settings, existing=True) as store, _naming_the_home(cli.settings):
        user = disable_user(store, cli.actor(store), args.name)
    print(f"{user.name} disabled: its sessions ended and its tokens no longer work")
    return 0


def cmd_users_enable(args: argparse.Namespace, cli: Cli) -> int:
    with open_store(cli.settings, existing=True) as store, _naming_the_home(cli.settings):
        user = enable_user(store, cli.actor(store), args.name)
    print(f"{user.name} enabled")
    return 0


def cmd_users_token(args: argparse.Namespace, cli: Cli) -> int:
    with open_store(cli.settings, existing=True) as store, _naming_the_home(cli.settings):
        issued = issue_token(store, cli.actor(store), args.name)
    print(issued.token)
    expires = issued.info.expires_at
    until = "never expires" if expires is None else f"expires {expires:%Y-%m-%d %H:%M} UTC"
    print(
        f"API token for {args.name}: shown only this once ({until}); send it as "
        "'Authorization: Bearer <token>'",
        file=sys.stderr,
    )
    return 0


def cmd_users_tokens(args: argparse.Namespace, cli: Cli) -> int:
    with open_store(cli.settings, existing=True) as store, _naming_the_home(cli.settings):
        tokens = tokens_of(store, cli.actor(store), args.name)
    rows = [
        {
            "prefix": t.prefix,
            "state": t.state,
            "created_at": _when(t.created_at),
            "expires_at": _when(t.expires_at),
            "last_used_at": _when(t.last_used_at),
            "revoked_at": _when(t.revoked_at),
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
