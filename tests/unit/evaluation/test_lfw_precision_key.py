"""The LFW embedding cache is keyed by the precision the models run at, not by the setting:
with ``precision=auto`` an int8 build appearing in the cache changes what runs, so it must
change the cache too (else int8 figures would be served from a float cache)."""

from __future__ import annotations

from pathlib import Path

import pytest

from facesearch.evaluation import lfw
from facesearch.models import ModelRegistry
from facesearch.models.int8.files import Provenance, int8_path, write_provenance
from facesearch.models.prepare import prepared_path
from facesearch.settings import Settings


class Stub:
    """What ``cache_key`` reads of a pipeline."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.model_id = "sface:0123456789ab"


def fake_int8_build(settings: Settings, name: str, task: str) -> None:
    spec = ModelRegistry(settings).get(name, task)
    target = int8_path(prepared_path(settings.cache_dir, spec.name, spec.sha256))
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text("<net/>")
    target.with_suffix(".bin").write_bytes(b"\0")
    write_provenance(target, Provenance(name, spec.sha256, "0" * 64, "test", 1, "0", "0"))


def test_an_int8_build_changes_the_auto_cache_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("facesearch.models.runtime.cpu_flags", lambda: frozenset({"avx2"}))
    settings = Settings(cache_dir=tmp_path, home=tmp_path / "home").replace(
        runtime="openvino", precision="auto"
    )
    before = lfw.cache_key(Stub(settings))  # type: ignore[arg-type]
    fake_int8_build(settings, "yunet", "detector")
    fake_int8_build(settings, "sface", "embedder")
    after = lfw.cache_key(Stub(settings))  # type: ignore[arg-type]
    assert after != before
    fp32 = lfw.cache_key(Stub(settings.replace(precision="fp32")))  # type: ignore[arg-type]
    assert fp32 not in (before, after)
