"""The command line: parses arguments, calls the library, formats output. Nothing else.

Data goes to stdout, diagnostics to stderr. Every FaceSearchError becomes one line on stderr
and exit code 2 (``main``), never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from facesearch.errors import CaseRequiredError, FaceSearchError, ImageError, InputError
from facesearch.settings import Settings

log = logging.getLogger("facesearch")

Handler = Callable[[argparse.Namespace, Settings], int]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        settings = Settings.from_env(home=args.home)
        handler: Handler = args.handler
        return handler(args, settings)
    except FaceSearchError as exc:
        # the case check is usage's; here its options are named
        message = case_options_message(exc) if isinstance(exc, CaseRequiredError) else exc
        print(f"facesearch: error: {message}", file=sys.stderr)
        return 2
    except OverflowError as exc:  # an id past int64, a date past year 9999, ...
        print(f"facesearch: error: a number or date is out of range ({exc})", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("facesearch: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


def case_options_message(exc: CaseRequiredError) -> str:
    why = "this home has user accounts, so every use is tied to a case"
    if "case" in exc.missing:
        return (
            f"a case number is required, and a stated purpose: give --case NUMBER "
            f"--purpose TEXT ({why})"
        )
    return f"a stated purpose is required: give --purpose TEXT with --case ({why})"


def build_parser() -> argparse.ArgumentParser:
    from facesearch.cli import gallery as cli_gallery
    from facesearch.cli import server as cli_server

    parser = argparse.ArgumentParser(
        prog="facesearch",
        description="Self-hosted face search. A match is a lead for a person to check, "
        "never an identification.",
    )
    parser.add_argument("--home", type=Path, help="facesearch home folder (FACESEARCH_HOME)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging on stderr")

    def show_help(args: argparse.Namespace, settings: Settings) -> int:
        parser.print_help()
        return 0

    parser.set_defaults(handler=show_help)
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    p = sub.add_parser("detect", help="find faces: one JSON line per face")
    p.add_argument("images", nargs="+", type=Path)
    p.set_defaults(handler=cmd_detect)

    p = sub.add_parser("embed", help="find and embed faces: one JSON line per face")
    p.add_argument("images", nargs="+", type=Path)
    p.add_argument("--main", action="store_true", help="only the main face of each image")
    p.set_defaults(handler=cmd_embed)

    p = sub.add_parser("verify", help="are the main faces of two photos the same person?")
    p.add_argument("a", type=Path)
    p.add_argument("b", type=Path)
    p.add_argument("--json", action="store_true")
    p.add_argument("--threshold", type=float, help="decide at this similarity instead")
    p.add_argument("--max-fmr", type=float, help="decide at the threshold of this false match rate")
    cli_gallery.add_case_arguments(p)
    p.set_defaults(handler=cmd_verify)

    p = sub.add_parser("eval", help="standard evaluations")
    ev = p.add_subparsers(title="protocols", metavar="PROTOCOL")
    q = ev.add_parser("lfw", help="LFW View 2: 10-fold accuracy, TAR@FAR, EER, ROC")
    q.add_argument("--data", type=Path, help="LFW folder (default: setting lfw_dir)")
    q.add_argument("--pairs", type=Path, help="pairs file (default: DATA/pairs.txt)")
    q.add_argument("--out", type=Path, default=Path("eval-results"), help="folder for JSON + PNG")
    q.set_defaults(handler=cmd_eval_lfw)
    cli_gallery.add_eval_parsers(ev)

    p = sub.add_parser("calibrate", help="build a similarity -> false-match-rate table")
    p.add_argument("data", type=Path, nargs="?", help="folder of Person/photo files (default: LFW)")
    p.add_argument("--out", type=Path, required=True, help="where to write the JSON table")
    p.set_defaults(handler=cmd_calibrate)

    p = sub.add_parser("models", help="list the registered models")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_models)

    p = sub.add_parser("settings", help="list every setting and its environment variable")
    p.set_defaults(handler=cmd_settings)

    cli_gallery.add_parsers(sub)
    cli_server.add_parsers(sub)
    return parser


def emit(obj: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")


def face_json(source: str, face: Any, with_embedding: bool) -> dict[str, Any]:
    det = face.detection
    obj: dict[str, Any] = {
        "path": source,
        "face": face.index,
        "bbox": det.bbox.as_list(),
        "landmarks": [[round(x, 2), round(y, 2)] for x, y in det.landmarks],
        "score": round(det.score, 4),
        "quality": face.quality.as_dict(),
    }
    if with_embedding:
        obj["embedding"] = [round(float(v), 6) for v in face.embedding]
    return obj


def _run_images(args: argparse.Namespace, settings: Settings, embed: bool, main_only: bool) -> int:
    """One JSON line per face (or per failed image), in input order. Files are read as the
    pipeline pulls them, a chunk ahead, so memory stays bounded however many are named."""
    from collections import deque

    from facesearch.pipeline import Decodable, FacePipeline, read_file
    from facesearch.types import ImageFaces

    read_errors: deque[ImageError | None] = deque()

    def feed() -> Any:
        for path in args.images:
            try:
                item = read_file(path, settings.limits.max_file_bytes)
            except ImageError as exc:
                read_errors.append(exc)
                yield Decodable(str(path), b"")  # placeholder: its result is replaced below
                continue
            read_errors.append(None)
            yield item

    failed = False
    # The JSON line on stdout already says why a file failed; say it on stderr too, unless
    # both go to one place (a terminal, 2>&1), where it would be read twice.
    echo = not _same_stream(sys.stdout, sys.stderr)
    with FacePipeline(settings) as pipeline:
        for analysed in pipeline.run(feed(), embed=embed, main_only=main_only):
            result = read_errors.popleft() or analysed
            if isinstance(result, ImageFaces):
                if not result.faces:
                    emit({"path": result.source, "face": None, "error": "no face found"})
                for face in result.faces:
                    emit(face_json(result.source, face, embed))
            else:
                failed = True
                emit({"path": getattr(result, "path", None), "face": None, "error": str(result)})
                if echo:
                    print(f"facesearch: {result}", file=sys.stderr)
            sys.stdout.flush()
    return 2 if failed else 0


def _same_stream(a: Any, b: Any) -> bool:
    """Do two open files write to the same place (one terminal, or one pipe or file)?"""
    import os

    try:
        sa, sb = os.fstat(a.fileno()), os.fstat(b.fileno())
    except (AttributeError, OSError, ValueError):
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def cmd_detect(args: argparse.Namespace, settings: Settings) -> int:
    return _run_images(args, settings, embed=False, main_only=False)


def cmd_embed(args: argparse.Namespace, settings: Settings) -> int:
    return _run_images(args, settings, embed=True, main_only=args.main)


def cmd_verify(args: argparse.Namespace, settings: Settings) -> int:
    from facesearch.accountability import AccountabilityStore, local_actor
    from facesearch.app.usage import audited_verify
    from facesearch.engine import Engine

    with (
        Engine(settings, open_catalog=False) as engine,
        AccountabilityStore.from_settings(settings) as store,
    ):
        result, entry = audited_verify(
            engine,
            store,
            local_actor(),
            case=args.case,
            purpose=args.purpose,
            a=args.a,
            b=args.b,
            threshold=args.threshold,
            max_fmr=args.max_fmr,
        )
    v = result.verification
    if args.json:
        emit({"a": str(args.a), "b": str(args.b), **v.as_dict(), "audit_seq": entry.seq})
    else:
        verdict = "SAME PERSON (likely)" if v.same else "DIFFERENT PEOPLE (likely)"
        print(f"{verdict}: similarity {v.similarity:.4f}, threshold {v.threshold:.4f}")
        print(f"  at this similarity, {v.fmr_words} (FMR {v.fmr:.1e})")
        print(f"  the threshold means {v.threshold_words} (FMR {v.threshold_fmr:.1e})")
        print(f"  calibration: {v.calibration_source}")
        print("  A match is a lead for a person to check, never an identification.")
    return 0 if v.same else 1


def cmd_eval_lfw(args: argparse.Namespace, settings: Settings) -> int:
    from facesearch.evaluation import lfw
    from facesearch.pipeline import FacePipeline

    data = args.data or settings.lfw_dir
    pairs = lfw.read_pairs(args.pairs or data / "pairs.txt")
    names = sorted({p.a for p in pairs} | {p.b for p in pairs})
    pipeline = FacePipeline(settings)
    try:
        emb = lfw.embed_images(pipeline, data / lfw.IMAGES, names, progress=True)
    finally:
        pipeline.close()
    result = lfw.evaluate(pairs, emb)
    result["model_id"] = pipeline.model_id
    out: Path = args.out
    lfw.save_json(result, out / "lfw.json")
    lfw.plot_roc(result, out / "lfw-roc.png", f"LFW View 2, {pipeline.model_id}")
    mean, std = 100 * result["accuracy_mean"], 100 * result["accuracy_std"]
    print(
        f"LFW View 2 ({len(pairs):,} pairs, 10 folds), model {pipeline.model_id}\n"
        f"  accuracy        {mean:.2f} % ± {std:.2f}\n"
        f"  TAR @ FAR 1e-2  {100 * result['tar_at_far_1e-2']:.2f} %\n"
        f"  TAR @ FAR 1e-3  {100 * result['tar_at_far_1e-3']:.2f} %\n"
        f"  EER             {100 * result['eer']:.2f} %\n"
        f"  no face found   {result['images_without_face']} of {result['images']} images\n"
        f"  written         {out / 'lfw.json'}, {out / 'lfw-roc.png'}"
    )
    return 0


def cmd_calibrate(args: argparse.Namespace, settings: Settings) -> int:
    import numpy as np

    from facesearch.core.calibration import build_table, save_table
    from facesearch.evaluation import lfw
    from facesearch.gallery.sources import is_image_name
    from facesearch.pipeline import FacePipeline

    data: Path = args.data or settings.lfw_dir
    images_root = data / lfw.IMAGES if (data / lfw.IMAGES).is_dir() else data
    names = sorted(
        str(p.relative_to(images_root))
        for p in images_root.glob("*/*")
        if is_image_name(p.name)
    )
    if not names:
        raise InputError(f"{images_root}: no Person/photo image files to calibrate from")
    pipeline = FacePipeline(settings)
    try:
        emb = lfw.embed_images(pipeline, images_root, names, progress=True)
    finally:
        pipeline.close()
    labels = np.array([n.split("/")[0] for n in names])
    table = build_table(
        emb.embeddings[emb.found],
        labels[emb.found].tolist(),
        model_id=pipeline.model_id,
        source=f"{images_root} ({int(emb.found.sum()):,} images, {len(set(labels)):,} people)",
    )
    save_table(table, args.out)
    print(
        f"wrote {args.out}: {table.impostor_pairs:,} impostor pairs, "
        f"{table.genuine_pairs:,} genuine pairs; threshold at FMR 1e-3 = "
        f"{table.threshold_for_fmr(1e-3):.4f}"
    )
    return 0


def cmd_models(args: argparse.Namespace, settings: Settings) -> int:
    from facesearch.models.registry import ModelRegistry, locate
    from facesearch.models.runtime import available_runtimes, choose_runtime

    registry = ModelRegistry(settings)
    rows = []
    for spec in registry.specs():
        info = spec.as_dict()
        try:
            info["path"] = str(locate(spec))
            info["status"] = "ok (sha256 verified)"
        except FaceSearchError as exc:
            info["status"] = f"unavailable: {exc}"
        rows.append(info)
    if args.json:
        for row in rows:
            emit(row)
        return 0
    print(
        f"runtimes installed: {', '.join(available_runtimes())}; in use: {choose_runtime(settings)}"
    )
    for row in rows:
        print(f"{row['name']:<10} {row['task']:<9} {row['model_id']}")
        print(f"    sha256 {row['sha256']}")
        print(f"    from   {row.get('path', row['source'])}")
        print(f"    status {row['status']}")
    return 0


def cmd_settings(args: argparse.Namespace, settings: Settings) -> int:
    for env, default, doc in Settings.describe():
        print(f"{env}\n    {doc}\n    default: {default}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
