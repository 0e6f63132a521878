"""Many 1:1 comparisons in one run (``verify --pairs``), checked and logged.

A pairs file holds one pair a line, ``PATH_A<TAB>PATH_B`` (paths as given: relative ones are
relative to the working directory); blank lines and lines starting with ``#`` are skipped. A
line that is not two tab-separated paths stops the run before anything is analysed, with its
line number; a file of more than ``MAX_PAIRS`` (100,000) pairs is refused before too. Each
distinct image is read and analysed once, in batches through the
pipeline (its main face, with the second model's embedding where one is configured), then every
pair is compared like ``verify`` (``Engine.compare``: fused when a second model is configured). A
pair whose image cannot be read or has no face gets its error instead of a decision.

The run needs the ``verify`` permission, a case and a purpose (as ``verify``). Its audit
entries record it: the pairs file's sha256, the count, the models, and per pair ``[sha256 of A,
sha256 of B, similarity, same]`` (nulls where a pair failed), in file order, at most
``PAIRS_PER_ENTRY`` (6,451) pairs an entry (an entry holds at most 1 MiB): a run of more is
logged as consecutive entries marked ``part`` k of ``parts`` n. The photos are not kept.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from facesearch.accountability import AccountabilityStore, Action, Actor, Permission
from facesearch.accountability.audit_entries import MAX_PAYLOAD_BYTES
from facesearch.app.checks import (
    check_decision,
    checked_use,
    iso,
    log,
    log_failure,
    now,
    sha256,
)
from facesearch.app.records import OUTCOME_OK
from facesearch.core.matching import Verification
from facesearch.core.text import shown_name
from facesearch.engine import Engine
from facesearch.errors import FaceSearchError, ImageError, InputError
from facesearch.pipeline import Decodable, read_file
from facesearch.types import Face, ImageFaces

__all__ = [
    "Pair",
    "PairResult",
    "PairsRecord",
    "PairsRequest",
    "parse_pairs",
    "verify_pairs",
]

NO_FACE = "no face found"
# An entry lists its pairs ([sha256, sha256, similarity, same]: at most about 155 bytes as
# JSON) and holds at most MAX_PAYLOAD_BYTES, so a longer run is logged in several entries.
PAIRS_PER_ENTRY = (MAX_PAYLOAD_BYTES - 16 * 1024) // 160
MAX_PAIRS = 100_000  # a run's results stay in memory (about 3.5 kB a pair)
MAX_PAIRS_FILE_BYTES = 64 << 20  # room for MAX_PAIRS lines of long paths, and comments


@dataclass(frozen=True)
class Pair:
    line: int  # its line number in the pairs file (from 1)
    a: str
    b: str


def parse_pairs(text: str, name: str = "the pairs file") -> tuple[Pair, ...]:
    """The pairs of a pairs file's text; InputError naming the first malformed line."""
    pairs = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip(" \r\n")
        if not line or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 2 or not all(p.strip() for p in parts):
            raise InputError(
                f"{name}, line {number}: expected PATH_A<TAB>PATH_B, got {line[:120]!r}"
            )
        pairs.append(Pair(number, parts[0].strip(), parts[1].strip()))
    if not pairs:
        raise InputError(f"{name} holds no pairs (lines PATH_A<TAB>PATH_B)")
    return tuple(pairs)


@dataclass(frozen=True)
class PairsRequest:
    """Compare the main faces of every pair of a pairs file."""

    pairs_file: Path
    case: str | None = None
    purpose: str | None = None
    threshold: float | None = None
    max_fmr: float | None = None

    def parameters(self, model_id: str) -> dict[str, Any]:
        return {"threshold": self.threshold, "max_fmr": self.max_fmr, "model_id": model_id}


@dataclass(frozen=True)
class PairResult:
    """One pair's decision, or why there is none (``error``)."""

    pair: Pair
    sha256: tuple[str | None, str | None]  # of each photo read (None: unreadable)
    verification: Verification | None
    error: str | None = None

    @property
    def same_file(self) -> bool:
        """Are both sides one file (same sha256), not two photos of a person?"""
        return self.sha256[0] is not None and self.sha256[0] == self.sha256[1]

    def as_json(self, models: Sequence[str]) -> dict[str, Any]:
        """The pair's line of ``verify --pairs --json`` (``line``: where it is in the file)."""
        v = self.verification
        out: dict[str, Any] = {
            "line": self.pair.line,
            "a": shown_name(self.pair.a),  # a path not UTF-8 shown escaped
            "b": shown_name(self.pair.b),
            "similarity": None if v is None else round(v.similarity, 6),
            "threshold": None if v is None else round(v.threshold, 6),
            "same": None if v is None else v.same,
            "fmr": None if v is None else v.fmr,
            "models": list(models),
            "scores": {} if v is None else v.scores_by_model(),
            "same_file": self.same_file,
        }
        if self.error is not None:
            out["error"] = shown_name(self.error)
        return out

    def logged(self) -> list[Any]:
        """Its row of the audit entry: [sha256 A, sha256 B, similarity, same]."""
        v = self.verification
        similarity = None if v is None else round(v.similarity, 6)
        return [*self.sha256, similarity, None if v is None else v.same]


@dataclass(frozen=True)
class PairsRecord:
    """A pairs run as run and logged (``id``: its first audit entry, ``entries``: all)."""

    id: int
    case: str | None
    purpose: str | None
    pairs_sha256: str
    models: tuple[str, ...]
    threshold: float | None  # the decision threshold (None: no pair could be compared)
    results: tuple[PairResult, ...] = field(default=())
    entries: tuple[int, ...] = field(default=())

    @property
    def failed(self) -> int:
        """How many pairs have no decision (an image unreadable or without a face)."""
        return sum(r.error is not None for r in self.results)

    def lines(self) -> Iterator[dict[str, Any]]:
        return (r.as_json(self.models) for r in self.results)


@dataclass(frozen=True)
class _Analysed:
    sha256: str | None
    face: Face | None
    error: str | None


Progress = Callable[[int, int], None]  # (images analysed, distinct images)


def verify_pairs(
    engine: Engine,
    store: AccountabilityStore,
    actor: Actor,
    request: PairsRequest,
    progress: Progress | None = None,
) -> PairsRecord:
    """Compare the main faces of every pair of ``request.pairs_file`` and log the run
    (``progress`` is called as the images are analysed)."""
    check_decision(request.threshold, request.max_fmr)
    use = checked_use(
        store, actor, Permission.VERIFY, request.case, request.purpose, settings=engine.settings
    )
    case, purpose = use.case, use.purpose
    started = now()
    model_id = engine.pipeline.model_id
    try:
        data = _read_pairs_file(request.pairs_file)
        # paths as the file holds them, bytes that are not UTF-8 included (as the OS takes
        # them: "replace" turned a path not UTF-8 into one that does not exist)
        text = data.decode("utf-8", errors="surrogateescape")
        pairs = parse_pairs(text, shown_name(str(request.pairs_file)))
        if len(pairs) > MAX_PAIRS:
            raise InputError(
                f"{request.pairs_file} holds {len(pairs):,} pairs; at most {MAX_PAIRS:,} a run: "
                "split the file"
            )
        fused = engine.fusion is not None
        paths = [p for pair in pairs for p in (pair.a, pair.b)]
        analysed = _analyse(engine, paths, fused, progress or (lambda done, total: None))
        results = tuple(_compare(engine, pair, analysed, request) for pair in pairs)
    except FaceSearchError as exc:  # every attempt is logged with its outcome
        failure = use.failure(exc, model_id, (), started)
        parameters = request.parameters(model_id)
        log_failure(
            store, actor, Action.VERIFY, case, purpose, failure, kind="pairs", parameters=parameters
        )
        raise
    decided = next((r.verification for r in results if r.verification is not None), None)
    models = decided.models if decided is not None else _models(engine)
    threshold = None if decided is None else decided.threshold
    base = {
        "outcome": OUTCOME_OK,
        "kind": "pairs",
        "started": iso(started),
        "ended": iso(now()),
        "pairs_sha256": sha256(data),
        "count": len(results),
        "failed": sum(r.error is not None for r in results),
        "models": list(models),
        "threshold": None if threshold is None else round(threshold, 6),
        "parameters": request.parameters(model_id),
        **use.marks(),  # a case opened while it ran is not the one it was checked in
    }
    parts = range(0, len(results), PAIRS_PER_ENTRY)
    entries = []
    for k, start in enumerate(parts):
        chunk = results[start : start + PAIRS_PER_ENTRY]
        payload = {**base, "pairs": [r.logged() for r in chunk]}
        if len(parts) > 1:
            payload |= {"part": k + 1, "parts": len(parts), "first_pair": start + 1}
        entries.append(log(store, actor, Action.VERIFY, case, purpose, payload).seq)
    return PairsRecord(
        entries[0], case, purpose, sha256(data), models, threshold, results, tuple(entries)
    )


def _read_pairs_file(path: Path) -> bytes:
    """Its bytes, at most MAX_PAIRS_FILE_BYTES (a pipe is read too: ``--pairs <(cmd)``)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_PAIRS_FILE_BYTES + 1)
    except OSError as exc:
        raise InputError(f"cannot read the pairs file {path}: {exc.strerror or exc}") from exc
    if len(data) > MAX_PAIRS_FILE_BYTES:
        raise InputError(f"the pairs file {path} is over {MAX_PAIRS_FILE_BYTES >> 20} MiB")
    return data


def _models(engine: Engine) -> tuple[str, ...]:
    fusion = engine.fusion
    return tuple(fusion.model_ids) if fusion is not None else (engine.pipeline.model_id,)


def _analyse(
    engine: Engine, paths: Sequence[str], second: bool, progress: Progress
) -> dict[str, _Analysed]:
    """The main face of each distinct path, analysed once, in batches."""
    distinct = list(dict.fromkeys(paths))
    max_bytes = engine.settings.limits.max_file_bytes
    unread: dict[str, str] = {}
    digests: dict[str, str] = {}

    def items() -> Iterator[Decodable]:
        for path in distinct:
            try:
                item = read_file(Path(path), max_bytes)
            except ImageError as exc:
                unread[path] = str(exc)
                item = Decodable(path, b"")  # decodes to an error; the read error wins
            else:
                digests[path] = sha256(item.data)
            yield item

    out: dict[str, _Analysed] = {}
    results = engine.pipeline.run(items(), main_only=True, second=second)
    for path, result in zip(distinct, results, strict=True):
        sha = digests.get(path)
        if path in unread or not isinstance(result, ImageFaces):
            out[path] = _Analysed(sha, None, unread.get(path) or str(result))
        elif result.main is None:
            out[path] = _Analysed(sha, None, f"{path}: {NO_FACE}")
        else:
            face = next(f for f in result.faces if f.index == result.main)
            out[path] = _Analysed(sha, face, None)
        progress(len(out), len(distinct))
    return out


def _compare(
    engine: Engine, pair: Pair, analysed: dict[str, _Analysed], request: PairsRequest
) -> PairResult:
    a, b = analysed[pair.a], analysed[pair.b]
    digests = (a.sha256, b.sha256)
    if a.face is None or b.face is None:
        return PairResult(
            pair, digests, None, "; ".join(dict.fromkeys(e for e in (a.error, b.error) if e))
        )
    verification = engine.compare(
        a.face, b.face, threshold=request.threshold, max_fmr=request.max_fmr
    )
    return PairResult(pair, digests, verification)
