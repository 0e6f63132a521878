"""CLI commands of the gallery: ingest, search, forget, stats, export, reindex, eval lfw-1n."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from facesearch.results import SAME_FILE_NOTE, describe_expected
from facesearch.settings import Settings


def add_case_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--case", help="case number this use belongs to (required once accounts exist)")
    p.add_argument("--purpose", help="stated purpose of this use (required once accounts exist)")


def add_eval_parsers(ev: Any) -> None:
    q = ev.add_parser("lfw-1n", help="open-set 1:N on LFW: rank-1, FNIR at FPIR")
    q.add_argument("--data", type=Path, help="LFW folder (default: setting lfw_dir)")
    q.add_argument("--out", type=Path, default=Path("eval-results"), help="folder for JSON")
    q.set_defaults(handler=cmd_eval_1n)


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("ingest", help="add the faces of images, folders, archives, lists")
    p.add_argument("paths", nargs="+", type=Path)
    p.add_argument("--collection", default="default")
    p.add_argument("--label-from-dir", action="store_true", help="label faces with the folder name")
    p.add_argument("--workers", type=int, help="inference threads (default: all cores)")
    p.add_argument("--json", action="store_true", help="print one summary object at the end")
    add_case_arguments(p)
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

    p = sub.add_parser("forget", help="erase faces (catalog, index files) and optionally blocklist")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--face", type=int, action="append", help="face id (repeatable)")
    g.add_argument("--image", type=int, help="image id")
    g.add_argument("--subject", help="every face labelled with this subject")
    g.add_argument("--like", type=Path, help="every face like this photo's; blocklists it too")
    p.add_argument("--max-fmr", type=float, help="with --like: match threshold as an FMR")
    p.add_argument("--reason", help="why (recorded; required once accounts exist)")
    p.add_argument("--json", action="store_true")
    add_case_arguments(p)
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


def _emit(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")


def _engine(settings: Settings) -> Any:
    from facesearch.engine import Engine

    return Engine(settings)


def _store(settings: Settings) -> Any:
    from facesearch.accountability import AccountabilityStore

    return AccountabilityStore.from_settings(settings)


def _actor() -> Any:
    from facesearch.accountability import local_actor

    return local_actor()


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    if args.workers is not None:
        settings = settings.replace(threads=args.workers)
    from facesearch.progress import Progress

    engine = _engine(settings)
    bar = Progress("ingest", unit="img")

    def progress(summary: Any) -> None:
        bar.update(
            summary.images_seen,
            faces=summary.faces_added,
            failed=len(summary.failed),
        )

    from facesearch.app.usage import audited_ingest

    try:
        with _store(settings) as store:
            summary, _ = audited_ingest(
                engine,
                store,
                _actor(),
                args.paths,
                collection=args.collection,
                label_from_dir=args.label_from_dir,
                progress=progress,
                case=args.case,
                purpose=args.purpose,
            )
        progress(summary)  # the last line counts the last batch's faces too
    finally:
        bar.close()
        engine.close()
    if args.json:
        _emit(summary.as_dict())
    else:
        rate = summary.images_seen / max(summary.seconds, 1e-6)
        print(
            f"{summary.images_seen:,} images seen, {summary.images_added:,} added, "
            f"{summary.duplicates:,} duplicates, {summary.faces_added:,} faces added, "
            f"{len(summary.failed):,} failed ({summary.seconds:.1f} s, {rate:.0f} images/s)"
        )
        for fail in summary.failed[:20]:
            print(f"  failed: {fail.source}: {fail.reason}", file=sys.stderr)
        if len(summary.failed) > 20:
            print(f"  ... and {len(summary.failed) - 20} more (see --json)", file=sys.stderr)
        for skip in summary.skipped[:20]:  # archive members not ingested on purpose
            print(f"  skipped: {skip['path']}: {skip['reason']}", file=sys.stderr)
        if summary.skipped_count > 20:
            more = summary.skipped_count - 20
            print(f"  ... and {more} more skipped (see --json)", file=sys.stderr)
    return 0


def cmd_search(args: argparse.Namespace, settings: Settings) -> int:
    from facesearch.app.usage import audited_search

    with _engine(settings) as engine:
        with _store(settings) as store:
            result, entry = audited_search(
                engine,
                store,
                _actor(),
                case=args.case,
                purpose=args.purpose,
                image=args.probe,
                name=str(args.probe),
                collections=args.collection,
                top=args.top,
                max_fmr=args.max_fmr,
                threshold=args.threshold,
                face=args.face,
                allow_poor=args.allow_poor,
            )
            head = store.audit.head()
        if args.report:
            from facesearch.reports.html import write_report

            write_report(result, args.report, engine, entry=entry, head=str(head))
    if args.json:
        _emit({**result.as_dict(), "audit_seq": entry.seq})
        return 0
    print(
        f"probe {result.probe}: {len(result.faces)} face(s) searched in "
        f"{result.gallery_faces:,} gallery faces ({', '.join(result.collections)})"
    )
    for pf in result.faces:
        print(f"face {pf.face} at {pf.bbox.as_list()}")
        for w in pf.warnings:
            print(f"  warning: {w}")
        if pf.refused:
            print("  not searched: the face is too poor (use --allow-poor to search anyway)")
            continue
        if not pf.hits:
            print("  no candidate above the threshold")
        for h in pf.hits:
            label = h.subject or "(no label)"
            print(
                f"  #{h.rank:<3} {h.similarity:.4f}  {label:<28} face {h.face_id:<7} {h.image_path}"
            )
            if h.same_file:
                print(f"        {SAME_FILE_NOTE}")
            print(
                f"        {h.fmr_words}; {describe_expected(h.expected_false)} such "
                f"strangers expected in this gallery"
            )
    print("A candidate is a lead for a person to check, not an identification.")
    print(f"recorded as audit entry {entry.seq}")
    if args.report:
        print(f"report written to {args.report}")
    return 0


def cmd_forget(args: argparse.Namespace, settings: Settings) -> int:
    from facesearch.app.usage import audited_forget

    with _engine(settings) as engine, _store(settings) as store:
        result, entry = audited_forget(
            engine,
            store,
            _actor(),
            reason=args.reason,
            face_ids=args.face,
            image_id=args.image,
            subject=args.subject,
            like=args.like,
            max_fmr=args.max_fmr,
            case=args.case,
            purpose=args.purpose,
        )
    out = {**result.as_dict(), "audit_seq": entry.seq}
    if args.like is not None:  # kept probe photos of the person, deleted too
        out["probes_deleted"] = entry.payload.get("probes_deleted", {}).get("count", 0)
    if args.json:
        _emit(out)
    else:
        print(
            f"removed {out['faces_removed']} face(s) from the catalog and "
            f"{out['index_vectors_removed']} from the index files"
        )
        for img in out["images"][:20]:
            print(f"  from {img}")
        if out["blocklisted"]:
            print(
                "the probe was added to the erasure blocklist: matching faces are skipped "
                "at future ingests"
            )
        if "probes_deleted" in out:
            print(f"deleted {out['probes_deleted']} kept probe photo(s) showing the person")
    return 0


def cmd_stats(args: argparse.Namespace, settings: Settings) -> int:
    with _engine(settings) as engine:
        stats = engine.stats()
    if args.json:
        _emit(stats)
    else:
        print(stats_table(stats))
    return 0


def stats_table(stats: dict[str, Any]) -> str:
    """``Engine.stats()`` as aligned lines: scalars first, then a table per list (models)."""
    lines = []
    tables = []
    for key, value in stats.items():
        if isinstance(value, list):
            tables.append((key, value))
            continue
        text = f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else value
        lines.append(f"{key.replace('_', ' '):<16} {text}")
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


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    from facesearch.app.usage import audited_export_subject

    with _engine(settings) as engine, _store(settings) as store:
        data, _ = audited_export_subject(
            engine, store, _actor(), args.subject, case=args.case, purpose=args.purpose
        )
    sys.stdout.write(json.dumps(data, indent=1) + "\n")
    return 0


def cmd_reindex(args: argparse.Namespace, settings: Settings) -> int:
    with _engine(settings) as engine:
        n = engine.reindex()
    print(f"rebuilt the vector indexes from the catalog: {n:,} faces")
    return 0


def cmd_eval_1n(args: argparse.Namespace, settings: Settings) -> int:
    from facesearch.evaluation import lfw, open_set
    from facesearch.pipeline import FacePipeline

    data = args.data or settings.lfw_dir
    names = lfw.all_images(data)
    pipeline = FacePipeline(settings)
    try:
        emb = lfw.embed_images(pipeline, data / lfw.IMAGES, names, progress=True)
    finally:
        pipeline.close()
    result = open_set.evaluate(emb, threads=settings.models.threads)
    result["model_id"] = pipeline.model_id
    lfw.save_json(result, args.out / "lfw-1n.json")
    print(open_set.describe(result))
    print(f"  written         {args.out / 'lfw-1n.json'}")
    return 0
