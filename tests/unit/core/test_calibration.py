from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from facesearch.core.calibration import (
    build_table,
    describe_expected,
    describe_fmr,
    load_fused_table,
    load_table,
    save_table,
    table_from_dict,
)
from facesearch.errors import ConfigError, InputError


def clustered(
    people: int = 40, per: int = 5, dim: int = 32, spread: float = 0.4
) -> tuple[np.ndarray, list[str]]:
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(people, dim))
    x = np.repeat(centres, per, axis=0) + spread * rng.normal(size=(people * per, dim))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32), [f"p{i}" for i in range(people) for _ in range(per)]


def test_counts_every_pair_once() -> None:
    x, labels = clustered()
    t = build_table(x, labels, model_id="m:1", source="test", chunk=37)
    n = len(x)
    assert t.genuine_pairs == 40 * (5 * 4 // 2)
    assert t.impostor_pairs == n * (n - 1) // 2 - t.genuine_pairs
    assert t.fmr[0] == 1.0 and t.fnmr[0] == 0.0


def test_fmr_matches_brute_force() -> None:
    """The plain fit (no bound, no margin) is the share of impostor pairs at or above s."""
    x, labels = clustered()
    t = build_table(x, labels, model_id="m:1", source="test", confidence=0, population_margin=1)
    sims = x @ x.T
    lab = np.array(labels)
    iu = np.triu_indices(len(x), 1)
    imp = sims[iu][lab[iu[0]] != lab[iu[1]]]
    for s in (0.0, 0.2, 0.4):
        assert t.fmr_at(s) == pytest.approx((imp >= s).mean(), rel=0.05, abs=2e-4)
    assert t.fmr == t.fmr_observed and not t.conservative


def test_default_fit_is_conservative() -> None:
    """Issue 12: the FMR shown is at least margin x the observed share, never rises with the
    score, and the observed share is kept alongside."""
    x, labels = clustered()
    t = build_table(x, labels, model_id="m:1", source="test")
    shown, observed = np.array(t.fmr), np.array(t.fmr_observed)
    assert t.conservative and t.confidence == 0.95 and t.population_margin == 2.0
    assert t.people == 40 and t.design_effect >= 1
    assert (shown >= np.minimum(1.0, 2.0 * observed) - 1e-12).all()
    assert (np.diff(shown) <= 0).all()
    mid = (observed > 1e-3) & (observed < 0.1)
    assert (shown[mid] > 2.0 * observed[mid]).all()  # the bound adds to the margin
    assert "conservative" in t.basis and "40 people" in t.basis
    assert "95 % bound x 2" in t.basis_short


def test_threshold_monotone_and_resolution() -> None:
    x, labels = clustered()
    t = build_table(x, labels, model_id="m:1", source="test")
    assert t.threshold_for_fmr(1e-1) <= t.threshold_for_fmr(3e-2)
    with pytest.raises(ConfigError, match="resolve"):
        t.threshold_for_fmr(t.min_fmr / 10)


def test_words() -> None:
    assert describe_fmr(1e-3, 1e-8) == "about 1 in 1,000 different people score this high"
    assert describe_fmr(1 / 12345, 1e-8) == "about 1 in 12,000 different people score this high"
    assert describe_fmr(1e-9, 1e-8).startswith("fewer than 1 in 100,000,000")


def test_round_trip_and_model_check(tmp_path) -> None:  # type: ignore[no-untyped-def]
    x, labels = clustered()
    t = build_table(x, labels, model_id="m:1", source="test")
    save_table(t, tmp_path / "c.json")
    assert load_table("m:1", tmp_path / "c.json") == t
    with pytest.raises(ConfigError, match="not m:2"):
        load_table("m:2", tmp_path / "c.json")


def test_shipped_table_for_sface() -> None:
    from facesearch.models.registry import BUILTIN

    sface = next(s for s in BUILTIN if s.name == "sface")
    t = load_table(sface.model_id)
    assert t.impostor_pairs > 10_000_000
    assert 0.2 < t.threshold_for_fmr(1e-3) < 0.6


def test_two_writers_of_one_table_do_not_collide(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Issue 7, item 1 (unique temp names): two `calibrate --out` at once shared one temp file."""
    from concurrent.futures import ThreadPoolExecutor

    x, labels = clustered()
    t = build_table(x, labels, model_id="m:1", source="test")

    def write(_: int) -> None:
        for _ in range(40):
            save_table(t, tmp_path / "c.json")

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(write, range(4)))
    assert load_table("m:1", tmp_path / "c.json") == t
    assert [p.name for p in tmp_path.iterdir()] == ["c.json"]


def test_expected_counts_in_plain_figures() -> None:
    assert describe_expected(5.5e-6) == "fewer than 0.01"
    assert describe_expected(0.5) == "about 0.5"
    assert describe_expected(2.0) == "about 2"
    assert describe_expected(12_345.6) == "about 12,346"


@pytest.mark.parametrize("name", ["calibration-sface.json", "calibration-sface+dlib_resnet.json"])
def test_words_at_the_floor_of_the_shipped_tables(name: str) -> None:
    """fmr_at gives the floor back through exp(log(min_fmr)), one ulp above min_fmr: the
    words still say 'fewer than' from the first grid point at the floor up to a score of 1."""
    raw = resources.files("facesearch").joinpath("data", name).read_text()
    t = table_from_dict(json.loads(raw))
    floor = f"fewer than 1 in {round(1 / t.min_fmr):,} different people score this high"
    top = t.similarity[t.fmr.index(t.min_fmr)]
    for score in (top, (top + 1) / 2, 1.0):
        assert describe_fmr(t.fmr_at(score), t.min_fmr) == floor


@pytest.mark.parametrize("name", ["calibration-sface.json", "calibration-sface+dlib_resnet.json"])
def test_the_words_claim_no_rarer_rate_than_the_held_out_check_reached(name: str) -> None:
    """Rates below 1e-5 are extrapolated ('eval fmr-check' checks 1e-2 to 1e-5): a score of
    0.7 read 'about 1 in 1,400,000 different people score this high', a claim nothing here
    measured. The words (and the cards' short form) stop at the checked rate."""
    from facesearch.server.formatting import fmr_short

    raw = resources.files("facesearch").joinpath("data", name).read_text()
    t = table_from_dict(json.loads(raw))
    assert t.checked_fmr == 1e-5 and t.words_floor == 1e-5 > t.min_fmr
    checked = "fewer than 1 in 100,000 different people score this high"
    for score in (0.7, 0.9, 1.0):
        words = describe_fmr(t.fmr_at(score), t.words_floor)
        assert t.fmr_at(score) < 1e-5 and words == checked
        assert fmr_short(t.fmr_at(score), words) == "< 1 in 100,000"
    above = t.similarity[next(i for i, f in enumerate(t.fmr) if f <= 1e-4)]
    assert describe_fmr(t.fmr_at(above), t.words_floor).startswith("about 1 in")
    assert not table_from_dict({**json.loads(raw), "checked_fmr": 0}).checked_fmr  # custom


def test_the_rarest_rate_suggested_is_one_the_table_takes() -> None:
    """Before: the shipped SFace table (floor 4.33e-07) said 'ask for 4.3e-07 or more', and
    4.3e-07 was refused in its turn."""
    table = load_table(shipped_sface_id())
    assert table.lowest_askable == "4.4e-07"
    with pytest.raises(InputError, match=r"ask for 4\.4e-07 or more"):
        table.threshold_for_asked_fmr(4.3e-7)
    table.threshold_for_asked_fmr(float(table.lowest_askable))
    with pytest.raises(ConfigError, match=r"^FACESEARCH_X=1e-09 is below .* set FACESEARCH_X to"):
        table.threshold_for_fmr(1e-9, setting="FACESEARCH_X")


def test_an_operators_file_gives_its_own_fused_table_or_none(tmp_path: Path) -> None:
    x, labels = clustered()
    first = build_table(x, labels, model_id="m:1", source="ours")
    fused = build_table(x, labels, model_id="m+n:2", source="ours, fused")
    both, alone = tmp_path / "both.json", tmp_path / "alone.json"
    save_table(first, both, fused)
    save_table(first, alone)
    assert load_table("m:1", both) == first and load_table("m:1", alone) == first
    assert load_fused_table("m+n:2", both) == fused
    with pytest.raises(ConfigError, match="has no table for the fused score"):
        load_fused_table("m+n:2", alone)  # never the shipped one in its place
    with pytest.raises(ConfigError, match="is for m\\+n:2, not the fusion in use"):
        load_fused_table("m+n:3", both)


def shipped_sface_id() -> str:
    raw = resources.files("facesearch").joinpath("data", "calibration-sface.json").read_text()
    return str(json.loads(raw)["model_id"])
