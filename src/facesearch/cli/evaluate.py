"""CLI commands that measure the models: eval lfw (1:1), eval lfw-1n (open-set 1:N) and
calibrate (the similarity -> false match rate table). None of them touches the gallery."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from facesearch.app.analyse import open_pipeline
from facesearch.cli.common import Cli
from facesearch.errors import InputError
from facesearch.evaluation import lfw
from facesearch.evaluation.lfw import EmbeddingSet
from facesearch.gallery.sources import is_image_name

__all__ = ["add_parsers"]


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("eval", help="standard evaluations")
    ev = p.add_subparsers(title="protocols", metavar="PROTOCOL")
    q = ev.add_parser("lfw", help="LFW View 2: 10-fold accuracy, TAR@FAR, EER, ROC")
    q.add_argument("--data", type=Path, help="LFW folder (default: setting lfw_dir)")
    q.add_argument("--pairs", type=Path, help="pairs file (default: DATA/pairs.txt)")
    q.add_argument("--out", type=Path, default=Path("eval-results"), help="folder for JSON + PNG")
    q.set_defaults(handler=cmd_eval_lfw)
    q = ev.add_parser("lfw-1n", help="open-set 1:N on LFW: rank-1, FNIR at FPIR")
    q.add_argument("--data", type=Path, help="LFW folder (default: setting lfw_dir)")
    q.add_argument("--out", type=Path, default=Path("eval-results"), help="folder for JSON")
    q.set_defaults(handler=cmd_eval_1n)

    p = sub.add_parser("calibrate", help="build a similarity -> false-match-rate table")
    p.add_argument("data", type=Path, nargs="?", help="folder of Person/photo files (default: LFW)")
    p.add_argument("--out", type=Path, required=True, help="where to write the JSON table")
    p.set_defaults(handler=cmd_calibrate)


def _embed(cli: Cli, root: Path, names: list[str]) -> tuple[EmbeddingSet, str]:
    """The main-face embeddings of ``names`` (under ``root``; cached) and the model's id."""
    with open_pipeline(cli.settings, pipelines=cli.pipelines) as pipeline:
        return lfw.embed_images(pipeline, root, names, progress=True), pipeline.model_id


def cmd_eval_lfw(args: argparse.Namespace, cli: Cli) -> int:
    data = args.data or cli.settings.lfw_dir
    pairs = lfw.read_pairs(args.pairs or data / "pairs.txt")
    names = sorted({p.a for p in pairs} | {p.b for p in pairs})
    emb, model_id = _embed(cli, data / lfw.IMAGES, names)
    result = lfw.evaluate(pairs, emb)
    result["model_id"] = model_id
    out: Path = args.out
    lfw.save_json(result, out / "lfw.json")
    lfw.plot_roc(result, out / "lfw-roc.png", f"LFW View 2, {model_id}")
    mean, std = 100 * result["accuracy_mean"], 100 * result["accuracy_std"]
    print(
        f"LFW View 2 ({len(pairs):,} pairs, 10 folds), model {model_id}\n"
        f"  accuracy        {mean:.2f} % ± {std:.2f}\n"
        f"  TAR @ FAR 1e-2  {100 * result['tar_at_far_1e-2']:.2f} %\n"
        f"  TAR @ FAR 1e-3  {100 * result['tar_at_far_1e-3']:.2f} %\n"
        f"  EER             {100 * result['eer']:.2f} %\n"
        f"  no face found   {result['images_without_face']} of {result['images']} images\n"
        f"  written         {out / 'lfw.json'}, {out / 'lfw-roc.png'}"
    )
    return 0


def cmd_eval_1n(args: argparse.Namespace, cli: Cli) -> int:
    from facesearch.evaluation import open_set

    data = args.data or cli.settings.lfw_dir
    emb, model_id = _embed(cli, data / lfw.IMAGES, lfw.all_images(data))
    result = open_set.evaluate(emb, threads=cli.settings.models.threads)
    result["model_id"] = model_id
    lfw.save_json(result, args.out / "lfw-1n.json")
    print(open_set.describe(result))
    print(f"  written         {args.out / 'lfw-1n.json'}")
    return 0


def cmd_calibrate(args: argparse.Namespace, cli: Cli) -> int:
    import numpy as np

    from facesearch.core.calibration import build_table, save_table

    data: Path = args.data or cli.settings.lfw_dir
    root = data / lfw.IMAGES if (data / lfw.IMAGES).is_dir() else data
    names = sorted(str(p.relative_to(root)) for p in root.glob("*/*") if is_image_name(p.name))
    if not names:
        raise InputError(f"{root}: no Person/photo image files to calibrate from")
    emb, model_id = _embed(cli, root, names)
    labels = np.array([n.split("/")[0] for n in names])
    table = build_table(
        emb.embeddings[emb.found],
        labels[emb.found].tolist(),
        model_id=model_id,
        source=f"{root} ({int(emb.found.sum()):,} images, {len(set(labels)):,} people)",
    )
    save_table(table, args.out)
    print(
        f"wrote {args.out}: {table.impostor_pairs:,} impostor pairs, "
        f"{table.genuine_pairs:,} genuine pairs; threshold at FMR 1e-3 = "
        f"{table.threshold_for_fmr(1e-3):.4f}"
    )
    return 0
