from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import pytest

from facesearch.errors import ConfigError
from facesearch.settings import Settings


def test_every_setting_is_documented() -> None:
    for f in fields(Settings):
        doc = f.metadata.get("doc", "")
        assert len(doc) > 15, f"setting {f.name} has no description"


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
    assert s.batch_size == 8 and s.flip_average is True and s.home == Path("/x")


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("FACESEARCH_BATCH_SIZE", "many"),
        ("FACESEARCH_RUNTIME", "tensorflow"),
        ("FACESEARCH_FLIP_AVERAGE", "maybe"),
    ],
)
def test_bad_values_are_config_errors(key: str, value: str) -> None:
    with pytest.raises(ConfigError):
        Settings.from_env(env={key: value})


def test_overrides_win_and_unknown_rejected() -> None:
    s = Settings.from_env(env={"FACESEARCH_BATCH_SIZE": "8"}, batch_size=4)
    assert s.batch_size == 4
    with pytest.raises(ConfigError, match="unknown"):
        Settings.from_env(env={}, no_such_thing=1)
