"""CLI commands that measure the models: eval lfw (1:1), eval lfw-1n (open-set 1:N), each
for the primary model, the second and their fusion side by side, and calibrate (the similarity
-> false match rate table; ``--fused``: the shipped fusion and its table). None of them
touches the gallery."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from facesearch.app.analyse import open_pipeline
from facesearch.cli.common import Cli
from facesearch.evaluation import lfw
from facesearch.evaluation.lfw import EmbeddingSet
from facesearch.settings import Settings

__all__ = ["add_parsers"]


def add_parsers(sub: Any) -> None:
    p = sub.add_parser("eval", help="standard evaluations")
    ev = p.add_subparsers(title="protocols", metavar="PROTOCOL")
    q = ev.add_parser(
        "lfw", help="LFW View 2: 10-fold accuracy, TAR@FAR, EER, ROC; each model and fused"
    )
    q.add_argument("--data", type=Path, help="LFW folder (default: setting lfw_dir)")
    q.add_argument("--pairs", type=Path, help="pairs file (default: DATA/pairs.txt)")
    q.add_argument("--out", type=Path, default=Path("eval-results"), help="folder for JSON + PNG")
    q.set_defaults(handler=cmd_eval_lfw)
    q = ev.add_parser(
        "lfw-1n", help="open-set 1:N on LFW: rank-1, FNIR at FPIR; each model and fused"
    )
    q.add_argument("--data", type=Path, help="LFW folder (default: setting lfw_dir)")
    q.add_argument("--out", type=Path, default=Path("eval-results"), help="folder for JSON")
    q.set_defaults(handler=cmd_eval_1n)

    p = sub.add_parser(
        "calibrate",
        help="build similarity -> false-match-rate tables (FACESEARCH_CALIBRATION_FILE)",
    )
    p.add_argument("data", type=Path, nargs="?", help="folder of Person/photo files (default: LFW)")
    p.add_argument(
        "--out",
        type=Path,
        required=True,
        help="where to write the JSON file: the first model's table and, while a second model "
        "is on, the fused score's, which verify uses; nothing is written when the table verify "
        "uses cannot resolve FACESEARCH_VERIFY_MAX_FMR",
    )
    p.add_argument(
        "--fused",
        action="store_true",
        help="fit the two models' fusion on LFW View 1's training people (peopleDevTrain.txt; "
        "many of them are in pairs.txt too) and its table on all of LFW (DATA: an LFW folder); "
        "--out is then a folder (shipped: src/facesearch/data)",
    )
    p.set_defaults(handler=cmd_calibrate)


def _embed(cli: Cli, root: Path, names: list[str], listed_in: str = "asked for") -> EmbeddingSet:
    """The main-face embeddings of ``names`` (under ``root``; cached) by the primary model
    and, where one is configured, the second."""
    with open_pipeline(cli.settings, pipelines=cli.pipelines) as pipeline:
        return lfw.embed_images(
            pipeline, root, names, progress=True, second=True, listed_in=listed_in
        )


def cmd_eval_lfw(args: argparse.Namespace, cli: Cli) -> int:
    from facesearch.evaluation import fusion_fit

    data = args.data or cli.settings.lfw_dir
    pairs_file = args.pairs or data / "pairs.txt"
    pairs = lfw.read_pairs(pairs_file)
    names = sorted({p.a for p in pairs} | {p.b for p in pairs})
    emb = _embed(cli, data / lfw.IMAGES, names, f"{pairs_file} names")
    result = fusion_fit.side_by_side(pairs, emb, emb.model_ids)
    out: Path = args.out
    lfw.save_json(result, out / "lfw.json")
    lfw.plot_roc(result["models"], out / "lfw-roc.png", "LFW View 2")
    print(lfw.describe(result))
    print(f"  written: {out / 'lfw.json'}, {out / 'lfw-roc.png'}")
    return 0


def cmd_eval_1n(args: argparse.Namespace, cli: Cli) -> int:
    from facesearch.core.fusion import load_fusion
    from facesearch.evaluation import open_set

    data = args.data or cli.settings.lfw_dir
    emb = _embed(cli, data / lfw.IMAGES, lfw.all_images(data))
    fusion = load_fusion(*emb.model_ids) if emb.second is not None else None
    results = open_set.side_by_side(emb, emb.model_ids, fusion, threads=cli.settings.models.threads)
    lfw.save_json({"models": results}, args.out / "lfw-1n.json")
    print(open_set.describe(results))
    print(f"  written: {args.out / 'lfw-1n.json'}")
    return 0


def cmd_calibrate(args: argparse.Namespace, cli: Cli) -> int:
    from facesearch.core.calibration import save_table
    from facesearch.evaluation import own_calibration as own
    from facesearch.settings.checks import env_name

    data: Path = args.data or cli.settings.lfw_dir
    if args.fused:
        return _calibrate_fused(data, args.out, cli)
    root = own.folder_root(data)
    with open_pipeline(cli.settings, pipelines=cli.pipelines) as pipeline:
        tables = own.build_own_tables(pipeline, root, progress=True)
    rate = cli.settings.matching.verify_max_fmr
    setting = env_name("verify_max_fmr")
    note = " (its default)" if rate == Settings().matching.verify_max_fmr else ""
    own.check_resolves(tables, root, rate, setting, note)
    save_table(tables.table, args.out, tables.fused)
    table, fused = tables.table, tables.fused
    if fused is None:
        holds = f"the first model's table, resolving false match rates down to {table.min_fmr:.1e}"
    else:
        holds = (
            f"the first model's table, resolving false match rates down to {table.min_fmr:.1e}, "
            f"and the fused score's, which verify uses, down to {fused.min_fmr:.1e}"
        )
    decides = tables.verify_table.threshold_for_fmr(rate)
    print(
        f"wrote {args.out}: {tables.people:,} people, {tables.images:,} photos with a face, "
        f"{table.impostor_pairs:,} impostor pairs, {table.genuine_pairs:,} genuine pairs\n"
        f"  it holds {holds}\n"
        f"  verify's threshold at {setting}={rate:g}{note}: {decides:.4f}"
    )
    return 0


def _calibrate_fused(data: Path, out: Path, cli: Cli) -> int:
    from facesearch.evaluation import fusion_fit

    with open_pipeline(cli.settings, pipelines=cli.pipelines) as pipeline:
        fit = fusion_fit.fit_on_lfw(pipeline, data, progress=True)
    fusion_path, table_path = fusion_fit.save_shipped(fit, out)
    f, t = fit.fusion, fit.table
    print(
        f"wrote {fusion_path}: {f.model_id}, weights {', '.join(f'{w:g}' for w in f.weights)}\n"
        f"wrote {table_path}: {t.impostor_pairs:,} impostor pairs, {t.genuine_pairs:,} genuine "
        f"pairs; threshold at FMR 1e-3 = {t.threshold_for_fmr(1e-3):.4f}\n"
        f"fitted on {f.source}"
    )
    return 0
