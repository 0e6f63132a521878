"""CLI commands of the people of a collection (persons found by clustering its faces).

    facesearch people build [--collection NAME] [--json]
    facesearch people list [--collection NAME] [--json]
    facesearch people show PERSON [--json]
    facesearch people name PERSON NAME | merge PERSON OTHER | split PERSON FACE_ID...
    facesearch people not PERSON FACE_ID

Each runs through ``facesearch.app.people`` as the local actor and is logged there: a build
and each review as its own entry, ``list`` and ``show`` as reads. ``list`` builds the people
first when the collection's have never been built, so that every face is in one person.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from facesearch.app import people as app_people
from facesearch.app.people import (
    BuildRecord,
    BuildRequest,
    PersonRecord,
    ReviewRecord,
    ReviewRequest,
)
from facesearch.cli.common import Cli, add_case_arguments, emit, request_from
from facesearch.core.text import escaped

__all__ = ["add_parsers"]


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("people", help="the persons of a collection: build, list, review")
    ps = p.add_subparsers(title="actions", metavar="ACTION", required=True)

    q = ps.add_parser("build", help="group every face of a collection into persons")
    q.add_argument("--collection", default="default")
    q.add_argument("--method", choices=["chinese_whispers", "components"], default=None)
    q.add_argument("--max-fmr", type=float, help="link faces alike at or below this FMR")
    _outputs(q, cmd_build)

    q = ps.add_parser("list", help="every person of a collection and its faces")
    q.add_argument("--collection", default="default")
    _outputs(q, cmd_list)

    q = ps.add_parser("show", help="one person and every face of it, least certain first")
    q.add_argument("person", type=int)
    _outputs(q, cmd_show)

    for action, text, operation, (dest, options) in _REVIEWS:
        q = ps.add_parser(action, help=text)
        q.add_argument("person", type=int)
        q.add_argument(dest, **options)
        _outputs(q, cmd_review(operation))


# The review commands: name, help, the app's operation, and the argument after PERSON.
_REVIEWS: tuple[tuple[str, str, Any, tuple[str, dict[str, Any]]], ...] = (
    ("name", "name a person (its faces then anchor it)", app_people.name_person, ("name", {})),
    ("merge", "merge person OTHER into PERSON", app_people.merge_persons, ("other", {"type": int})),
    (
        "split",
        "move faces off a person into a new person",
        app_people.split_person,
        ("face_ids", {"type": int, "nargs": "+", "metavar": "FACE_ID"}),
    ),
    (
        "not",
        "this face is not this person (remembered by later builds)",
        app_people.not_person,
        ("face_ids", {"type": int, "nargs": 1, "metavar": "FACE_ID"}),
    ),
)


def _outputs(q: argparse.ArgumentParser, handler: Any) -> None:
    q.add_argument("--json", action="store_true", help="print one JSON object")
    add_case_arguments(q, required=False)
    q.set_defaults(handler=handler)


def cmd_build(args: argparse.Namespace, cli: Cli) -> int:
    chosen = (("method", args.method), ("max_fmr", args.max_fmr))
    given = {k: v for k, v in chosen if v is not None}
    request = BuildRequest(args.collection, case=args.case, purpose=args.purpose, **given)
    with cli.local() as local:
        record = app_people.build_people(local.engine, local.store, local.actor, request)
    _print_build(record, args.json)
    return 0


def _print_build(record: BuildRecord, as_json: bool) -> None:
    s = record.summary
    if as_json:
        emit(record.as_json())
        return
    print(
        f"{s.faces:,} faces of {s.collection!r} in {s.persons:,} persons "
        f"({s.singletons:,} alone, {s.kept:,} ids kept, {s.pinned:,} faces anchored; "
        f"{s.method}, similarity >= {s.threshold:.3f}, {s.seconds:.1f} s)"
    )


def cmd_list(args: argparse.Namespace, cli: Cli) -> int:
    with cli.local() as local:
        engine, store, actor = local.engine, local.store, local.actor
        if not app_people.people_built(engine, store, actor, args.collection):
            print(f"building the people of {args.collection!r} first", file=sys.stderr)
            build = BuildRequest(args.collection, case=args.case, purpose=args.purpose)
            app_people.build_people(engine, store, actor, build)
        record = app_people.list_people(engine, store, actor, args.collection, case=args.case)
    if args.json:
        emit(record.as_json())  # full paths: whoever runs the CLI owns the home
        return 0
    print(f"{'person':>8}  {'faces':>6}  {'name':<24}  cover")
    for person in sorted(record.people, key=lambda p: (-len(p.faces), p.person)):
        name = escaped(person.name or "-")
        cover = escaped(person.cover.image_path)
        print(f"{person.person:>8}  {len(person.faces):>6}  {name:<24}  {cover}")
    return 0


def cmd_show(args: argparse.Namespace, cli: Cli) -> int:
    with cli.local() as local:
        record = app_people.show_person(
            local.engine, local.store, local.actor, args.person, case=args.case
        )
    if args.json:
        emit(record.as_json(detail=True))
        return 0
    _print_person(record)
    return 0


def _print_person(record: PersonRecord) -> None:
    print(
        f"person {record.person} ({escaped(record.name or 'unnamed')}), collection "
        f"{record.collection!r}, {len(record.faces)} face{'' if len(record.faces) == 1 else 's'}"
        ", least certain first:"
    )
    for f in record.faces:
        pin = "  pinned" if f.pinned else ""
        print(f"  face {f.face_id:>8}  certainty {f.certainty:6.3f}  {escaped(f.image_path)}{pin}")


def cmd_review(operation: Any) -> Any:
    """The handler of one review command: ``operation`` is the app's (name_person ...)."""

    def handler(args: argparse.Namespace, cli: Cli) -> int:
        given = {"face_ids": tuple(args.face_ids)} if hasattr(args, "face_ids") else {}
        request = request_from(ReviewRequest, args, **given)
        with cli.local() as local:
            record: ReviewRecord = operation(local.engine, local.store, local.actor, request)
        if args.json:
            emit(record.as_json())
            return 0
        print(f"{record.action.replace('_', ' ')} (audit entry {record.id}):")
        _print_person(record.person)
        return 0

    return handler
