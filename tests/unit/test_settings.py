from __future__ import annotations

from pathlib import Path

import pytest

from facesearch.errors import ConfigError
from facesearch.settings import Settings


def test_every_setting_is_documented() -> None:
    for env, _, doc in Settings.describe():
        assert len(doc) > 15, f"setting {env} has no description"


def test_every_setting_is_in_the_readme() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for env, _, _ in Settings.describe():
        assert env in readme, f"{env} is missing from the README"


def test_env_parsing() -> None:
    s = Settings.from_env(
        env={
            "FACESEARCH_BATCH_SIZE": "8",
            "FACESEARCH_FLIP_AVERAGE": "yes",
            "FACESEARCH_HOME": "/x",
        }
    )
    assert s.models.batch_size == 8 and s.models.flip_average is True and s.home == Path("/x")


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("FACESEARCH_BATCH_SIZE", "many"),
        ("FACESEARCH_RUNTIME", "tensorflow"),
        ("FACESEARCH_FLIP_AVERAGE", "maybe"),
        ("FACESEARCH_SERVER_ANALYSIS_PROCESSES", "many"),
        ("FACESEARCH_SERVER_ANALYSIS_PROCESSES", "-1"),
        ("FACESEARCH_SERVER_ANALYSIS_PROCESSES", "100000"),
    ],
)
def test_bad_values_are_config_errors(key: str, value: str) -> None:
    with pytest.raises(ConfigError):
        Settings.from_env(env={key: value})


def test_overrides_win_and_unknown_rejected() -> None:
    s = Settings.from_env(env={"FACESEARCH_BATCH_SIZE": "8"}, batch_size=4)
    assert s.models.batch_size == 4
    with pytest.raises(ConfigError, match="unknown"):
        Settings.from_env(env={}, no_such_thing=1)


def test_a_home_given_with_a_tilde_is_under_the_users_home(monkeypatch, tmp_path) -> None:
    """Engine("~/faces") made a literal ./~/faces (the README's own example)."""
    from facesearch import Engine

    monkeypatch.setenv("HOME", str(tmp_path))
    assert Engine("~/faces").settings.home == tmp_path / "faces"
    built = Settings.from_env(env={"FACESEARCH_AUDIT_KEY_FILE": "~/k/audit.key"}, home="~/h")
    assert built.home == tmp_path / "h"
    assert built.audit.key_file == tmp_path / "k" / "audit.key"
    assert "~" not in str(built.cache_dir)


def test_settings_built_directly_are_validated() -> None:
    from facesearch.settings import IndexSettings, ServerSettings

    with pytest.raises(ConfigError, match="index_kind"):
        Settings(index=IndexSettings(kind="annoy"))
    with pytest.raises(ConfigError, match="trusted_proxies"):
        Settings(server=ServerSettings(trusted_proxies="not-an-address"))
    with pytest.raises(ConfigError, match="server_max_upload_bytes"):
        Settings().replace(server_max_upload_bytes=0)
    for wrong in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ConfigError, match="erase_like_max_strangers"):
            Settings().replace(erase_like_max_strangers=wrong)
    assert Settings().replace(erase_like_max_strangers=0.0).matching.erase_like_max_strangers == 0
    for wrong in (0.0, 1.0, float("nan")):
        with pytest.raises(ConfigError, match="blocklist_max_skip"):
            Settings().replace(blocklist_max_skip=wrong)


def test_settings_come_in_groups_with_stable_variable_names() -> None:
    s = Settings.from_env(
        env={"FACESEARCH_INDEX_KIND": "flat", "FACESEARCH_SERVER_RATE_LIMIT": "7"},
        probe_min_face_size=40,
    )
    assert s.index.kind == "flat" and s.server.rate_limit == 7 and s.probe.min_face_size == 40
    assert s.value("index_kind") == "flat"
    assert len(Settings.keys()) == len({env for env, _, _ in Settings.describe()})


def test_analysis_processes_auto_is_one_fewer_than_the_cores_from_two_cores() -> None:
    from facesearch.server.analysis_processes import processes_for

    auto = Settings.from_env(env={})
    assert [processes_for(auto, cores) for cores in (1, 2, 16)] == [0, 1, 15]
    three = Settings.from_env(env={"FACESEARCH_SERVER_ANALYSIS_PROCESSES": " 3 "})
    assert processes_for(three, 16) == 3
    gpu = Settings.from_env(env={"FACESEARCH_RUNTIME": "cuda"})
    assert processes_for(gpu, 16) == 0  # one GPU context, fed by the analysis threads
    off = Settings.from_env(env={"FACESEARCH_SERVER_ANALYSIS_PROCESSES": "0"})
    assert processes_for(off, 16) == 0
    upper = Settings.from_env(env={"FACESEARCH_SERVER_ANALYSIS_PROCESSES": "AUTO"})
    assert processes_for(upper, 4) == 3


@pytest.mark.parametrize(
    "address", ["", "auto", "10.0.0.5:6379", "ray://head.local:10001", "[fd00::5]:6379"]
)
def test_a_ray_address_is_empty_auto_or_host_and_port(address: str) -> None:
    assert Settings.from_env(env={"FACESEARCH_RAY_ADDRESS": address}).ray_address == address


@pytest.mark.parametrize(
    "address",
    [
        *("head", "head:port", "head:0", ":6379", "a b:1", "auto:", "http://evil:80"),
        *("h:1/../x:2", "--address:1", "ray://u:p@evil:10001", "h:\u0661\u0662", "-h:1"),
    ],
)
def test_a_ray_address_of_another_form_is_refused_when_read(address: str) -> None:
    with pytest.raises(ConfigError, match="ray_address must be empty, auto, or HOST:PORT"):
        Settings.from_env(env={"FACESEARCH_RAY_ADDRESS": address})


def test_an_organisation_s_admin_is_not_told_where_the_ray_cluster_is() -> None:
    s = Settings.from_env(env={"FACESEARCH_RAY_ADDRESS": "10.0.0.5:6379"})
    assert s.shown_value("ray_address") == "10.0.0.5:6379"
    assert s.shown_value("ray_address", host=False) != "10.0.0.5:6379"
