"""Milvus Lite holding the vectors (``FACESEARCH_VECTORS_URL=...db``), end to end with the
real models on real LFW photos: ingest, search, forget, and the forgotten face proved gone."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from facesearch.engine import Engine
from facesearch.settings import Settings

pytestmark = pytest.mark.lfw
pytest.importorskip("pymilvus", reason="Milvus needs the distributed extra")

PEOPLE = ["Serena_Williams", "Colin_Powell", "Tony_Blair", "Hugo_Chavez"]


def test_ingest_search_forget_with_milvus_lite(
    settings: Settings,
    pipeline,
    lfw: Path,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    photos = tmp_path / "photos"
    for person in PEOPLE:  # images 2-4 in the gallery, image 1 the probe
        (photos / person).mkdir(parents=True)
        for n in (2, 3, 4):
            name = f"{person}_{n:04d}.jpg"
            shutil.copy(lfw / "lfw-deepfunneled" / person / name, photos / person / name)
    home = tmp_path / "home"
    db = tmp_path / "vectors.db"
    engine = Engine(settings.replace(home=home, vectors_url=str(db)), pipeline=pipeline)
    try:
        summary = engine.ingest([photos], label_from_dir=True)
        assert summary.images_added == 12
        assert engine.stats()["indexed_faces"] == summary.faces_added
        for person in PEOPLE:
            probe = lfw / "lfw-deepfunneled" / person / f"{person}_0001.jpg"
            main = max(engine.search(probe, top=3).faces, key=lambda f: f.bbox.w * f.bbox.h)
            assert main.hits[0].subject == person and main.hits[0].fmr < 1e-3

        victim = engine.catalog.faces_of_subject("Serena_Williams", with_embeddings=True)[0]
        own = np.asarray(victim.embedding, np.float32)[None, :]
        _, before = engine.indexes.search(own, 1, None)
        assert before[0, 0] == victim.id  # precondition: found by its own embedding
        result = engine.forget(face_ids=[victim.id])
        assert result.index_vectors_removed == 1
        record = engine.indexes.last_erasure
        assert record is not None and record.faces == 1 and record.proved_absent
        _, after = engine.indexes.search(own, 10, None)
        assert victim.id not in after[0]
        assert [p.faces for p in engine.indexes.pending_physical_deletions()] == [1]
        assert not (home / "index" / "manifest.json").exists()  # the vectors are in Milvus
        assert db.is_dir()
    finally:
        engine.catalog.close()  # not engine.close(): the pipeline is the session's

    reopened = Engine(settings.replace(home=home, vectors_url=str(db)), pipeline=pipeline)
    try:  # a new process's view: Milvus and the catalog agree, the face stays gone
        assert reopened.stats()["indexed_faces"] == summary.faces_added - 1
        _, again = reopened.indexes.search(own, 10, None)
        assert victim.id not in again[0]
    finally:
        reopened.catalog.close()
