"""The LFW embedding cache with two models, on the fake pipeline (no weights, no LFW)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tests.fakes import FakePipeline, no_face_photo, write_photo

from facesearch.evaluation import lfw, metrics


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


def test_report_and_describe_give_the_standard_error() -> None:
    """± is the folds' standard deviation (ddof 0); the LFW protocol's figure is the standard
    error of the mean (ddof 1, over the square root of the number of folds)."""
    acc = np.array([0.99, 1.0, 0.985, 0.995, 1.0])
    folds = [metrics.FoldResult(threshold=0.5, accuracy=float(a)) for a in acc]
    scores, same = np.array([0.2, 0.8]), np.array([False, True])
    figures = lfw.report(scores, same, folds)
    assert figures["accuracy_std"] == pytest.approx(acc.std())
    assert figures["accuracy_se"] == pytest.approx(acc.std(ddof=1) / np.sqrt(5))
    result = {"pairs": 2, "images": 2, "images_without_face": 0, "models": {"m": figures}}
    text = lfw.describe(result)
    assert f"{100 * acc.std():.2f} %" in text and f"{100 * figures['accuracy_se']:.2f}" in text
    assert "standard error" in text


def test_eval_lfw_on_an_incomplete_folder_names_the_missing_image_before_embedding(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``eval lfw --data DIR`` on an incomplete LFW folder ended in a FileNotFoundError
    traceback (for AJ_Lamas_0001.jpg) after embedding what was there."""
    from facesearch.cli import main

    data = tmp_path / "lfw"
    root = data / lfw.IMAGES
    present = write_photo(root / "Aaron_Peirsol", 0, 1)
    for n in (1, 2):
        (root / "Aaron_Peirsol" / f"Aaron_Peirsol_000{n}.jpg").write_bytes(present.read_bytes())
    (data / "pairs.txt").write_text("1\t1\nAaron_Peirsol\t1\t2\nAaron_Peirsol\t1\tAJ_Lamas\t1\n")
    code = main(
        [
            "--home",
            str(tmp_path / "home"),
            "eval",
            "lfw",
            "--data",
            str(data),
            "--out",
            str(tmp_path / "out"),
        ],
        pipelines=FakePipeline,
    )
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "1 of the 3 images" in err and "AJ_Lamas/AJ_Lamas_0001.jpg" in err
    assert "pairs.txt" in err
    assert not (tmp_path / "out").exists()
