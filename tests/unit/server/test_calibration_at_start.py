"""A calibration file the server cannot use is refused before it starts serving: the server
printed "serving ... at http://..." first, then died in its start-up with a traceback
(exit 3)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from tests.fakes import FakePipeline
from tests.homes import run_cli

from facesearch.errors import ConfigError


def test_an_unreadable_calibration_file_is_refused_by_create_app(
    fake_homes: Any, tmp_path: Path
) -> None:
    import json

    from facesearch.core.calibration import save_table
    from facesearch.engine import Engine
    from facesearch.server import create_app

    home = fake_homes("calibration-at-start", users=False)
    missing, garbled = tmp_path / "missing.json", tmp_path / "garbled.json"
    garbled.write_text("{not json")
    no_table = tmp_path / "no-table.json"
    no_table.write_text(json.dumps({"model_id": "x"}))  # the error named no file
    other = tmp_path / "other-model.json"  # the fused score's table, not the first model's
    with Engine(home.settings, open_catalog=False, pipeline=FakePipeline(home.settings)) as e:
        fused = e.scoring.fused_table
    assert fused is not None
    save_table(fused, other)  # the error named no file either
    for path in (missing, garbled, no_table, other):
        settings = home.settings.replace(calibration_file=path)
        with pytest.raises(ConfigError, match=re.escape(f"calibration file {path}")):
            create_app(settings, pipelines=FakePipeline)


def test_serve_with_an_unreadable_calibration_file_exits_2_before_serving(
    fake_models: None,
    fake_homes: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    home = fake_homes("calibration-serve", users=False)
    monkeypatch.setenv("FACESEARCH_CALIBRATION_FILE", str(tmp_path / "missing.json"))
    ran = run_cli(capsys, home.home, "serve", "--port", "0")
    assert ran.code == 2, ran
    assert "cannot read calibration file" in ran.err and "missing.json" in ran.err, ran.err
    assert "serving" not in ran.err and "Traceback" not in ran.err, ran.err


def test_a_file_without_the_fused_table_lets_the_server_start_and_says_verify_will_refuse(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from dataclasses import replace

    from facesearch.core.calibration import save_table
    from facesearch.engine import Engine
    from facesearch.server import create_app
    from facesearch.settings import Settings

    shipped = Settings(home=tmp_path / "home")
    with Engine(shipped, open_catalog=False, pipeline=FakePipeline(shipped)) as engine:
        first = engine.calibration
    own = tmp_path / "first-only.json"
    save_table(replace(first, source="our staff"), own)
    with caplog.at_level("WARNING", logger="facesearch.server.app"):
        create_app(shipped.replace(calibration_file=own), pipelines=FakePipeline)
    (said,) = [r.getMessage() for r in caplog.records if "verify will refuse" in r.getMessage()]
    assert "has no table for the fused score" in said and str(own) in said, said


def test_a_calibration_file_that_is_a_pipe_is_refused_at_once(
    fake_homes: Any, tmp_path: Path
) -> None:
    """A pipe (or a device) was read until it ended: serve waited without a word on a pipe
    no one wrote to, and /dev/zero filled the memory until the process was killed."""
    import os
    import threading

    from facesearch.server import create_app

    home = fake_homes("calibration-pipe", users=False)
    pipe = tmp_path / "table.json"
    os.mkfifo(pipe)
    raised: list[BaseException] = []

    def start() -> None:
        try:
            create_app(home.settings.replace(calibration_file=pipe), pipelines=FakePipeline)
        except BaseException as exc:
            raised.append(exc)

    thread = threading.Thread(target=start, daemon=True)
    thread.start()
    thread.join(20)
    if thread.is_alive():  # still reading: give it an end, then fail
        fd = os.open(pipe, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
        thread.join(5)
        pytest.fail("create_app waited on the pipe")
    (exc,) = raised
    assert isinstance(exc, ConfigError) and f"calibration file {pipe} is not a file" in str(exc)
