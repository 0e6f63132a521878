"""app.verify_pairs on the fake pipeline: the pairs file's grammar, one line per pair in order
(fused by default, the first model alone with "none"), each image analysed once, and ONE audit
entry for the run (a malformed file logs a failure, never a run done)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.fakes import FakePipeline, no_face_photo

from facesearch.accountability import AccountabilityStore
from facesearch.app.verify_pairs import PairsRequest, parse_pairs, verify_pairs
from facesearch.engine import Engine
from facesearch.errors import CaseRequiredError, InputError

KEYS = {"line", "a", "b", "similarity", "threshold", "same", "fmr", "models", "scores", "same_file"}


def test_the_pairs_grammar() -> None:
    text = "# LFW pairs\n\na.jpg\tb.jpg\r\n  # indented comment\nc d.jpg\te.jpg\n"
    pairs = parse_pairs(text)
    assert [(p.line, p.a, p.b) for p in pairs] == [(3, "a.jpg", "b.jpg"), (5, "c d.jpg", "e.jpg")]
    for bad, line in (
        ("a.jpg\tb.jpg\nonly-one.jpg\n", 2),
        ("a.jpg b.jpg\n", 1),
        ("# x\na\tb\tc\n", 2),
        ("\ta.jpg\n", 1),
    ):
        with pytest.raises(InputError, match=f"pairs.txt, line {line}: expected PATH_A<TAB>PATH_B"):
            parse_pairs(bad, "pairs.txt")
    with pytest.raises(InputError, match="no pairs"):
        parse_pairs("# nothing\n\n")


def write_pairs(folder: Path, rows: list[tuple[Path | str, Path | str]]) -> Path:
    path = folder / "pairs.txt"
    path.write_text("# a comment\n" + "".join(f"{a}\t{b}\n" for a, b in rows))
    return path


@pytest.fixture()
def rows(probe_photo: Any, tmp_path: Path) -> list[tuple[Path | str, Path | str]]:
    sky = tmp_path / "sky.png"
    sky.write_bytes(no_face_photo())
    a, a2, b = probe_photo(0, 5), probe_photo(0, 6), probe_photo(1, 5)
    return [(a, a2), (a, b), (a, tmp_path / "missing.jpg"), (sky, a2), (b, a)]


def test_one_line_per_pair_in_order_each_image_analysed_once_and_one_entry(
    engine: Engine,
    store: AccountabilityStore,
    rows: list[tuple[Path, Path]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[str] = []
    run = engine.pipeline.run

    def counting(items: Any, **kw: Any) -> Any:
        assert kw == {"main_only": True, "second": True}
        return run((seen.append(i.source) or i for i in items), **kw)

    monkeypatch.setattr(engine.pipeline, "run", counting)
    pairs_file = write_pairs(tmp_path, rows)
    kept = len(store.probes.kept())
    inv = store.accounts.get_user("inv1")
    record = verify_pairs(engine, store, inv, PairsRequest(pairs_file, case="K-9", purpose="p"))

    assert sorted(seen) == sorted({str(p) for row in rows for p in row})  # once each
    lines = list(record.lines())
    assert [(x["a"], x["b"]) for x in lines] == [(str(a), str(b)) for a, b in rows]
    assert all(set(x) - {"error"} == KEYS for x in lines)
    fusion = engine.fusion
    assert fusion is not None
    models = list(fusion.model_ids)
    assert all(x["models"] == models for x in lines)
    same, apart, missing, sky, swapped = lines
    assert same["same"] is True and apart["same"] is False and swapped["same"] is False
    assert same["similarity"] > apart["similarity"]
    assert swapped["similarity"] == pytest.approx(apart["similarity"], abs=1e-6)
    assert list(same["scores"]) == models and 0 < same["fmr"] < apart["fmr"] <= 1
    assert "error" not in same and "missing.jpg" in missing["error"]
    assert "no face found" in sky["error"] and "sky.png" in sky["error"]
    assert missing["similarity"] is None and missing["same"] is None and missing["scores"] == {}
    assert record.failed == 2

    entry = store.audit.get(record.id)
    assert entry.action == "verify" and entry.actor == "inv1" and entry.case == "K-9"
    p = entry.payload
    digest = {str(x): hashlib.sha256(Path(x).read_bytes()).hexdigest() for x in rows[0] + rows[1]}
    assert p["outcome"] == "ok" and p["kind"] == "pairs" and p["count"] == 5 and p["failed"] == 2
    assert p["pairs_sha256"] == hashlib.sha256(pairs_file.read_bytes()).hexdigest()
    assert p["pairs"][0] == [
        digest[str(rows[0][0])],
        digest[str(rows[0][1])],
        same["similarity"],
        True,
    ]
    assert p["pairs"][2] == [digest[str(rows[2][0])], None, None, None]
    assert p["models"] == models and len(store.probes.kept()) == kept  # photos not kept
    assert store.audit.head().seq == record.id  # one entry for the run


def test_with_the_second_model_off_the_first_alone_decides(
    engine: Engine, store: AccountabilityStore, rows: list[tuple[Path, Path]], tmp_path: Path
) -> None:
    settings = engine.settings.replace(second_embedder="none")
    with FakePipeline(settings) as pipeline:
        alone = Engine(settings, pipeline=pipeline, open_catalog=False)
        inv = store.accounts.get_user("inv1")
        request = PairsRequest(write_pairs(tmp_path, rows[:2]), case="K-9", purpose="p")
        lines = list(verify_pairs(alone, store, inv, request).lines())
        model = pipeline.model_id
        assert [x["models"] for x in lines] == [[model], [model]]
        first = alone.verify(rows[0][0], rows[0][1]).verification
        assert lines[0]["similarity"] == pytest.approx(first.similarity, abs=1e-6)
        assert lines[0]["scores"] == {model: round(first.similarity, 5)}
        a, b = (alone.main_face(p)[1].embedding for p in rows[0])
        assert a is not None and b is not None
        assert first.similarity == pytest.approx(float(np.dot(a, b)))  # as before fusion


def test_a_malformed_file_or_a_missing_case_logs_no_run(
    engine: Engine, store: AccountabilityStore, rows: list[tuple[Path, Path]], tmp_path: Path
) -> None:
    inv = store.accounts.get_user("inv1")
    good = write_pairs(tmp_path, rows[:1])
    before = store.audit.head().seq
    with pytest.raises(CaseRequiredError):
        verify_pairs(engine, store, inv, PairsRequest(good))
    assert store.audit.head().seq == before  # refused before it started
    bad = tmp_path / "bad.txt"
    bad.write_text(f"{rows[0][0]}\t{rows[0][1]}\n{rows[1][0]} {rows[1][1]}\n")
    with pytest.raises(InputError, match=r"bad\.txt, line 2"):
        verify_pairs(engine, store, inv, PairsRequest(bad, case="K-9", purpose="p"))
    entry = store.audit.get(store.audit.head().seq)
    assert entry.payload["outcome"] == "bad_input" and "pairs" not in entry.payload
    with pytest.raises(InputError, match="cannot read the pairs file"):
        verify_pairs(engine, store, inv, PairsRequest(tmp_path / "nope.txt", case="K", purpose="p"))


def test_more_pairs_than_a_run_may_hold_are_refused_before_any_image_is_analysed(
    engine: Engine,
    store: AccountabilityStore,
    rows: list[tuple[Path, Path]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """200,000 pairs over a few photos were all analysed and compared (41 s), then the run's
    entry was over the audit's 1 MiB: 'audit payload is larger than 1 MiB', no line printed
    and nothing logged."""

    def no_analysis(items: Any, **kw: Any) -> Any:
        raise AssertionError("analysed before refusing")

    monkeypatch.setattr(engine.pipeline, "run", no_analysis)
    huge = write_pairs(tmp_path, [rows[0], rows[1]] * 100_001)
    inv = store.accounts.get_user("inv1")
    with pytest.raises(InputError, match=r"pairs\.txt holds 200,002 pairs; at most 100,000 a run"):
        verify_pairs(engine, store, inv, PairsRequest(huge, case="K-9", purpose="p"))
    entry = store.audit.get(store.audit.head().seq)
    assert entry.payload["outcome"] == "bad_input" and entry.payload["kind"] == "pairs"


def test_a_pairs_file_without_end_is_refused_not_read_until_memory_runs_out(
    engine: Engine, store: AccountabilityStore
) -> None:
    """'--pairs /dev/zero' was read whole: MemoryError (or the OOM killer). A pipe still
    works (``--pairs <(cmd)``), so the read is bounded rather than refusing devices."""
    inv = store.accounts.get_user("inv1")
    request = PairsRequest(Path("/dev/zero"), case="K-9", purpose="p")
    with pytest.raises(InputError, match=r"pairs file /dev/zero is over \d+ MiB"):
        verify_pairs(engine, store, inv, request)
    assert store.audit.get(store.audit.head().seq).payload["outcome"] == "bad_input"


def test_a_run_longer_than_one_entry_holds_is_logged_in_consecutive_parts(
    engine: Engine, store: AccountabilityStore, rows: list[tuple[Path, Path]], tmp_path: Path
) -> None:
    """7,000 pairs (more than one 1 MiB entry lists) were refused outright: a run is logged
    as consecutive entries, every pair listed once, in file order, the chain intact."""
    pairs = [rows[0], rows[1]] * 3500
    inv = store.accounts.get_user("inv1")
    record = verify_pairs(
        engine, store, inv, PairsRequest(write_pairs(tmp_path, pairs), case="K-9", purpose="p")
    )
    assert len(record.results) == 7000 and len(record.entries) == 2
    assert record.id == record.entries[0] and record.entries[1] == record.entries[0] + 1
    logged = [store.audit.get(seq).payload for seq in record.entries]
    assert [e["part"] for e in logged] == [1, 2] and {e["parts"] for e in logged} == {2}
    assert [e["first_pair"] for e in logged] == [1, len(logged[0]["pairs"]) + 1]
    assert sum(len(e["pairs"]) for e in logged) == 7000
    listed = [row for e in logged for row in e["pairs"]]
    assert listed == [r.logged() for r in record.results]
    assert store.audit.verify().ok


def test_a_pair_path_that_is_not_utf8_is_read_and_shown_escaped(
    engine: Engine, store: AccountabilityStore, probe_photo: Any, tmp_path: Path
) -> None:
    """The pairs file was decoded with replacement characters, so a path that is not UTF-8
    failed with a misleading "No such file or directory"."""
    import os
    import shutil

    odd = os.fsencode(tmp_path) + b"/p\xff.png"
    shutil.copy(probe_photo(0, 5), os.fsdecode(odd))
    pairs_file = tmp_path / "pairs.txt"
    pairs_file.write_bytes(odd + b"\t" + os.fsencode(probe_photo(0, 6)) + b"\n")
    inv = store.accounts.get_user("inv1")
    record = verify_pairs(engine, store, inv, PairsRequest(pairs_file, case="K-9", purpose="p"))
    (line,) = record.lines()
    assert "error" not in line and line["same"] is True
    assert line["a"].endswith("/p\\xff.png")
