"""The command line: parses arguments, calls the application layer, formats output.

One module per command group: ``analyse`` (detect, embed, verify), ``gallery`` (ingest,
search, forget, stats, export, reindex), ``erasure`` (status), ``people`` (build, list,
show, name, merge, split, not), ``evaluate`` (eval lfw, eval lfw-1n, calibrate),
``serve``, ``users``, ``cases``, ``audit``, ``info`` (models, settings). Every command goes through
``facesearch.app`` as the local actor ``os:<login>``.

Data goes to stdout, diagnostics to stderr. Every FaceSearchError becomes one line on stderr
and exit code 2, here (``main``) and nowhere else, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import facesearch.cli.analyse as analyse
import facesearch.cli.audit as audit
import facesearch.cli.cases as cases
import facesearch.cli.erasure as erasure
import facesearch.cli.evaluate as evaluate
import facesearch.cli.gallery as gallery
import facesearch.cli.info as info
import facesearch.cli.migrate as migrate
import facesearch.cli.orgs as orgs
import facesearch.cli.people as people
import facesearch.cli.quality_eval as quality_eval
import facesearch.cli.serve as serve
import facesearch.cli.users as users
from facesearch.accountability.permissions import DEFAULT_ORG
from facesearch.app.local import PipelineFactory
from facesearch.cli.common import Cli, Handler, split_org
from facesearch.errors import CaseRequiredError, FaceSearchError
from facesearch.settings import Settings

__all__ = ["build_parser", "main"]

log = logging.getLogger("facesearch")

GROUPS = (
    analyse,
    gallery,
    erasure,
    people,
    evaluate,
    quality_eval,
    info,
    serve,
    orgs,
    users,
    cases,
    audit,
    migrate,
)


def main(argv: Sequence[str] | None = None, *, pipelines: PipelineFactory | None = None) -> int:
    """Run one command; its exit code. ``pipelines``: the factory of the face pipelines
    (default: the real models; tests pass a fake one)."""
    parser = build_parser()
    rest, org = split_org(list(sys.argv[1:] if argv is None else argv))
    args = parser.parse_args(rest)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        settings = Settings.from_env(home=args.home)
        handler: Handler = args.handler
        return handler(args, Cli(settings, pipelines, org or DEFAULT_ORG))
    except FaceSearchError as exc:
        print(f"facesearch: error: {message_of(exc)}", file=sys.stderr)
        return 2
    except OverflowError as exc:  # an id past int64, a date past year 9999, ...
        print(f"facesearch: error: a number or date is out of range ({exc})", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("facesearch: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


def message_of(exc: FaceSearchError) -> str:
    """The one line shown for an error; the case check is the app's, the options are named
    here."""
    if not isinstance(exc, CaseRequiredError):
        return str(exc)
    why = "this home has user accounts, so every use is tied to a case"
    if "case" in exc.missing:
        return (
            f"a case number is required, and a stated purpose: give --case NUMBER "
            f"--purpose TEXT ({why})"
        )
    return f"a stated purpose is required: give --purpose TEXT with --case ({why})"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="facesearch",
        description="Self-hosted face search. A match is a lead for a person to check, "
        "never an identification.",
    )
    parser.add_argument("--home", type=Path, help="facesearch home folder (FACESEARCH_HOME)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging on stderr")
    parser.add_argument(
        "--org",
        help="the organisation to act in (any command takes it, before or after its name; "
        "default: default)",
    )

    def show_help(args: argparse.Namespace, cli: Cli) -> int:
        parser.print_help()
        return 0

    parser.set_defaults(handler=show_help)
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    for group in GROUPS:
        group.add_parsers(sub)
    return parser


if __name__ == "__main__":
    raise SystemExit(main())
