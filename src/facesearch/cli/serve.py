"""CLI command ``serve``: the web UI and the HTTP API on one home.

facesearch serve [--host 127.0.0.1] [--port 8000]
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from facesearch.app import has_users, open_store
from facesearch.cli.audit import print_audit_files
from facesearch.cli.common import Cli

__all__ = ["add_parsers"]


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("serve", help="run the web UI and the HTTP API")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.set_defaults(handler=cmd_serve)


def cmd_serve(args: argparse.Namespace, cli: Cli) -> int:
    import uvicorn

    from facesearch.server import create_app
    from facesearch.server.auth import TrustedProxies

    settings = cli.settings
    app = (
        create_app(settings)
        if cli.pipelines is None
        else create_app(settings, pipelines=cli.pipelines)
    )
    trusted = TrustedProxies.parse(settings.server.trusted_proxies)
    with open_store(settings) as store:
        anyone = has_users(store)
    url = f"http://{'[' + args.host + ']' if ':' in args.host else args.host}:{args.port}/"
    print(f"facesearch: serving {settings.home} at {url}", file=sys.stderr)
    print_audit_files(settings)
    print("  open it in a browser and log in with a user account; API: /docs", file=sys.stderr)
    if not anyone:
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
