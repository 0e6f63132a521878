"""LFW View 2 scored from ``facesearch verify --pairs --json`` output, by code independent of
facesearch (numpy only, no facesearch import): the acceptance check of issue 12.

    python benchmarks/lfw_from_pairs.py write LFW_DIR pairs.tsv
    facesearch verify --pairs pairs.tsv --json > verified.jsonl
    python benchmarks/lfw_from_pairs.py score LFW_DIR verified.jsonl [--json out.json]

``write`` turns LFW's pairs.txt (header "folds<TAB>n", then per fold n pairs of one person,
"name i j", and n of two people, "name1 i name2 j") into lines PATH_A<TAB>PATH_B of the
deep-funnelled images, in pairs.txt's order. ``score`` reads the verify lines back (in the
same order; each line's paths are checked against pairs.txt) and reports, for the fused
"similarity" and for each model's own score in "scores":

- accuracy, 10-fold: for each fold, the threshold that is right most often on the other nine
  folds' 5,400 pairs decides its 600; mean and standard deviation over the ten folds;
- TAR at FAR 1e-3 over all 6,000 pairs: the share of same-person pairs scoring above the
  threshold that at most 0.1 % of the different-person pairs pass.

A pair with an "error" (an image unread, or no face) scores minus infinity: it counts as a
"different" decision, right for a different-person pair, wrong for a same-person pair.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

IMAGES = "lfw-deepfunneled"


def lfw_pairs(lfw: Path) -> tuple[list[tuple[str, str]], np.ndarray, np.ndarray]:
    """(relative image paths A and B, same-person labels, fold numbers) of pairs.txt."""
    lines = (lfw / "pairs.txt").read_text().split("\n")
    folds, per_half = (int(x) for x in lines[0].split())
    rows = [line.split() for line in lines[1:] if line.strip()]
    if len(rows) != folds * 2 * per_half:
        raise SystemExit(f"pairs.txt: expected {folds * 2 * per_half} pairs, found {len(rows)}")

    def image(name: str, number: str) -> str:
        return f"{IMAGES}/{name}/{name}_{int(number):04d}.jpg"

    paths, same = [], []
    for row in rows:
        if len(row) == 3:
            paths.append((image(row[0], row[1]), image(row[0], row[2])))
            same.append(True)
        elif len(row) == 4:
            paths.append((image(row[0], row[1]), image(row[2], row[3])))
            same.append(False)
        else:
            raise SystemExit(f"pairs.txt: cannot read the line {' '.join(row)!r}")
    fold = np.arange(len(rows)) // (2 * per_half)
    return paths, np.array(same, dtype=bool), fold


def accuracy_10_fold(scores: np.ndarray, same: np.ndarray, fold: np.ndarray) -> list[float]:
    """Per test fold: the accuracy at the threshold that is best on the other folds."""
    out = []
    for k in np.unique(fold):
        train = fold != k
        threshold = most_accurate_threshold(scores[train], same[train])
        test = fold == k
        out.append(float(np.mean((scores[test] >= threshold) == same[test])))
    return out


def most_accurate_threshold(scores: np.ndarray, same: np.ndarray) -> float:
    """The threshold (deciding "same" at or above it) right on the most of these pairs (the
    lowest such): half-way between the lowest score it accepts and the next lower score."""
    finite = np.sort(np.unique(scores[np.isfinite(scores)]))
    candidates = np.concatenate([finite, [np.inf]])
    genuine = np.sort(scores[same])
    impostor = np.sort(scores[~same])
    # for "same when >= t": genuine at or above t are right, impostors below t are right
    right = (len(genuine) - np.searchsorted(genuine, candidates, side="left")) + np.searchsorted(
        impostor, candidates, side="left"
    )
    best = int(np.argmax(right))
    if best == 0 or not np.isfinite(candidates[best]):
        return float(candidates[best])
    return float((candidates[best] + candidates[best - 1]) / 2)


def tar_at_far(scores: np.ndarray, same: np.ndarray, far: float) -> float:
    """Share of genuine pairs accepted at the lowest threshold that accepts at most
    ``far`` of the impostor pairs (accept: score strictly above the highest impostor
    score left out)."""
    impostor = np.sort(scores[~same])[::-1]
    allowed = int(np.floor(far * len(impostor)))
    bar = impostor[allowed] if allowed < len(impostor) else -np.inf
    return float(np.mean(scores[same] > bar))


def read_verified(path: Path, expected: list[tuple[str, str]]) -> list[dict[str, object]]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if len(rows) != len(expected):
        raise SystemExit(f"{path}: {len(rows)} lines for {len(expected)} pairs")
    for n, (row, (a, b)) in enumerate(zip(rows, expected, strict=True), start=1):
        if not (str(row["a"]).endswith(a) and str(row["b"]).endswith(b)):
            raise SystemExit(f"{path}, line {n}: {row['a']} / {row['b']} is not pair {a} / {b}")
    return rows


def scores_of(rows: list[dict[str, object]], model: str | None) -> np.ndarray:
    """The fused similarity (model None) or one model's own score; -inf where it failed."""
    out = np.full(len(rows), -np.inf)
    for i, row in enumerate(rows):
        if row.get("error") is not None:
            continue
        value = row["similarity"] if model is None else row["scores"][model]  # type: ignore[index]
        out[i] = float(value)  # type: ignore[arg-type]
    return out


def score(lfw: Path, verified: Path) -> dict[str, object]:
    paths, same, fold = lfw_pairs(lfw)
    rows = read_verified(verified, paths)
    models = list(rows[0]["models"])  # type: ignore[call-overload]
    result: dict[str, object] = {
        "pairs": len(rows),
        "failed_pairs": sum(row.get("error") is not None for row in rows),
        "models": models,
        "by": {},
    }
    named = {"fused" if len(models) > 1 else models[0]: None}
    if len(models) > 1:
        named.update({m: m for m in models})
    by: dict[str, object] = {}
    for label, model in named.items():
        s = scores_of(rows, model)
        accuracies = accuracy_10_fold(s, same, fold)
        by[label] = {
            "accuracy_mean": float(np.mean(accuracies)),
            "accuracy_std": float(np.std(accuracies)),
            "fold_accuracies": accuracies,
            "tar_at_far_1e-3": tar_at_far(s, same, 1e-3),
            "tar_at_far_1e-2": tar_at_far(s, same, 1e-2),
        }
    result["by"] = by
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    w = sub.add_parser("write", help="pairs.txt -> lines PATH_A<TAB>PATH_B")
    w.add_argument("lfw", type=Path)
    w.add_argument("out", type=Path)
    s = sub.add_parser("score", help="10-fold accuracy and TAR@FAR from verify --pairs --json")
    s.add_argument("lfw", type=Path)
    s.add_argument("verified", type=Path)
    s.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.command == "write":
        paths, _, _ = lfw_pairs(args.lfw)
        root = args.lfw.resolve()
        args.out.write_text("".join(f"{root / a}\t{root / b}\n" for a, b in paths))
        print(f"{len(paths)} pairs -> {args.out}", file=sys.stderr)
        return 0
    result = score(args.lfw, args.verified)
    print(f"{result['pairs']} pairs, {result['failed_pairs']} failed; models {result['models']}")
    print(f"{'scores':<28} {'accuracy (10-fold)':>20} {'TAR@FAR1e-3':>12} {'TAR@FAR1e-2':>12}")
    for label, r in result["by"].items():  # type: ignore[attr-defined]
        acc = f"{100 * r['accuracy_mean']:.2f} +- {100 * r['accuracy_std']:.2f} %"
        print(
            f"{label:<28} {acc:>20} {100 * r['tar_at_far_1e-3']:>11.2f}% "
            f"{100 * r['tar_at_far_1e-2']:>11.2f}%"
        )
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
