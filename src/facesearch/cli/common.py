"""What every command module shares: the run's context, argument helpers, JSON output."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING, Any, TypeVar

from facesearch.accountability import Actor, local_actor
from facesearch.accountability.permissions import DEFAULT_ORG
from facesearch.app import Local, open_local
from facesearch.app.local import PipelineFactory
from facesearch.settings import Settings

if TYPE_CHECKING:
    from facesearch.app.handles import Store

__all__ = ["Cli", "Handler", "add_case_arguments", "emit", "request_from", "split_org"]

R = TypeVar("R")


@dataclass(frozen=True)
class Cli:
    """One run of the CLI: its settings, and the factory of its face pipelines (None: the
    real models; tests pass a fake one)."""

    settings: Settings
    pipelines: PipelineFactory | None = None
    org: str = DEFAULT_ORG  # --org: the organisation the local actor works in

    def actor(self, store: Store | None = None) -> Actor:
        """The person at the CLI (``os:<login>``), an admin of ``org``; with ``store``, the
        organisation as it is spelt there (NotFoundError if there is none of that name)."""
        if store is None:
            return local_actor(org=self.org)
        from facesearch.app.orgs import org_named  # the gallery's modules: not for embed

        return local_actor(org=org_named(store, self.org))

    def local(self, *, gallery: bool = True) -> AbstractContextManager[Local]:
        """The application on the home, as the local actor (``app.open_local``)."""
        if self.pipelines is None:
            return open_local(self.settings, gallery=gallery, actor=self.actor())
        return open_local(
            self.settings, pipelines=self.pipelines, gallery=gallery, actor=self.actor()
        )

    def with_settings(self, settings: Settings) -> Cli:
        return replace(self, settings=settings)


Handler = Callable[[argparse.Namespace, Cli], int]


def add_case_arguments(p: argparse.ArgumentParser, *, required: bool = True) -> None:
    """``--case`` and ``--purpose``: required once the home has accounts (a search, a
    verification, a subject's export), or optional, logged with the work when given (an
    ingest, an erasure, people)."""
    when = "required once accounts exist" if required else "optional; logged with it"
    p.add_argument("--case", help=f"case number this use belongs to ({when})")
    p.add_argument("--purpose", help=f"stated purpose of this use ({when})")


def request_from(kind: type[R], args: argparse.Namespace, **given: Any) -> R:
    """An ``app`` request (a dataclass) from the command's options: ``given``, and every other
    field from the option of the same name (a field with no such option keeps its default)."""
    named = {
        f.name: getattr(args, f.name)
        for f in fields(kind)  # type: ignore[arg-type]
        if f.init and f.name not in given and hasattr(args, f.name)
    }
    return kind(**named, **given)


def emit(obj: Any) -> None:
    """One JSON object on one line of stdout."""
    sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")


def split_org(argv: list[str]) -> tuple[list[str], str | None]:
    """``argv`` without its ``--org ORG`` (or ``--org=ORG``), which any command takes, and
    that organisation (None: not given). Arguments after ``--`` are left alone."""
    out: list[str] = []
    org: str | None = None
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            out.extend(argv[i:])
            break
        if arg == "--org":
            if i + 1 >= len(argv):
                raise SystemExit("facesearch: error: --org needs an organisation name")
            org = argv[i + 1]
            i += 2
            continue
        if arg.startswith("--org="):
            org = arg.split("=", 1)[1]
        else:
            out.append(arg)
        i += 1
    return out, org
