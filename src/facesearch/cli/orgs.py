"""CLI commands of organisations (agencies) on one deployment.

    facesearch orgs add NAME [--quota-faces N] [--policy KEY=VALUE]...
    facesearch orgs list [--json]
    facesearch orgs set NAME [--quota-faces N|none] [--policy KEY=VALUE]...
    facesearch orgs share COLLECTION --with ORG --org OWNER
    facesearch orgs unshare COLLECTION --with ORG --org OWNER

The person at the CLI acts as ``os:<login>``: the platform operator for ``add`` and ``set``,
an admin of ``--org`` for sharing. Users, cases and ingests name their organisation with
``--org`` (``users add NAME --role ROLE --org ORG``; ``ingest PATH --org ORG``).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from facesearch.accountability.orgs import Organisation, OrgPolicy
from facesearch.app import open_store
from facesearch.app.orgs import add_org, change_org, list_orgs, share_in, unshare_in
from facesearch.cli.common import Cli
from facesearch.errors import InputError

__all__ = ["add_parsers"]

_POLICIES = ", ".join(OrgPolicy().as_json())


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("orgs", help="organisations (agencies) sharing this deployment")
    os_ = p.add_subparsers(title="actions", metavar="ACTION", required=True)
    q = os_.add_parser("add", help="create an organisation (the platform operator's)")
    q.add_argument("name")
    _policy_arguments(q)
    q.set_defaults(handler=cmd_orgs_add)
    q = os_.add_parser("list", help="list the organisations with their quotas and policies")
    q.add_argument("--json", action="store_true")
    q.set_defaults(handler=cmd_orgs_list)
    q = os_.add_parser("set", help="change an organisation's quota or policies")
    q.add_argument("name")
    _policy_arguments(q)
    q.set_defaults(handler=cmd_orgs_set)
    for action, text, handler in (
        ("share", "share a collection of --org read-only with another organisation", cmd_share),
        ("unshare", "withdraw a share", cmd_unshare),
    ):
        q = os_.add_parser(action, help=text)
        q.add_argument("collection")
        q.add_argument("--with", dest="to", required=True, metavar="ORG")
        q.set_defaults(handler=handler)


def _policy_arguments(q: argparse.ArgumentParser) -> None:
    q.add_argument("--quota-faces", help="the most faces its collections may hold (none: no limit)")
    q.add_argument(
        "--policy",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"a policy (repeatable): {_POLICIES}",
    )


def _policies(pairs: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise InputError(f"a policy is KEY=VALUE, not {pair!r}")
        out[key.strip()] = None if value.strip().lower() in ("none", "null") else value.strip()
    return out


def _quota(text: str | None) -> int | None:
    if text is None or text.strip().lower() in ("none", ""):
        return None
    try:
        return int(text.replace(",", "").replace("_", ""))
    except ValueError as exc:
        raise InputError(f"--quota-faces is a whole number or none, not {text!r}") from exc


def _line(org: Organisation) -> str:
    quota = "no quota" if org.quota_faces is None else f"quota {org.quota_faces:,} faces"
    policy = ", ".join(_policy_text(org, k, v) for k, v in org.policy.as_json().items())
    return f"{org.name:<20} {quota:<24} {policy}"


def _policy_text(org: Organisation, key: str, value: Any) -> str:
    """``key=value``; ``cases_required`` as the rule in force, and why if not the policy."""
    if key == "cases_required" and org.cases_required != value:
        return f"cases_required={org.cases_required} ({org.cases_required_reason}; policy {value})"
    return f"{key}={value}"


def cmd_orgs_add(args: argparse.Namespace, cli: Cli) -> int:
    with open_store(cli.settings) as store:
        org = add_org(
            store,
            cli.actor(),
            args.name,
            quota_faces=_quota(args.quota_faces),
            policy=_policies(args.policy),
        )
    print(f"added organisation {_line(org)}")
    return 0


def cmd_orgs_list(args: argparse.Namespace, cli: Cli) -> int:
    with open_store(cli.settings, existing=True) as store:
        orgs = list_orgs(store, cli.actor())
    for org in orgs:
        print(json.dumps(org.as_json()) if args.json else _line(org))
    return 0


def cmd_orgs_set(args: argparse.Namespace, cli: Cli) -> int:
    with open_store(cli.settings, existing=True) as store:
        org = change_org(
            store,
            cli.actor(),
            args.name,
            policy=_policies(args.policy),
            quota_faces="unchanged" if args.quota_faces is None else _quota(args.quota_faces),
        )
    print(f"organisation {_line(org)}")
    return 0


def cmd_share(args: argparse.Namespace, cli: Cli) -> int:
    return _shares(args, cli, grant=True)


def cmd_unshare(args: argparse.Namespace, cli: Cli) -> int:
    return _shares(args, cli, grant=False)


def _shares(args: argparse.Namespace, cli: Cli, *, grant: bool) -> int:
    with cli.local() as local:
        changed = (share_in if grant else unshare_in)(local, args.collection, args.to)
    done = {
        (True, True): "is now shared read-only with",
        (True, False): "was already shared with",
        (False, True): "is no longer shared with",
        (False, False): "was not shared with",
    }[(grant, changed)]
    print(f"collection {args.collection} {done} {args.to}")
    return 0
