"""CLI commands that analyse photos without the gallery: detect, embed, verify (1:1).

``detect`` and ``embed`` print one JSON line per face (or per file that failed), in input
order, and are not logged; ``verify`` is logged like a search, and ``verify --pairs FILE``
(one line per pair, ``app.verify_pairs``) as one entry for the whole run.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from facesearch.app.analyse import FileFailure, analyse_files, open_pipeline
from facesearch.cli.common import Cli, add_case_arguments, emit, request_from
from facesearch.core.text import escaped
from facesearch.errors import InputError
from facesearch.types import Face

if TYPE_CHECKING:
    from facesearch.app.verify_pairs import PairsRecord

__all__ = ["add_parsers", "face_json"]

PAIR_LEAD = "lead"  # a pair at or above the threshold: possibly one person, to be checked
PAIR_BELOW = "below"  # a pair below it: not shown to be one person (nor two)
SAME_FILE = "same file on both sides (same sha256): one photo, not two photos of a person"


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("detect", help="find faces: one JSON line per face")
    p.add_argument("images", nargs="+", type=Path)
    p.set_defaults(handler=cmd_detect)

    p = sub.add_parser("embed", help="find and embed faces: one JSON line per face")
    p.add_argument("images", nargs="+", type=Path)
    p.add_argument("--main", action="store_true", help="only the main face of each image")
    p.set_defaults(handler=cmd_embed)

    p = sub.add_parser(
        "verify",
        help="are the main faces of two photos (or of each pair of --pairs FILE) the same person?",
    )
    p.add_argument("a", type=Path, nargs="?")
    p.add_argument("b", type=Path, nargs="?")
    p.add_argument(
        "--pairs",
        type=Path,
        metavar="FILE",
        help="compare every line PATH_A<TAB>PATH_B of FILE instead ('#' comments and blank "
        "lines skipped): one line per pair, exit 2 if a photo could not be read or had no face",
    )
    p.add_argument("--json", action="store_true")
    p.add_argument("--threshold", type=float, help="decide at this similarity instead")
    p.add_argument("--max-fmr", type=float, help="decide at the threshold of this false match rate")
    add_case_arguments(p)
    p.set_defaults(handler=cmd_verify)


def face_json(source: str, face: Face, with_embedding: bool) -> dict[str, Any]:
    """One line of ``detect`` / ``embed``."""
    det = face.detection
    obj: dict[str, Any] = {
        "path": source,
        "face": face.index,
        "bbox": det.bbox.as_list(),
        "landmarks": [[round(x, 2), round(y, 2)] for x, y in det.landmarks],
        "score": round(det.score, 4),
        "quality": face.quality.as_dict(),
    }
    if with_embedding and face.embedding is not None:
        obj["embedding"] = [round(float(v), 6) for v in face.embedding]
    return obj


def _run_images(args: argparse.Namespace, cli: Cli, *, embed: bool, main_only: bool) -> int:
    """One JSON line per face (or per failed image), in input order, flushed as they come."""
    failed = False
    # The JSON line on stdout already says why a file failed; say it on stderr too, unless
    # both go to one place (a terminal, 2>&1), where it would be read twice.
    echo = not _same_stream(sys.stdout, sys.stderr)
    with open_pipeline(cli.settings, pipelines=cli.pipelines) as pipeline:
        results = analyse_files(
            pipeline, cli.actor(), args.images, embed=embed, main_only=main_only
        )
        for result in results:
            if isinstance(result, FileFailure):
                failed = True
                emit({"path": result.path, "face": None, "error": str(result.error)})
                if echo:
                    print(f"facesearch: {result.error}", file=sys.stderr)
            else:
                if not result.faces:
                    emit({"path": result.source, "face": None, "error": "no face found"})
                for face in result.faces:
                    emit(face_json(result.source, face, embed))
            sys.stdout.flush()
    return 2 if failed else 0


def _same_stream(a: Any, b: Any) -> bool:
    """Do two open files write to the same place (one terminal, or one pipe or file)?"""
    try:
        sa, sb = os.fstat(a.fileno()), os.fstat(b.fileno())
    except (AttributeError, OSError, ValueError):
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def cmd_detect(args: argparse.Namespace, cli: Cli) -> int:
    return _run_images(args, cli, embed=False, main_only=False)


def cmd_embed(args: argparse.Namespace, cli: Cli) -> int:
    return _run_images(args, cli, embed=True, main_only=args.main)


def cmd_verify(args: argparse.Namespace, cli: Cli) -> int:
    if args.pairs is not None:
        if args.a is not None or args.b is not None:
            raise InputError("give two photos or --pairs FILE, not both")
        return _verify_pairs(args, cli)
    if args.a is None or args.b is None:
        raise InputError("give two photos to compare (or --pairs FILE)")
    from facesearch.app import VerifyRequest, verify
    from facesearch.app.verify import verdict_words

    request = request_from(VerifyRequest, args, names=(str(args.a), str(args.b)))
    with cli.local(gallery=False) as local:
        record = verify(local.engine, local.store, local.actor, request)
    v = record.verification
    if args.json:
        emit(record.as_json())
    else:
        verdict = verdict_words(v.same)
        scores = f"similarity {v.similarity:.4f}, threshold {v.threshold:.4f}"
        print(f"{verdict[0].upper()}{verdict[1:]}: {scores}")
        if len(v.models) > 1:
            each = ", ".join(
                f"{m.split(':')[0]} {s:.4f}" for m, s in zip(v.models, v.scores, strict=True)
            )
            print(f"  fused from {each}")
        print(f"  at this similarity, {v.fmr_words} (FMR {v.fmr:.1e})")
        print(f"  the threshold means {v.threshold_words} (FMR {v.threshold_fmr:.1e})")
        print(f"  calibration: {v.calibration_source}")
        if record.same_file:
            print(f"  {SAME_FILE}")
        print("  A match is a lead for a person to check, never an identification.")
    return 0 if v.same else 1


def _verify_pairs(args: argparse.Namespace, cli: Cli) -> int:
    from facesearch.app.verify_pairs import PairsRequest, verify_pairs
    from facesearch.progress import Progress

    request = request_from(PairsRequest, args, pairs_file=args.pairs)
    with cli.local(gallery=False) as local, Progress("verify", unit="img") as bar:
        record = verify_pairs(
            local.engine, local.store, local.actor, request, lambda n, of: bar.update(n, of=of)
        )
    for line in record.lines():
        if args.json:
            emit(line)
        else:
            print(_pair_text(line))
    print(_pairs_summary(record), file=sys.stderr)
    return 2 if record.failed else 0


def _pair_text(line: dict[str, Any]) -> str:
    """One pair, readable: the paths (``escaped``), then the decision or the error. The
    decision column says ``lead`` (at or above the threshold: possibly the same person, for a
    person to check) or ``below``, never "same" or "different": a score is not an
    identification, and one below the threshold does not show two people."""
    a, b = escaped(line["a"]), escaped(line["b"])
    if "error" in line:
        return f"{a}\t{b}\tERROR (line {line['line']}): {line['error']}"
    verdict = PAIR_LEAD if line["same"] else PAIR_BELOW
    same_file = f"\t{SAME_FILE}" if line["same_file"] else ""
    return (
        f"{a}\t{b}\t{verdict}\tsimilarity {line['similarity']:.4f}"
        f"\tFMR {line['fmr']:.1e}{same_file}"
    )


def _entries(record: PairsRecord) -> str:
    seqs = record.entries or (record.id,)
    if len(seqs) == 1:
        return f"audit entry {seqs[0]}"
    return f"audit entries {seqs[0]}-{seqs[-1]} ({len(seqs)} parts)"


def _pairs_summary(record: PairsRecord) -> str:
    leads = sum(bool(r.verification and r.verification.same) for r in record.results)
    below = sum(bool(r.verification and not r.verification.same) for r in record.results)
    threshold = "-" if record.threshold is None else f"{record.threshold:.4f}"
    decided = next((r.verification for r in record.results if r.verification), None)
    basis = "" if decided is None else f"\nFalse match rates: {decided.calibration_source}"
    return (
        f"{len(record.results)} pairs: {leads} at or above the threshold ({PAIR_LEAD}), "
        f"{below} {PAIR_BELOW}, {record.failed} failed; threshold "
        f"{threshold}; models {', '.join(record.models)}; {_entries(record)}.{basis}\n"
        "A match is a lead for a person to check, never an identification."
    )
