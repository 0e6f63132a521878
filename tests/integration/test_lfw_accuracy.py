"""The accuracy bar: LFW View 2 >= 99.30 %, recomputed from ``facesearch embed --main`` output
by code independent of facesearch.evaluation, and equal to what facesearch's own code says."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from facesearch.settings import Settings

pytestmark = [pytest.mark.lfw, pytest.mark.slow]

# how many genuine pairs of balanced accuracy the fusion weights' fit may move by from one
# CPU's precision to another's (test_the_shipped_fusion_is_what_calibrate_fused_fits)
NOISE_PAIRS = 2.0


def independent_ten_fold(scores: np.ndarray, same: np.ndarray) -> float:
    """Plain 10-fold: 600 pairs per fold in file order; best threshold on the other nine."""
    accs = []
    folds = np.arange(len(scores)) // 600
    candidates = np.unique(scores)
    for k in range(10):
        train, test = folds != k, folds == k
        best_t, best_acc = 0.0, -1.0
        for t in candidates:
            acc = np.mean((scores[train] >= t) == same[train])
            if acc > best_acc:
                best_t, best_acc = t, acc
        accs.append(np.mean((scores[test] >= best_t) == same[test]))
    return float(np.mean(accs))


def test_lfw_view2_from_embed_output(settings: Settings, lfw: Path, tmp_path: Path) -> None:
    rows = [ln.split("\t") for ln in (lfw / "pairs.txt").read_text().splitlines()[1:] if ln.strip()]

    def img(name: str, n: str) -> str:
        return str(lfw / "lfw-deepfunneled" / name / f"{name}_{int(n):04d}.jpg")

    pairs = [
        (img(r[0], r[1]), img(r[0], r[2]), True)
        if len(r) == 3
        else (img(r[0], r[1]), img(r[2], r[3]), False)
        for r in rows
    ]
    assert len(pairs) == 6000
    images = sorted({p for a, b, _ in pairs for p in (a, b)})
    env = {
        **os.environ,
        "FACESEARCH_CACHE_DIR": str(settings.cache_dir),
        "FACESEARCH_HOME": str(tmp_path / "home"),
    }
    out = tmp_path / "embed.jsonl"
    with out.open("w") as fh:
        done = subprocess.run(
            [sys.executable, "-m", "facesearch", "embed", "--main", *images],
            stdout=fh,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            timeout=1200,
        )
    assert done.returncode == 0, done.stderr[-2000:]
    vectors = {}
    for line in out.read_text().splitlines():
        obj = json.loads(line)
        if obj.get("embedding"):
            vectors[obj["path"]] = np.asarray(obj["embedding"], dtype=np.float64)
    missing = [p for p in images if p not in vectors]
    assert missing == [], f"no face found in {len(missing)} images"
    scores = np.array([vectors[a] @ vectors[b] for a, b, _ in pairs])
    same = np.array([s for _, _, s in pairs])
    accuracy = independent_ten_fold(scores, same)
    print(f"LFW View 2 accuracy recomputed from embed --main output: {100 * accuracy:.2f} %")
    assert accuracy >= 0.9930

    # facesearch's own evaluation code, fed the same embeddings, says the same
    from facesearch.evaluation import lfw as lfw_eval

    parsed = lfw_eval.read_pairs(lfw / "pairs.txt")
    names = sorted({p.a for p in parsed} | {p.b for p in parsed})
    root = lfw / "lfw-deepfunneled"
    emb = lfw_eval.EmbeddingSet(
        names=names,
        embeddings=np.stack([vectors[str(root / n)] for n in names]).astype(np.float32),
        found=np.ones(len(names), dtype=bool),
    )
    ours = lfw_eval.evaluate(parsed, emb)
    assert ours["accuracy_mean"] == pytest.approx(accuracy, abs=0.0005)
    assert ours["tar_at_far_1e-3"] > 0.97


# --- two models: SFace, dlib's ResNet and their fusion (issue 12) ---------------------------


@pytest.fixture(scope="module")
def view2_both(pipeline: Any, lfw: Path) -> tuple[list[Any], Any]:
    """pairs.txt and its images embedded by both models (cached under the test cache dir)."""
    from facesearch.evaluation import lfw as lfw_eval

    pairs = lfw_eval.read_pairs(lfw / "pairs.txt")
    names = sorted({p.a for p in pairs} | {p.b for p in pairs})
    emb = lfw_eval.embed_images(pipeline, lfw / lfw_eval.IMAGES, names, progress=False, second=True)
    assert emb.second is not None
    return pairs, emb


# SFace's View 2 accuracy as measured on each CPU kind at the precisions auto picks there with
# no int8 build (CPU kind, YuNet's, SFace's): bf16 rounds by the CPU's own kernels
SFACE_VIEW2 = {
    ("amx", "bf16", "bf16"): 0.9942,  # the 2-core Xeon with AMX
    ("avx512-vnni", "bf16", "bf16"): 0.9937,  # the 2-core AMD EPYC Zen 4, 2026-12-02
}


def test_lfw_view2_sface_dlib_and_fused_side_by_side(
    view2_both: tuple[list[Any], Any], pipeline: Any
) -> None:
    from facesearch.evaluation import fusion_fit
    from facesearch.models import running_precisions

    pairs, emb = view2_both
    models = fusion_fit.side_by_side(pairs, emb, emb.model_ids)["models"]
    sface, dlib, fused = models["sface"], models["dlib_resnet"], models["fused"]
    for name, m in models.items():
        print(
            f"{name:12} {100 * m['accuracy_mean']:.2f} ± {100 * m['accuracy_std']:.2f} %  "
            f"TAR@1e-3 {100 * m['tar_at_far_1e-3']:.2f} %  EER {100 * m['eer']:.2f} %"
        )
    # the bar on every CPU; where this CPU kind and precision were measured, that figure
    # (within 0.04 points, about 2 pairs of 6,000), so that a regression shows there
    assert sface["accuracy_mean"] >= 0.9930
    ran = running_precisions(pipeline.settings)
    kind = (ran["sface"].cpu, ran["yunet"].precision, ran["sface"].precision)
    known = SFACE_VIEW2.get(kind)
    print(f"CPU kind and precisions {kind}: measured before {known}")
    if known is not None:
        assert sface["accuracy_mean"] == pytest.approx(known, abs=0.0004)
    assert dlib["accuracy_mean"] > 0.985
    # fitted on the other nine folds each time, the fusion beats SFace alone
    assert fused["accuracy_mean"] >= sface["accuracy_mean"] + 0.0008
    assert fused["eer"] < sface["eer"]
    assert fused["tar_at_far_1e-2"] > sface["tar_at_far_1e-2"]
    assert len(fused["fold_fusions"]) == 10


def test_the_shipped_fusion_is_what_calibrate_fused_fits(pipeline: Any, lfw: Path) -> None:
    """The shipped fusion and table are what 'facesearch calibrate --fused' fits today: the
    normalisation from View 1's training people, weights that no neighbour on the fit's grid
    beats by more than the CPU's noise (the full grid search takes minutes; a model change
    without a refit moves the normalisation and fails here), a table over every pair of
    LFW."""
    import numpy as np

    from facesearch.core.calibration import load_table
    from facesearch.core.fusion import WEIGHT_STEP, fit_fusion, load_fusion, weights_key
    from facesearch.evaluation import fusion_fit

    sets = fusion_fit.lfw_fit_sets(pipeline, lfw, progress=False)
    assert "peopleDevTrain.txt" in sets.fit_source
    shipped = load_fusion(*sets.model_ids)
    pairs = fusion_fit.all_pairs(sets.fit)
    now = fit_fusion(
        pairs.impostor, pairs.genuine, sets.model_ids, source="", weights=shipped.weights
    )
    assert shipped.impostor_mean == pytest.approx(now.impostor_mean, abs=1e-4)
    assert shipped.impostor_std == pytest.approx(now.impostor_std, abs=1e-4)
    z_imp, z_gen = (
        np.stack(
            [
                (v - m) / d
                for v, m, d in zip(scores, now.impostor_mean, now.impostor_std, strict=True)
            ]
        )
        for scores in (pairs.impostor, pairs.genuine)
    )
    # Near its top the grid is flat: weights 0.50-0.60 lie within about 4 genuine pairs of
    # balanced accuracy of each other (of 217,637 genuine pairs), and the CPU moves the
    # embeddings by about one. 0.58 beat both neighbours on an AMX Xeon (bf16) and on an AMD
    # EPYC Zen 4 (bf16 and fp32, by 0.9-1.5 pairs); on another CI machine 0.57 beat it by
    # 0.65 of a pair. So a neighbour may score above the shipped weights by less than
    # NOISE_PAIRS genuine pairs, and no more.
    one_pair = 0.5 / z_gen.shape[1]
    shipped_accuracy = weights_key(shipped.weights, z_imp, z_gen)[0]
    w = shipped.weights[0]
    for other in (w - WEIGHT_STEP, w + WEIGHT_STEP):
        accuracy = weights_key((other, 1 - other), z_imp, z_gen)[0]
        assert (accuracy - shipped_accuracy) / one_pair < NOISE_PAIRS, other
    table = load_table(shipped.model_id)
    n = int(sets.all[0].found.sum())
    assert table.impostor_pairs + table.genuine_pairs == n * (n - 1) // 2  # all of LFW
    assert table.impostor_pairs > 80_000_000 and table.source == sets.table_source


def test_eval_cli_reports_both_models_and_the_fusion(
    settings: Settings,
    lfw: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    view2_both: tuple[list[Any], Any],
) -> None:
    """eval lfw (the cached embeddings of view2_both) and eval lfw-1n on 60 people."""
    from facesearch.cli import main

    monkeypatch.setenv("FACESEARCH_CACHE_DIR", str(settings.cache_dir))
    monkeypatch.setenv("FACESEARCH_HOME", str(tmp_path / "home"))
    assert main(["eval", "lfw", "--data", str(lfw), "--out", str(tmp_path / "out")]) == 0
    text = capsys.readouterr().out
    assert all(name in text for name in ("sface", "dlib_resnet", "fused", "TAR@FAR1e-3"))
    saved = json.loads((tmp_path / "out" / "lfw.json").read_text())
    assert list(saved["models"]) == ["sface", "dlib_resnet", "fused"]
    assert (tmp_path / "out" / "lfw-roc.png").stat().st_size > 10_000

    small = tmp_path / "lfw-small"
    people = sorted(p.name for p in (lfw / "lfw-deepfunneled").iterdir())[:60]
    for person in people:
        (small / "lfw-deepfunneled").mkdir(parents=True, exist_ok=True)
        (small / "lfw-deepfunneled" / person).symlink_to(lfw / "lfw-deepfunneled" / person)
    assert main(["eval", "lfw-1n", "--data", str(small), "--out", str(tmp_path / "out")]) == 0
    text = capsys.readouterr().out
    assert all(name in text for name in ("sface", "dlib_resnet", "fused", "rank-1"))
    one_n = json.loads((tmp_path / "out" / "lfw-1n.json").read_text())["models"]
    assert one_n["fused"]["rank1_hit_rate"] > 0.9
