"""The Milvus index type chosen by size and set in settings (``milvus_index``): the ``auto``
choice, the parameters chosen by size, what each server builds, and the settings' checks."""

from __future__ import annotations

from dataclasses import replace

import pytest

from facesearch.errors import ConfigError
from facesearch.gallery.vectors.milvus_index import (
    AUTO_FLAT_BELOW,
    LITE_TYPES,
    MilvusIndexChoice,
    auto_nlist,
    choose,
    keep_lists,
    pq_pieces,
    supported_types,
)
from facesearch.settings import Settings

SERVER_23 = supported_types("v2.3.5", lite=False)


@pytest.mark.parametrize(
    ("faces", "kind"),
    [
        (0, "FLAT"),
        (AUTO_FLAT_BELOW - 1, "FLAT"),
        (AUTO_FLAT_BELOW, "IVF_SQ8"),
        (2_000_000, "IVF_SQ8"),
        (10**10, "IVF_SQ8"),
    ],
)
def test_auto_picks_by_size(faces: int, kind: str) -> None:
    assert choose(MilvusIndexChoice(), faces, SERVER_23).type == kind
    assert choose(MilvusIndexChoice(), faces, LITE_TYPES).type == kind  # Lite builds them too


def test_auto_resolves_ivf_parameters_too() -> None:
    chosen = choose(MilvusIndexChoice(), AUTO_FLAT_BELOW, SERVER_23)
    assert chosen.nlist == 2048 and chosen.nprobe == 512  # 4 sqrt(200 000) = 1789 -> 2048


def test_an_explicit_type_is_kept_whatever_the_size() -> None:
    assert choose(MilvusIndexChoice("IVF_PQ"), 10, SERVER_23).type == "IVF_PQ"
    assert choose(MilvusIndexChoice("FLAT"), 10**9, SERVER_23).type == "FLAT"


def test_ivf_parameters_by_size_unless_given() -> None:
    chosen = choose(MilvusIndexChoice("IVF_FLAT"), 1_000_000, SERVER_23)
    assert chosen.nlist == 4096 and chosen.nprobe == 1024  # 4 sqrt(n) -> 4000 -> 4096; / 4
    assert chosen.build_params(128) == {"nlist": 4096}
    assert chosen.search_params(10) == {"nprobe": 1024}
    given = choose(MilvusIndexChoice("IVF_SQ8", nlist=1000, nprobe=50), 1_000_000, SERVER_23)
    assert (given.nlist, given.nprobe) == (1000, 50)


def test_auto_nlist_keeps_forty_training_points_per_list() -> None:
    assert auto_nlist(0) == 1 and auto_nlist(2_000) == 32  # 4 sqrt -> 128, but 2000 / 40 = 50
    assert auto_nlist(100_000) == 1024 and auto_nlist(10**12) == 65_536


def test_pq_codes_a_face_in_dim_over_four_bytes() -> None:
    chosen = choose(MilvusIndexChoice("IVF_PQ"), 10**6, SERVER_23)
    assert chosen.build_params(128) == {"nlist": 4096, "m": 32, "nbits": 8}
    assert pq_pieces(128) == 32 and pq_pieces(130) == 26  # a divisor of the width


def test_graph_parameters() -> None:
    chosen = choose(MilvusIndexChoice("HNSW", m=32), 10**6, SERVER_23)
    assert chosen.build_params(128) == {"M": 32, "efConstruction": 256}
    assert chosen.search_params(10) == {"ef": 512} and chosen.search_params(600) == {"ef": 600}
    sq = choose(MilvusIndexChoice("HNSW_SQ", ef=64), 10, LITE_TYPES)
    assert sq.build_params(128)["sq_type"] == "SQ8" and sq.search_params(10) == {"ef": 64}
    disk = choose(MilvusIndexChoice("DISKANN"), 10, SERVER_23)
    assert disk.build_params(128) == {} and disk.search_params(10) == {"search_list": 512}
    assert choose(MilvusIndexChoice("FLAT"), 10, SERVER_23).search_params(10) == {}


@pytest.mark.parametrize(
    ("version", "lite", "has", "lacks"),
    [
        ("v2.3.5", False, {"FLAT", "IVF_PQ", "HNSW", "DISKANN"}, {"HNSW_SQ", "IVF_RABITQ"}),
        ("v2.4.9", False, {"IVF_SQ8", "DISKANN"}, {"HNSW_SQ", "IVF_RABITQ"}),
        ("v2.5.4", False, {"HNSW_SQ", "IVF_PQ"}, {"IVF_RABITQ"}),
        ("2.6.0", False, {"IVF_RABITQ", "HNSW_SQ", "FLAT"}, set()),
        ("milvus_lite-3.2.2", True, {"FLAT", "IVF_SQ8", "HNSW_SQ"}, {"IVF_PQ", "DISKANN"}),
    ],
)
def test_what_each_server_builds(version: str, lite: bool, has: set[str], lacks: set[str]) -> None:
    types = supported_types(version, lite)
    assert has <= types and not lacks & types


def test_a_type_the_server_lacks_is_refused_clearly() -> None:
    with pytest.raises(ConfigError, match="cannot build a IVF_RABITQ index; it builds"):
        choose(MilvusIndexChoice("IVF_RABITQ"), 10, SERVER_23)
    with pytest.raises(ConfigError, match="IVF_PQ"):
        choose(MilvusIndexChoice("IVF_PQ"), 10, LITE_TYPES)


@pytest.mark.parametrize(
    "bad",
    [
        {"type": "hnsw"},  # names are Milvus's, upper case
        {"type": "SCANN"},
        {"type": "IVF_FLAT", "nlist": -1},
        {"type": "IVF_FLAT", "nlist": 16, "nprobe": 17},
        {"type": "IVF_FLAT", "nlist": 70_000},
        {"type": "HNSW", "m": 1},
        {"type": "HNSW", "ef": -5},
    ],
)
def test_bad_choices_are_config_errors(bad: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        MilvusIndexChoice(**bad)  # type: ignore[arg-type]


def test_the_settings_carry_the_choice() -> None:
    s = Settings.from_env(
        env={
            "FACESEARCH_MILVUS_INDEX": "IVF_SQ8",
            "FACESEARCH_MILVUS_NLIST": "2048",
            "FACESEARCH_MILVUS_NPROBE": "64",
            "FACESEARCH_MILVUS_HNSW_M": "24",
            "FACESEARCH_MILVUS_EF": "200",
        }
    )
    assert MilvusIndexChoice.from_settings(s.index) == MilvusIndexChoice(
        "IVF_SQ8", 2048, 64, 24, 200
    )
    assert MilvusIndexChoice.from_settings(Settings.from_env(env={}).index) == MilvusIndexChoice()


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("FACESEARCH_MILVUS_INDEX", "BEST"),
        ("FACESEARCH_MILVUS_NLIST", "-1"),
        ("FACESEARCH_MILVUS_NPROBE", "-1"),
        ("FACESEARCH_MILVUS_EF", "-1"),
        ("FACESEARCH_MILVUS_HNSW_M", "1"),
    ],
)
def test_bad_settings_are_refused_when_read(key: str, value: str) -> None:
    with pytest.raises(ConfigError, match=key.removeprefix("FACESEARCH_").lower()):
        Settings.from_env(env={key: value})


def test_a_growing_collection_keeps_its_lists_within_four_times() -> None:
    wanted = MilvusIndexChoice("IVF_FLAT")
    held = choose(wanted, 100_000, SERVER_23)  # 1024 lists
    grown = choose(wanted, 1_000_000, SERVER_23)  # 4096: within 4x, kept
    assert keep_lists(wanted, grown, held) == replace(grown, nlist=1024, nprobe=256)
    small = choose(wanted, 1_000, SERVER_23)  # 16 lists, made on a small collection
    assert keep_lists(wanted, grown, small) == grown  # 256x: rebuilt with the size's
    assert keep_lists(replace(wanted, nlist=4096), grown, held) == grown  # nlist was given
    other = choose(MilvusIndexChoice("IVF_SQ8"), 1_000_000, SERVER_23)
    assert keep_lists(MilvusIndexChoice("IVF_SQ8"), other, held) == other  # another type
