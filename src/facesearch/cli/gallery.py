"""CLI commands of the gallery: ingest, search, forget, stats, export, reindex.

Each runs through ``facesearch.app`` as the local actor and is logged there (stats and
reindex, which read no personal data, are not).
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from pathlib import Path
from typing import Any

from facesearch.app import (
    EraseRequest,
    IngestRequest,
    Local,
    SearchRecord,
    SearchRequest,
    audit_entry,
    audit_head,
    erase,
    export_subject,
    ingest,
    search,
)
from facesearch.app import gallery as app_gallery
from facesearch.app.blocklist_pending import pending_blocklist
from facesearch.cli.common import Cli, add_case_arguments, emit, request_from
from facesearch.core.calibration import describe_expected
from facesearch.core.text import escaped, shown_name
from facesearch.errors import InputError
from facesearch.results import SAME_FILE_NOTE

__all__ = ["add_parsers", "stats_table"]


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("ingest", help="add the faces of images, folders, archives, lists")
    p.add_argument("paths", nargs="+", type=Path)
    p.add_argument("--collection", default="default")
    p.add_argument("--label-from-dir", action="store_true", help="label faces with the folder name")
    p.add_argument("--workers", type=int, help="inference threads (default: all cores)")
    p.add_argument("--json", action="store_true", help="print one summary object at the end")
    p.add_argument(
        "--ray", nargs="?", const="auto", metavar="auto|ADDRESS",
        help="analyse on a Ray cluster: 'auto' (no value) starts a local one; or its address",
    )  # fmt: skip
    p.add_argument("--ray-actors", type=int, help="with --ray: analysis actors (default: CPUs/2)")
    add_case_arguments(p, required=False)
    p.set_defaults(handler=cmd_ingest)

    p = sub.add_parser("search", help="1:N: who in the gallery looks like this probe?")
    p.add_argument("probe", type=Path)
    p.add_argument("--collection", action="append", help="collection(s) to search (default: all)")
    p.add_argument("--top", type=int, help="candidates per probe face (default 10)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--max-fmr", type=float, help="only candidates at or below this FMR")
    g.add_argument("--threshold", type=float, help="only candidates at or above this similarity")
    p.add_argument("--face", type=int, help="search only face number N of the probe")
    p.add_argument("--allow-poor", action="store_true", help="search even with a poor probe")
    p.add_argument("--json", action="store_true")
    p.add_argument("--report", type=Path, help="write a self-contained HTML report")
    add_case_arguments(p)
    p.set_defaults(handler=cmd_search)

    p = sub.add_parser("forget", help="erase faces (catalog, vectors) and optionally blocklist")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--face", type=int, action="append", help="face id (repeatable)")
    g.add_argument("--image", type=int, help="image id")
    g.add_argument("--subject", help="every face labelled with this subject")
    g.add_argument("--like", type=Path, help="every face like this photo's; blocklists it too")
    p.add_argument("--max-fmr", type=float, help="with --like: match threshold as an FMR")
    p.add_argument(
        "--ray", nargs="?", const="auto", metavar="auto|ADDRESS",
        help="with --like: scan the catalog on a Ray cluster: 'auto' (no value) starts a local "
        "one; or its address",
    )  # fmt: skip
    p.add_argument("--reason", help="why (recorded; required once accounts exist)")
    p.add_argument("--json", action="store_true")
    add_case_arguments(p, required=False)
    p.set_defaults(handler=cmd_forget)

    p = sub.add_parser("stats", help="what the gallery holds")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_stats)

    p = sub.add_parser(
        "export", help="everything held about a subject, embeddings included, as JSON (logged)"
    )
    p.add_argument("--subject", required=True)
    add_case_arguments(p)
    p.set_defaults(handler=cmd_export)

    p = sub.add_parser("reindex", help="rebuild the vector indexes from the catalog")
    p.set_defaults(handler=cmd_reindex)


def cmd_ingest(args: argparse.Namespace, cli: Cli) -> int:
    from facesearch.gallery.ray_ingest import RayOptions
    from facesearch.progress import Progress

    if args.workers is not None:
        cli = cli.with_settings(cli.settings.replace(threads=args.workers))
    if args.ray is None and args.ray_actors is not None:
        raise InputError("--ray-actors is for an ingest with --ray")
    ray = None if args.ray is None else RayOptions(args.ray, actors=args.ray_actors)
    request = request_from(IngestRequest, args, paths=tuple(args.paths), ray=ray)
    bar = Progress("ingest", unit="img")

    def progress(summary: Any) -> None:
        bar.update(summary.images_seen, faces=summary.faces_added, failed=len(summary.failed))

    try:
        with cli.local() as local:
            record = ingest(local.engine, local.store, local.actor, request, progress)
        progress(record.summary)  # the last line counts the last batch's faces too
    finally:
        bar.close()
    summary = record.summary
    code = 0 if record.ok else 2  # nothing at all came of the paths (``nothing_ingested``)
    if args.json:
        emit(record.as_json())
        return code
    rate = summary.images_seen / max(summary.seconds, 1e-6)
    # an image every face of which an erasure opted out is skipped on purpose, not failed
    blocked, failed = summary.blocklisted, summary.broken
    print(
        f"{summary.images_seen:,} images seen, {summary.images_added:,} added, "
        f"{summary.duplicates:,} duplicates, {summary.faces_added:,} faces added, "
        f"{len(failed):,} failed"
        + (f", {len(blocked):,} blocklisted" if blocked else "")
        + f" ({summary.seconds:.1f} s, {rate:.0f} images/s)"
    )
    for fail in failed[:20]:
        print(f"  failed: {escaped(fail.source)}: {escaped(fail.reason)}", file=sys.stderr)
    if len(failed) > 20:
        print(f"  ... and {len(failed) - 20} more (see --json)", file=sys.stderr)
    for fail in blocked[:20]:
        print(f"  blocklisted: {escaped(fail.source)}: {escaped(fail.reason)}", file=sys.stderr)
    if len(blocked) > 20:
        print(f"  ... and {len(blocked) - 20} more blocklisted (see --json)", file=sys.stderr)
    for skip in summary.skipped[:20]:  # archive members not ingested on purpose
        print(f"  skipped: {escaped(skip['path'])}: {escaped(skip['reason'])}", file=sys.stderr)
    if summary.skipped_count > 20:
        more = summary.skipped_count - 20
        print(f"  ... and {more} more skipped (see --json)", file=sys.stderr)
    if code:
        print(f"facesearch: error: {record.error}", file=sys.stderr)
    return code


def cmd_search(args: argparse.Namespace, cli: Cli) -> int:
    if args.report is not None:
        check_report_path(args.report)
    request = request_from(
        SearchRequest,
        args,
        name=str(args.probe),
        collections=tuple(args.collection) if args.collection else None,
    )
    with cli.local() as local:
        record = search(local.engine, local.store, local.actor, request)
        if args.report:
            _write_report(local, record, args.report)
    if args.json:
        emit(record.as_json())  # full paths: whoever runs the CLI owns the home
        return 0
    print(search_text(record))
    if args.report:
        print(f"report written to {args.report}")
    return 0


def search_text(record: SearchRecord) -> str:
    """The text output of ``search``: the same record as ``--json``, for a person, every name
    in it ``escaped`` (a file name cannot forge a candidate's line)."""
    names = ", ".join(escaped(name) for name, _ in record.collections)
    lines = [
        f"probe {escaped(record.probe)}: {len(record.faces)} face(s) searched in "
        f"{record.gallery_faces:,} gallery faces ({names})"
    ]
    for pf in record.faces:
        lines.append(f"face {pf.face} at {pf.bbox.as_list() if pf.bbox else '?'}")
        lines.extend(f"  warning: {w}" for w in pf.warnings)
        lines.extend([f"  less reliable: {pf.reliability}"] if pf.reliability else [])
        if pf.refused:
            lines.append("  not searched: the face is too poor (use --allow-poor to search anyway)")
            continue
        if not pf.hits:
            lines.append("  no candidate above the threshold")
        for h in pf.hits:
            label = escaped(h.face.subject or "(no label)") if h.face else "(no label)"
            where = escaped(h.face.image_path) if h.face else "(erased)"
            lines.append(
                f"  #{h.rank:<3} {h.similarity:.4f}  {label:<28} face {h.face_id:<7} {where}"
            )
            if h.same_file:
                lines.append(f"        {SAME_FILE_NOTE}")
            lines.append(
                f"        {h.fmr_words}; {describe_expected(h.expected_false)} such "
                f"strangers expected in this gallery"
            )
    lines.extend([f"False match rates: {record.calibration}"] if record.calibration else [])
    lines.append("A candidate is a lead for a person to check, not an identification.")
    lines.append(f"recorded as audit entry {record.id}")
    return "\n".join(lines)


def check_report_path(path: Path) -> None:
    """InputError, before the search runs, unless ``path`` can be the report's file: not a
    folder, in a folder that exists (none is made)."""
    from facesearch.reports.html import report_path_problem

    problem = report_path_problem(path)
    if problem is not None:
        raise InputError(f"--report {shown_name(str(path))}: {problem}")


def _write_report(local: Local, record: SearchRecord, path: Path) -> None:
    """The HTML report of a search just run, with its audit entry and the chain head."""
    from facesearch.reports.html import write_report

    if record.id is None:  # app.search returns logged records only
        return
    entry = audit_entry(local.store, local.actor, record.id)
    head = audit_head(local.store, local.actor)
    write_report(record, path, local.engine, entry=entry, head=str(head))


def cmd_forget(args: argparse.Namespace, cli: Cli) -> int:
    from facesearch.gallery.ray_scan import RayScan

    if args.ray is not None and args.like is None:
        raise InputError("--ray is for an erasure with --like")
    request = request_from(
        EraseRequest,
        args,
        face_ids=tuple(args.face) if args.face else None,
        image_id=args.image,
        ray=None if args.ray is None else RayScan(args.ray),
    )
    with cli.local() as local:
        record = erase(local.engine, local.store, local.actor, request)
        left = [p for p in pending_blocklist(local.engine, local.store, local.actor) if p.gone]
    if left:  # an erasure killed before its audit entry: ``erasure blocklist`` says more
        print(
            f"warning: {len(left)} blocklist entr{'y' if len(left) == 1 else 'ies'} of an "
            "erasure killed before its audit entry was written: see `facesearch erasure "
            "blocklist`",
            file=sys.stderr,
        )
    if args.json:
        emit(record.as_json())
        return 0
    print(f"removed {len(record.face_ids)} face(s) from the catalog")
    for img in record.images[:20]:
        print(f"  from {escaped(img)}")
    if len(record.images) > 20:
        print(f"  ... and {len(record.images) - 20} more image(s) (see --json)")
    print("\n".join(record.vectors.lines()))
    if record.catalog_store is not None:
        c = record.catalog_store
        print(
            f"catalog ({c['database']}): {c['done']}"
            + (f"; left: {c['left']}" if c["left"] else "")
        )
    if record.blocklisted:
        print(
            "the probe was added to the erasure blocklist: matching faces are skipped "
            "at future ingests"
        )
    if record.probes_deleted is not None:
        print(f"deleted {record.probes_deleted} kept probe photo(s) showing the person")
    if record.persons_unnamed:
        ids = ", ".join(str(p) for p in record.persons_unnamed)
        print(
            f"took the name of {len(record.persons_unnamed)} person(s) it took faces from, "
            f"whose other faces stay (persons {ids}): name them again after a check"
        )
    if record.like is not None:
        like = record.like
        print(
            f"matched at similarity >= {like['threshold']} (false match rate "
            f"{like['fmr']:.1e}): among {like['gallery_faces']:,} faces about "
            f"{like['expected_strangers']:g} of other people match that well by chance "
            "(a face match is a lead, not an identification: for a big gallery, search the "
            "photo, check the candidates and erase them by --face)"
        )
    return 0


def cmd_stats(args: argparse.Namespace, cli: Cli) -> int:
    with cli.local() as local:
        stats = app_gallery.overview(local.engine, local.store, local.actor)
    if args.json:
        emit(stats)
    else:
        print(stats_table(stats))
        if any(row["entries"] for row in stats.get("blocklist_ingests", [])):
            print("\n" + textwrap.fill(BLOCKLIST_NOTE, 92))
    return 0


BLOCKLIST_NOTE = (
    "blocklist ingests: an ingest skips a new face at or above `threshold` to one of the "
    "`entries` that apply to it (a blank org: the deployment-wide ones, which apply to every "
    "ingest), each at false match rate `fmr`, so about `skipped` of the new faces of other "
    "people are skipped in all (at most FACESEARCH_BLOCKLIST_MAX_SKIP while `bounded`). The price: "
    "the more entries, the stricter the threshold, and the more new photos of an erased "
    "person go in all the same (`missed`: the false non-match rate of the calibration there)."
)


def stats_table(stats: dict[str, Any]) -> str:
    """``Engine.stats()`` as aligned lines: scalars first, then a table per list (models)."""
    lines = []
    tables = []
    width = max((len(k) for k, v in stats.items() if not isinstance(v, list)), default=0)
    for key, value in stats.items():
        if isinstance(value, list):
            tables.append((key, value))
            continue
        text = f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else value
        lines.append(f"{key.replace('_', ' '):<{width}} {text}")
    for key, rows in tables:
        lines.append("")
        lines.append(key.replace("_", " "))
        if not rows:
            lines.append("  (none)")
            continue
        columns = list(rows[0])
        cells = [[_cell(row.get(c)) for c in columns] for row in rows]
        widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
        for row in [columns, *cells]:
            lines.append(
                "  " + "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip()
            )
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return "" if value is None else str(value)


def cmd_export(args: argparse.Namespace, cli: Cli) -> int:
    with cli.local() as local:
        data, _ = export_subject(
            local.engine,
            local.store,
            local.actor,
            args.subject,
            case=args.case,
            purpose=args.purpose,
        )
    sys.stdout.write(json.dumps(data, indent=1) + "\n")
    return 0


def cmd_reindex(args: argparse.Namespace, cli: Cli) -> int:
    with cli.local() as local:
        n = app_gallery.reindex(local.engine, local.actor)
    print(f"rebuilt the vector indexes from the catalog: {n:,} faces")
    return 0
