"""Score fusion on synthetic scores: two models that err on different pairs."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from facesearch.core import fusion as fusion_module
from facesearch.core.calibration import load_table
from facesearch.core.fusion import Fusion, fit_fusion, load_fusion
from facesearch.errors import ConfigError
from facesearch.models.registry import ModelRegistry
from facesearch.settings import Settings

IDS = ("sface:aaaaaaaaaaaa", "dlib_resnet:bbbbbbbbbbbb")


def _scores(seed: int = 0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(impostor, genuine) per model. Model A (SFace-like scale) misses genuine pairs 0-99,
    model B (dlib-like scale: high, narrow) misses genuine pairs 100-199."""
    rng = np.random.default_rng(seed)
    n_imp, n_gen = 4000, 1000
    a_imp = rng.normal(0.05, 0.1, n_imp)
    b_imp = rng.normal(0.6, 0.05, n_imp)
    a_gen = rng.normal(0.6, 0.1, n_gen)
    b_gen = rng.normal(0.9, 0.04, n_gen)
    a_gen[:100] = rng.normal(0.2, 0.05, 100)  # A's hard pairs: well inside its impostors' tail
    b_gen[100:200] = rng.normal(0.68, 0.03, 100)
    return [a_imp, b_imp], [a_gen, b_gen]


def _tar_at_far(imp: np.ndarray, gen: np.ndarray, far: float = 1e-3) -> float:
    threshold = np.sort(imp)[::-1][int(far * len(imp))]
    return float((gen > threshold).mean())


def test_fusing_two_models_that_err_on_different_pairs_beats_either() -> None:
    imp, gen = _scores()
    fusion = fit_fusion(imp, gen, IDS, source="synthetic")
    assert 0.05 < fusion.weights[0] < 0.95  # both models used
    fused_tar = _tar_at_far(fusion.fuse(*imp), fusion.fuse(*gen))
    best_alone = max(_tar_at_far(imp[0], gen[0]), _tar_at_far(imp[1], gen[1]))
    assert best_alone <= 0.91
    assert fused_tar > best_alone + 0.05
    # and on fresh pairs from the same models (not the ones it was fitted on)
    imp2, gen2 = _scores(seed=1)
    assert _tar_at_far(fusion.fuse(*imp2), fusion.fuse(*gen2)) > best_alone + 0.05


def test_weights_search_picks_the_only_informative_model() -> None:
    rng = np.random.default_rng(3)
    imp = [rng.normal(0, 0.1, 3000), rng.normal(0.5, 0.1, 3000)]
    gen = [rng.normal(0.35, 0.1, 500), rng.normal(0.5, 0.1, 500)]  # model B is noise
    fusion = fit_fusion(imp, gen, IDS, source="synthetic")
    assert fusion.weights[0] >= 0.8


def test_pairs_that_cannot_tell_weights_apart_get_equal_weights() -> None:
    rng = np.random.default_rng(4)
    imp = [rng.normal(0, 0.1, 3000), rng.normal(0.6, 0.05, 3000)]
    gen = [rng.normal(0.9, 0.02, 50), rng.normal(0.95, 0.01, 50)]  # every weight separates
    assert fit_fusion(imp, gen, IDS, source="synthetic").weights == (0.5, 0.5)


def test_fused_score_lives_on_the_primary_models_impostor_scale() -> None:
    imp, gen = _scores()
    fusion = fit_fusion(imp, gen, IDS, source="synthetic")
    fused_imp = fusion.fuse(*imp)
    assert fused_imp.mean() == pytest.approx(imp[0].mean(), abs=1e-9)
    assert fused_imp.std() <= imp[0].std() * 1.0001  # averaging z-scores never widens them
    everything = np.concatenate([fused_imp, fusion.fuse(*gen)])
    assert everything.min() >= -1.0 and everything.max() <= 1.0
    assert np.median(fusion.fuse(*gen)) > 0.4  # genuine pairs far up, as with the primary


def test_weight_one_on_the_primary_gives_the_primary_score_back() -> None:
    imp, gen = _scores()
    fusion = fit_fusion(imp, gen, IDS, source="synthetic", weights=(1.0, 0.0))
    assert fusion.fuse(0.37, 0.99) == pytest.approx(0.37)
    assert isinstance(fusion.fuse(0.37, 0.99), float)
    np.testing.assert_allclose(fusion.fuse(gen[0], gen[1]), np.clip(gen[0], -1, 1))


def test_fuse_is_clipped_to_minus_one_one_and_checks_its_arity() -> None:
    f = Fusion(IDS, (0.0, 0.6), (0.2, 0.05), (0.5, 0.5), "hand-made")
    assert f.fuse(0.2, 0.65) == pytest.approx(0.2)  # z = (1 + 1) / 2 -> 0 + 0.2 * 1
    assert f.fuse(1.0, 1.0) == 1.0  # z = (5 + 8) / 2 -> 1.3, clipped
    assert f.fuse(-1.0, -1.0) == -1.0
    with pytest.raises(ValueError, match="2 scores"):
        f.fuse(0.5)


def test_round_trip_and_model_id() -> None:
    fusion = fit_fusion(*_scores(), IDS, source="synthetic LFW-like scores")
    raw = json.loads(json.dumps(fusion.as_dict()))
    assert Fusion.from_dict(raw) == fusion
    assert fusion.model_id.startswith("sface+dlib_resnet:")
    assert len(fusion.model_id.split(":")[1]) == 12
    refit = Fusion(fusion.model_ids, fusion.impostor_mean, fusion.impostor_std, (0.3, 0.7), "x")
    assert refit.model_id != fusion.model_id
    # the source text is not a parameter
    assert dataclasses.replace(fusion, source="other").model_id == fusion.model_id


@pytest.mark.parametrize(
    "change",
    [
        {"weights": [0.5, 0.6]},
        {"weights": [1.5, -0.5]},
        {"impostor_std": [0.1, 0.0]},
        {"impostor_mean": [0.1]},
        {"impostor_mean": ["a", 0.1]},
        {
            "model_ids": ["sface:aaaaaaaaaaaa"],
            "impostor_mean": [0.1],
            "impostor_std": [0.1],
            "weights": [1.0],
        },
        {"model_id": "sface+dlib_resnet:000000000000"},
    ],
)
def test_a_bad_record_is_a_config_error(change: dict[str, object]) -> None:
    raw = Fusion(IDS, (0.0, 0.6), (0.1, 0.05), (0.5, 0.5), "hand-made").as_dict()
    raw.update(change)
    with pytest.raises(ConfigError):
        Fusion.from_dict(raw)


def test_a_record_missing_a_field_or_not_an_object_is_a_config_error() -> None:
    raw = Fusion(IDS, (0.0, 0.6), (0.1, 0.05), (0.5, 0.5), "hand-made").as_dict()
    del raw["source"]
    for bad in (raw, [1, 2], "fusion", None):
        with pytest.raises(ConfigError):
            Fusion.from_dict(bad)


@pytest.fixture
def shipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A package data folder under tmp_path that load_fusion reads instead of the real one."""
    (tmp_path / "data").mkdir()
    monkeypatch.setattr(fusion_module.resources, "files", lambda package: tmp_path)
    return tmp_path / "data"


def test_load_fusion_reads_the_shipped_record(shipped: Path) -> None:
    fusion = Fusion(IDS, (0.0, 0.6), (0.1, 0.05), (0.4, 0.6), "hand-made")
    (shipped / "fusion-sface+dlib_resnet.json").write_text(json.dumps(fusion.as_dict()))
    assert load_fusion(*IDS) == fusion


def test_load_fusion_of_other_model_versions_is_a_config_error(shipped: Path) -> None:
    fusion = Fusion(IDS, (0.0, 0.6), (0.1, 0.05), (0.4, 0.6), "hand-made")
    (shipped / "fusion-sface+dlib_resnet.json").write_text(json.dumps(fusion.as_dict()))
    with pytest.raises(ConfigError, match="refit"):
        load_fusion("sface:cccccccccccc", IDS[1])


def test_load_fusion_bad_json_or_none_shipped_is_a_config_error(shipped: Path) -> None:
    with pytest.raises(ConfigError, match="no fusion ships"):
        load_fusion(*IDS)
    (shipped / "fusion-sface+dlib_resnet.json").write_text("{not json")
    with pytest.raises(ConfigError, match="no fusion ships"):
        load_fusion(*IDS)
    (shipped / "fusion-sface+dlib_resnet.json").write_text('{"model_ids": 3}')
    with pytest.raises(ConfigError, match="not a fusion record"):
        load_fusion(*IDS)


def test_fit_fusion_rejects_scores_of_different_pairs() -> None:
    imp, gen = _scores()
    with pytest.raises(ConfigError, match="same pairs"):
        fit_fusion([imp[0], imp[1][:-1]], gen, IDS, source="x")
    with pytest.raises(ConfigError):
        fit_fusion(imp, gen, IDS[:1], source="x")


def test_the_shipped_fusion_and_its_table_are_for_the_registry_models(
    fake_settings: Settings,
) -> None:
    """A model's digest changed without a refit would leave verify with no fusion: refit with
    'facesearch calibrate --fused --out src/facesearch/data'."""
    registry = ModelRegistry(fake_settings)
    primary = registry.get("sface", "embedder").model_id
    second = registry.get("dlib_resnet", "embedder").model_id
    fusion = load_fusion(primary, second)
    table = load_table(fusion.model_id)
    assert table.model_id == fusion.model_id
    # fitted on View 1's training people (LFW's development split), never on pairs.txt
    assert "peopleDevTrain.txt" in fusion.source and "pairs.txt" not in fusion.source
    assert "View 1" in table.source and table.impostor_pairs > 80_000_000  # all of LFW
    assert table.threshold_for_fmr(1e-3) > fusion.impostor_mean[0]
