"""The look-alike pairs the training shows (``data/lookalikes.json``), measured again with the
real models on LFW: each pair is two different people whose main faces SFace scores as shipped,
above the line of a false match rate of 1e-4, and each photo is closer to its own person's
other photos than to the other person's."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from facesearch.core.calibration import load_table
from facesearch.evaluation.lfw import IMAGES, embed_images

pytestmark = pytest.mark.lfw


def test_the_shipped_lookalikes_score_as_shipped(pipeline: Any, lfw: Path) -> None:
    shipped = json.loads(
        resources.files("facesearch").joinpath("data", "lookalikes.json").read_text()
    )
    assert pipeline.model_id == shipped["model_id"]
    line = load_table(pipeline.model_id).threshold_for_fmr(1e-4)
    root = lfw / IMAGES
    for pair in shipped["pairs"]:
        a, b = pair["a"], pair["b"]
        person_a, person_b = a.split("/")[0], b.split("/")[0]
        assert person_a != person_b
        own_a = sorted(p.relative_to(root).as_posix() for p in (root / person_a).glob("*.jpg"))
        own_b = sorted(p.relative_to(root).as_posix() for p in (root / person_b).glob("*.jpg"))
        names = [a, b, *(n for n in own_a if n != a), *(n for n in own_b if n != b)]
        emb = embed_images(pipeline, root, names, progress=False)
        assert emb.found.all(), names
        vectors = dict(zip(names, emb.embeddings, strict=True))
        score = float(vectors[a] @ vectors[b])
        assert score == pytest.approx(pair["score"], abs=0.005), (a, b)
        assert score > line  # a stranger shown even at an FMR of 1e-4
        for photo, own in ((a, own_a), (b, own_b)):
            others = np.stack([vectors[n] for n in own if n != photo])
            assert float(np.max(others @ vectors[photo])) > score, photo
