"""Fusion fitted inside the 10-fold protocol, and the shipped fit, on synthetic embeddings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facesearch.core.fusion import load_fusion
from facesearch.errors import ConfigError
from facesearch.evaluation import fusion_fit, lfw
from facesearch.evaluation.lfw import EmbeddingSet, Pair

IDS = ("sface:aaaaaaaaaaaa", "dlib_resnet:bbbbbbbbbbbb")


def _scores(seed: int = 0) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Two models' scores of 10 folds x 200 pairs; each misses a different tenth of the
    genuine pairs."""
    rng = np.random.default_rng(seed)
    n = 2000
    same = np.tile([True, False], n // 2)
    folds = np.repeat(np.arange(10), n // 10)
    a = np.where(same, rng.normal(0.6, 0.1, n), rng.normal(0.05, 0.1, n))
    b = np.where(same, rng.normal(0.9, 0.04, n), rng.normal(0.6, 0.05, n))
    genuine = np.flatnonzero(same)
    a[genuine[::10]] = rng.normal(0.15, 0.05, len(genuine[::10]))
    b[genuine[5::10]] = rng.normal(0.65, 0.03, len(genuine[5::10]))
    return [a, b], same, folds


def test_each_folds_fusion_never_sees_that_fold() -> None:
    scores, same, folds = _scores()
    found = np.ones(len(same), dtype=bool)
    before = fusion_fit.ten_fold_fused(scores, same, folds, found, IDS)
    changed = [s.copy() for s in scores]
    rng = np.random.default_rng(7)
    for s in changed:  # scramble fold 3's scores and labels' relation entirely
        s[folds == 3] = rng.uniform(-1, 1, int((folds == 3).sum()))
    after = fusion_fit.ten_fold_fused(changed, same, folds, found, IDS)
    assert after.fusions[3] == before.fusions[3]
    assert after.folds[3].threshold == before.folds[3].threshold
    assert after.fusions[4] != before.fusions[4]  # fold 3 is in fold 4's training folds
    test = folds == 3
    np.testing.assert_allclose(
        after.scores[test], after.fusions[3].fuse(*[s[test] for s in changed])
    )


def test_fused_protocol_beats_either_model_on_complementary_errors() -> None:
    scores, same, folds = _scores()
    fused = fusion_fit.ten_fold_fused(scores, same, folds, np.ones(len(same), bool), IDS)
    fused_acc = np.mean([f.accuracy for f in fused.folds])
    from facesearch.evaluation import metrics

    alone = [np.mean([f.accuracy for f in metrics.ten_fold(s, same, folds)]) for s in scores]
    assert fused_acc > max(alone) + 0.01


def test_pairs_without_a_face_score_minus_one_and_stay_out_of_the_fit() -> None:
    scores, same, folds = _scores()
    found = np.ones(len(same), dtype=bool)
    found[[1, 3, 5]] = False  # impostor pairs of fold 0
    for s in scores:
        s[[1, 3, 5]] = -1.0  # what score_pairs gives them
    fused = fusion_fit.ten_fold_fused(scores, same, folds, found, IDS)
    assert (fused.scores[[1, 3, 5]] == fusion_fit.MISSING).all()
    fit = (folds != 4) & found & ~same
    assert fused.fusions[4].impostor_mean[0] == pytest.approx(scores[0][fit].mean())


def _people_set(seed: int, people: int = 40, shots: int = 3, noise: float = 0.5) -> EmbeddingSet:
    """``people`` people with ``shots`` images each; embeddings near each person's centre."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((people, 32))
    names, rows = [], []
    for p in range(people):
        for s in range(shots):
            names.append(f"P{p:03d}/P{p:03d}_{s + 1:04d}.jpg")
            rows.append(centres[p] + noise * rng.standard_normal(32))
    x = np.asarray(rows)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return EmbeddingSet(names, x.astype(np.float32), np.ones(len(names), dtype=bool))


def test_fit_shipped_tabulates_the_fused_score_of_every_pair() -> None:
    first, second = _people_set(1), _people_set(2)
    second.found[[0, 7]] = False  # one image without a face: left out of both
    first.found[[0, 7]] = False
    fit = fusion_fit.fit_shipped([first, second], IDS, "synthetic people")
    n = len(first.names) - 2
    genuine = 40 * 3 - 2 - 2  # 3 pairs a person, 2 each lost by people 0 and 2
    assert fit.table.genuine_pairs == genuine
    assert fit.table.impostor_pairs == n * (n - 1) // 2 - genuine
    assert fit.table.model_id == fit.fusion.model_id
    assert fit.fusion.source == "synthetic people"
    assert sum(fit.fusion.weights) == pytest.approx(1.0)


def test_save_shipped_writes_what_load_fusion_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from facesearch.core import calibration, fusion

    fit = fusion_fit.fit_shipped([_people_set(1), _people_set(2)], IDS, "synthetic people")
    fusion_path, table_path = fusion_fit.save_shipped(fit, tmp_path / "data")
    assert fusion_path.name == "fusion-sface+dlib_resnet.json"
    assert table_path.name == "calibration-sface+dlib_resnet.json"
    monkeypatch.setattr(fusion.resources, "files", lambda package: tmp_path)
    monkeypatch.setattr(calibration.resources, "files", lambda package: tmp_path)
    loaded = load_fusion(*IDS)
    assert loaded == fit.fusion
    assert calibration.load_table(loaded.model_id).impostor_pairs == fit.table.impostor_pairs


def test_fit_shipped_needs_a_person_with_two_images() -> None:
    lonely = _people_set(1, shots=1)
    with pytest.raises(ConfigError):
        fusion_fit.fit_shipped([lonely, _people_set(2, shots=1)], IDS, "x")


def test_people_outside_pairs(tmp_path: Path) -> None:
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("1\t1\nAnn\t1\t2\nBob\t1\tCid\t1\n")
    names = ["Ann/Ann_0001.jpg", "Bob/Bob_0001.jpg", "Dan/Dan_0001.jpg", "Dan/Dan_0002.jpg"]
    assert fusion_fit.people_outside_pairs(pairs, names) == names[2:]


def _pairs_of(emb: EmbeddingSet) -> list[Pair]:
    """10 folds of genuine and impostor pairs over ``_people_set`` images."""
    pairs = []
    rng = np.random.default_rng(3)
    for fold in range(10):
        for k in range(20):
            p = (fold * 20 + k) % 40
            q = (p + 1 + int(rng.integers(0, 38))) % 40
            pairs.append(Pair(fold, emb.names[3 * p], emb.names[3 * p + 1], True))
            pairs.append(Pair(fold, emb.names[3 * p + 2], emb.names[3 * q], False))
    return pairs


def test_side_by_side_reports_each_model_and_the_fusion() -> None:
    first, second = _people_set(1, noise=0.9), _people_set(2, noise=0.9)
    both = EmbeddingSet(first.names, first.embeddings, first.found, second.embeddings, IDS)
    pairs = _pairs_of(both)
    result = fusion_fit.side_by_side(pairs, both, IDS)
    assert list(result["models"]) == ["sface", "dlib_resnet", "fused"]
    assert result["models"]["dlib_resnet"]["accuracy_mean"] == pytest.approx(
        lfw.evaluate(pairs, both.second_set())["accuracy_mean"]
    )
    assert len(result["models"]["fused"]["fold_fusions"]) == 10
    assert "fused" in lfw.describe(result)
    alone = fusion_fit.side_by_side(pairs, first, IDS[:1])
    assert list(alone["models"]) == ["sface"]


def test_people_in_list_reads_an_lfw_people_file(tmp_path: Path) -> None:
    people = tmp_path / "peopleDevTrain.txt"
    people.write_text("2\nAnn_A\t2\nBob_B\t1\n")
    names = ["Ann_A/Ann_A_0001.jpg", "Ann_A/Ann_A_0002.jpg", "Bob_B/Bob_B_0001.jpg", "Cy/Cy_1.jpg"]
    assert fusion_fit.people_in_list(people, names) == names[:3]
    with pytest.raises(ConfigError):
        fusion_fit.people_in_list(tmp_path / "missing.txt", names)


def test_fit_shipped_tabulates_other_sets_when_given() -> None:
    """The fusion comes from ``sets``, the table from every pair of ``table_sets``."""
    fit_sets = [_people_set(1), _people_set(2)]
    more = [_people_set(1, people=12), _people_set(2, people=12)]
    fit = fusion_fit.fit_shipped(fit_sets, IDS, "fit", table_sets=more, table_source="all")
    alone = fusion_fit.fit_shipped(fit_sets, IDS, "fit")
    assert fit.fusion == alone.fusion
    n = int(more[0].found.sum())
    assert fit.table.impostor_pairs + fit.table.genuine_pairs == n * (n - 1) // 2
    assert fit.table.source == "all" and fit.table.model_id == fit.fusion.model_id
