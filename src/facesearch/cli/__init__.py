"""The command line: parses arguments, calls the application layer, formats output.

One module per command group: ``analyse`` (detect, embed, verify), ``gallery`` (ingest,
search, forget, stats, export, reindex), ``erasure`` (status), ``people`` (build, list,
show, name, merge, split, not), ``evaluate`` (eval lfw, eval lfw-1n, calibrate),
``serve``, ``users``, ``cases``, ``audit``, ``info`` (models, settings), ``migrate``,
``catalog`` (fork, adopt: a catalog in a copied or moved database). Every command goes through
``facesearch.app`` as the local actor ``os:<login>``.

Data goes to stdout, diagnostics to stderr. Every FaceSearchError becomes one line on stderr
and exit code 2, here (``main``) and nowhere else, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from facesearch.accountability.permissions import DEFAULT_ORG
from facesearch.app.local import PipelineFactory
from facesearch.cli.common import Cli, Handler, split_org
from facesearch.errors import CaseRequiredError, FaceSearchError
from facesearch.settings import Settings

__all__ = ["build_parser", "main"]

log = logging.getLogger("facesearch")

# The command group modules (facesearch.cli.NAME), in the order they register their commands.
GROUPS = (
    "analyse",
    "gallery",
    "erasure",
    "people",
    "evaluate",
    "quality_eval",
    "info",
    "serve",
    "orgs",
    "users",
    "cases",
    "audit",
    "migrate",
    "catalog",
)

# Each top-level command and the group modules that add to it (checked against the groups by
# tests/unit/cli/test_cli_imports.py). A run imports only its command's groups, so a fresh
# ``embed`` does not import the server, evaluation or reports; the full help imports them all.
COMMANDS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(("detect", "embed", "verify"), ("analyse",)),
    **dict.fromkeys(("ingest", "search", "forget", "stats", "export", "reindex"), ("gallery",)),
    "erasure": ("erasure",),
    "people": ("people",),
    "eval": ("evaluate", "quality_eval"),
    "calibrate": ("evaluate",),
    "models": ("info",),
    "settings": ("info",),
    "serve": ("serve",),
    "orgs": ("orgs",),
    "users": ("users",),
    "cases": ("cases",),
    "audit": ("audit",),
    "migrate": ("migrate",),
    "catalog": ("catalog",),
}

# The options the top-level parser takes before a command (--org is split off first).
_FLAGS = ("-v", "--verbose")
_VALUED = ("--home",)


def main(argv: Sequence[str] | None = None, *, pipelines: PipelineFactory | None = None) -> int:
    """Run one command; its exit code. ``pipelines``: the factory of the face pipelines
    (default: the real models; tests pass a fake one)."""
    rest, org = split_org(list(sys.argv[1:] if argv is None else argv))
    args = parser_for(rest).parse_args(rest)
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


def groups_for(argv: Sequence[str]) -> tuple[str, ...]:
    """The group modules a command line needs: its command's, or all of them where the
    command is missing, unknown or preceded by an option this does not know for sure."""
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg in _FLAGS or any(arg.startswith(f"{o}=") for o in _VALUED):
            i += 1
        elif arg in _VALUED:
            i += 2
        elif arg.startswith("-"):
            return GROUPS
        else:
            return COMMANDS.get(arg, GROUPS)
    return GROUPS


def load_groups(names: Sequence[str]) -> list[ModuleType]:
    return [importlib.import_module(f"facesearch.cli.{name}") for name in names]


def parser_for(argv: Sequence[str]) -> argparse.ArgumentParser:
    """The parser of this command line: only its command's groups (``groups_for``)."""
    return build_parser(groups_for(argv))


def build_parser(groups: Sequence[str] = GROUPS) -> argparse.ArgumentParser:
    """The parser with the commands of ``groups`` (default: every command)."""
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
    for group in load_groups(groups):
        group.add_parsers(sub)
    return parser


if __name__ == "__main__":
    raise SystemExit(main())
