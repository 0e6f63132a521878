"""The LFW embedding cache with two models, on the fake pipeline (no weights, no LFW)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tests.fakes import FakePipeline, no_face_photo, write_photo

from facesearch.evaluation import lfw


def test_both_models_are_cached_each_under_its_own_key(
    fake_pipeline: FakePipeline, tmp_path: Path
) -> None:
    root = tmp_path / "images"
    names = [str(write_photo(root, p, s).relative_to(root)) for p in range(3) for s in (1, 2)]
    (root / "nobody").mkdir()
    (root / "nobody" / "blank.png").write_bytes(no_face_photo())
    names.append("nobody/blank.png")
    first = fake_pipeline.embedder
    second = fake_pipeline.second_embedder
    assert second is not None

    alone = lfw.embed_images(fake_pipeline, root, names, progress=False)
    assert alone.second is None and len(alone.model_ids) == 1
    calls = (first.calls, second.calls)  # type: ignore[attr-defined]
    both = lfw.embed_images(fake_pipeline, root, names, progress=False, second=True)
    assert second.calls > calls[1]  # type: ignore[attr-defined]
    assert both.model_ids == (fake_pipeline.model_id, fake_pipeline.second_spec.model_id)  # type: ignore[union-attr]
    np.testing.assert_array_equal(both.embeddings, alone.embeddings)
    assert both.found.tolist() == [True] * 6 + [False]
    assert both.second is not None
    assert not both.second[-1].any() and both.second[:-1].any(axis=1).all()
    sims = both.second[:-1] @ both.second[:-1].T
    assert sims[0, 1] > 0.9 and sims[0, 2] < 0.5  # the second model's own embeddings

    calls = (first.calls, second.calls)  # type: ignore[attr-defined]
    again = lfw.embed_images(fake_pipeline, root, names, progress=False, second=True)
    assert (first.calls, second.calls) == calls  # type: ignore[attr-defined]
    assert again.second is not None
    np.testing.assert_array_equal(again.second, both.second)
    np.testing.assert_array_equal(again.second_set().embeddings, both.second)
