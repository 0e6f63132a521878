"""Fixtures of the CLI tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.fakes import FakePipeline
from tests.homes import Ran

from facesearch.cli import main


@pytest.fixture()
def cli(capsys: pytest.CaptureFixture[str]) -> Any:
    """cli(home, *args) -> Ran: ``facesearch --home HOME ARGS`` on the fake pipeline."""

    def run(home: Path, *args: str) -> Ran:
        capsys.readouterr()
        code = main(["--home", str(home), *args], pipelines=FakePipeline)
        captured = capsys.readouterr()
        return Ran(code, captured.out, captured.err)

    return run
