"""Re-ranking a search's best candidates by the fused score (``settings.matching.rerank_top``),
on the fake gallery: the best K re-scored from their source images and priced by the fused
table, the rest as before; a candidate whose image is gone is not re-scored; off by 0."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.fakes import FakePipeline, face_photo
from tests.homes import Home

import facesearch.rerank as rerank_module
from facesearch.engine import Engine
from facesearch.errors import ImageError
from facesearch.pipeline import Decodable
from facesearch.results import Hit

TOP = 3


@pytest.fixture()
def engines(
    fake_homes: Callable[..., Home], fake_pipeline: FakePipeline
) -> Iterator[Callable[[int], Engine]]:
    opened: list[Engine] = []

    def make(top: int) -> Engine:
        home = fake_homes(f"rerank-{top}", users=False, rerank_top=top)
        engine = Engine(home.settings, pipeline=fake_pipeline)
        opened.append(engine)
        return engine

    yield make
    for engine in opened:
        engine.catalog.close()


def hits(engine: Engine, probe: bytes, **kw: Any) -> tuple[Hit, ...]:
    (face,) = engine.search(probe, top=8, **kw).faces
    return face.hits


def second_of(engine: Engine, path: str) -> Any:
    return engine.main_face(Path(path), second=True)[1].second_embedding


def test_the_best_k_are_re_scored_by_the_fused_score(engines: Callable[[int], Engine]) -> None:
    plain_engine, engine = engines(0), engines(TOP)
    probe = face_photo(1, 0)
    plain = hits(plain_engine, probe)
    got = hits(engine, probe)
    fusion, fused_table = engine.fusion, engine.scoring.fused_table
    assert fusion is not None and fused_table is not None
    assert [h.rank for h in got] == list(range(1, len(plain) + 1))
    head, first = got[:TOP], {h.face_id: h.similarity for h in plain}
    assert {h.face_id for h in head} == {h.face_id for h in plain[:TOP]}
    probe_second = engine.main_face(probe, second=True)[1].second_embedding
    for h in head:
        second = float(np.dot(probe_second, second_of(engine, h.image_path)))
        assert h.similarity == pytest.approx(fusion.fuse(first[h.face_id], second), abs=1e-5)
        assert h.fmr == pytest.approx(fused_table.fmr_at(h.similarity))
    assert [h.similarity for h in head] == sorted((h.similarity for h in head), reverse=True)
    assert [(h.face_id, h.similarity, h.fmr) for h in got[TOP:]] == [
        (h.face_id, h.similarity, h.fmr) for h in plain[TOP:]
    ]


def test_a_probe_analysed_without_the_second_model_is_completed(
    engines: Callable[[int], Engine],
) -> None:
    engine = engines(TOP)
    probe = face_photo(2, 0)
    analysed = engine.pipeline.analyse_one(Decodable("probe", probe))
    assert analysed.faces[0].second_embedding is None
    assert hits(engine, probe, analysed=analysed) == hits(engine, probe)


def test_a_candidate_whose_image_is_gone_keeps_its_score_after_the_re_scored(
    engines: Callable[[int], Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = engines(TOP)
    probe = face_photo(3, 0)
    before = hits(engine, probe)
    gone = before[0]
    real = rerank_module.read_file

    def read_file(path: Path, max_bytes: int) -> Decodable:
        if str(path) == gone.image_path:
            raise ImageError("cannot read file: No such file or directory", path)
        return real(path, max_bytes)

    monkeypatch.setattr(rerank_module, "read_file", read_file)
    after = hits(engine, probe)
    moved = next(h for h in after if h.face_id == gone.face_id)
    assert moved.rank == TOP  # after the two re-scored ones, before the rest
    plain = {h.face_id: h.similarity for h in hits(engines(0), probe)}
    assert moved.similarity == pytest.approx(plain[gone.face_id])
