"""Open-set 1:N identification on LFW ("eval lfw-1n"), reported the way NIST FRTE does.

The protocol (deterministic, from the LFW file names alone):

- People with two or more images (1,680): image 0001 is enrolled in the gallery; every other
  image of theirs (7,484) is a **mated probe** -- the person is in the gallery.
- People with exactly one image (4,069), in name order, alternate: even positions are enrolled
  as **distractors** (2,035), odd positions are **non-mated probes** (2,034) -- the person is
  not in the gallery.
- Gallery: 3,715 faces. Every probe is searched in it with the real vector index.

Figures:

- rank-1 (and rank-10) hit rate: the share of mated probes whose mate is the top (top-10)
  candidate, with no threshold;
- FPIR(T): the share of non-mated probes whose top candidate scores >= T;
- FNIR(T) at rank 1: the share of mated probes whose mate is not the top candidate with a
  score >= T; reported at the thresholds T where FPIR = 0.1, 0.01 and 0.003.

Each model is measured alone (``evaluate``: the real vector index) and, with a second model,
the two fused (``evaluate_fused``: both probe x gallery similarity matrices fused elementwise
by the shipped ``Fusion``, searched exhaustively); ``side_by_side`` gives all three.

Images where no face was found cannot be searched: a mated probe without a face counts as a
miss, a non-mated one as a correct rejection, and both are reported.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from facesearch.core.fusion import Fusion
from facesearch.evaluation.lfw import EmbeddingSet
from facesearch.gallery.vectors import make_index

FPIR_TARGETS = (0.1, 0.01, 0.003)


def split(names: list[str]) -> tuple[list[int], list[int], list[int]]:
    """(gallery, mated probe, non-mated probe) row numbers of ``names``."""
    by_person: dict[str, list[int]] = defaultdict(list)
    for i, n in enumerate(names):
        by_person[n.split("/")[0]].append(i)
    gallery: list[int] = []
    mated: list[int] = []
    nonmated: list[int] = []
    singles = 0
    for person in sorted(by_person):
        rows = sorted(by_person[person], key=lambda r: names[r])
        if len(rows) >= 2:
            gallery.append(rows[0])
            mated.extend(rows[1:])
        else:
            (gallery if singles % 2 == 0 else nonmated).append(rows[0])
            singles += 1
    return gallery, mated, nonmated


Search = Callable[[list[int]], tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]]


def evaluate(emb: EmbeddingSet, *, threads: int = 0, k: int = 10) -> dict[str, Any]:
    """The 1:N figures of one model (``emb.embeddings``), searched with the vector index."""
    g_rows = [r for r in split(emb.names)[0] if emb.found[r]]
    index = make_index(emb.embeddings.shape[1], threads=threads)
    index.add(np.asarray(g_rows, np.int64), emb.embeddings[g_rows])
    return figures(emb, lambda rows: index.search(emb.embeddings[rows], k), k)


def evaluate_fused(emb: EmbeddingSet, fusion: Fusion, *, k: int = 10) -> dict[str, Any]:
    """The 1:N figures of ``fusion`` over the primary (``emb.embeddings``) and the second
    model (``emb.second``): both similarity matrices, fused elementwise, searched exhaustively."""
    second = emb.second_set().embeddings
    g_rows = np.asarray([r for r in split(emb.names)[0] if emb.found[r]], np.int64)
    gallery = (emb.embeddings[g_rows].T, second[g_rows].T)

    def search(rows: list[int]) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
        sims, ids = [], []
        for start in range(0, len(rows), 1024):
            chunk = rows[start : start + 1024]
            fused = fusion.fuse(emb.embeddings[chunk] @ gallery[0], second[chunk] @ gallery[1])
            best = np.argpartition(-fused, k - 1, axis=1)[:, :k]
            scores = np.take_along_axis(fused, best, axis=1)
            order = np.argsort(-scores, axis=1, kind="stable")
            sims.append(np.take_along_axis(scores, order, axis=1).astype(np.float32))
            ids.append(g_rows[np.take_along_axis(best, order, axis=1)])
        return np.concatenate(sims), np.concatenate(ids)

    return {**figures(emb, search, k), "fusion": fusion.as_dict()}


def figures(emb: EmbeddingSet, search: Search, k: int) -> dict[str, Any]:
    """rank-1, rank-k and FNIR at FPIR of the protocol, with ``search`` (rows of ``emb`` with
    a face -> their top-``k`` (scores, gallery rows), best first)."""
    gallery, mated, nonmated = split(emb.names)
    person = np.array([n.split("/")[0] for n in emb.names])

    def top(rows: list[int]) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        ok = [r for r in rows if emb.found[r]]
        sims, ids = search(ok)
        out_s = np.full((len(rows), k), -np.inf, np.float32)
        out_i = np.full((len(rows), k), -1, np.int64)
        pos = {r: j for j, r in enumerate(ok)}
        for i, r in enumerate(rows):
            if r in pos:
                out_s[i], out_i[i] = sims[pos[r]], ids[pos[r]]
        return out_s, out_i

    m_sims, m_ids = top(mated)
    n_sims, _ = top(nonmated)
    m_person = person[mated]
    hit_person = np.where(m_ids >= 0, person[np.maximum(m_ids, 0)], "")
    is_mate = hit_person == m_person[:, None]
    rank1 = is_mate[:, 0]
    top1_nonmated = n_sims[:, 0]
    result: dict[str, Any] = {
        "protocol": "LFW open-set 1:N (see facesearch.evaluation.open_set)",
        "gallery_faces": int(emb.found[gallery].sum()),
        "mated_probes": len(mated),
        "nonmated_probes": len(nonmated),
        "images_without_face": int((~emb.found).sum()),
        "rank1_hit_rate": float(rank1.mean()),
        "rank10_hit_rate": float(is_mate.any(axis=1).mean()),
        "fnir_at_fpir": {},
    }
    ordered = np.sort(top1_nonmated)[::-1]
    for target in FPIR_TARGETS:
        allowed = int(np.floor(target * len(ordered)))
        # threshold just above the (allowed+1)-th highest non-mated score
        t = (
            float(np.nextafter(ordered[allowed], np.float32(np.inf)))
            if allowed < len(ordered)
            else -1.0
        )
        fpir = float((top1_nonmated >= t).mean())
        fnir = float(1.0 - (rank1 & (m_sims[:, 0] >= t)).mean())
        result["fnir_at_fpir"][str(target)] = {"threshold": t, "fpir": fpir, "fnir": fnir}
    return result


def side_by_side(
    emb: EmbeddingSet, model_ids: Sequence[str], fusion: Fusion | None, *, threads: int = 0
) -> dict[str, dict[str, Any]]:
    """The 1:N figures keyed by model name: the primary, the second (``emb.second``, when
    computed) and, with ``fusion``, the two fused."""
    sets = [emb] if emb.second is None else [emb, emb.second_set()]
    out = {
        model_id.split(":")[0]: {"model_id": model_id, **evaluate(one, threads=threads)}
        for model_id, one in zip(model_ids, sets, strict=False)
    }
    if fusion is not None and emb.second is not None:
        out["fused"] = {"model_id": fusion.model_id, **evaluate_fused(emb, fusion)}
    return out


def describe(results: dict[str, dict[str, Any]]) -> str:
    """A small table of ``side_by_side``'s figures, one row per model."""
    first = next(iter(results.values()))
    lines = [
        f"LFW open-set 1:N: gallery {first['gallery_faces']:,} faces, "
        f"{first['mated_probes']:,} mated + {first['nonmated_probes']:,} non-mated probes",
        f"  {'model':<12} {'rank-1':>8} {'rank-10':>8}"
        + "".join(f" {'FNIR@FPIR ' + t:>16}" for t in first["fnir_at_fpir"]),
    ]
    for name, result in results.items():
        rank1, rank10 = 100 * result["rank1_hit_rate"], 100 * result["rank10_hit_rate"]
        lines.append(
            f"  {name:<12} {rank1:7.2f}% {rank10:7.2f}%"
            + "".join(f" {100 * row['fnir']:15.2f}%" for row in result["fnir_at_fpir"].values())
        )
    lines.append(f"  no face found: {first['images_without_face']} images")
    if "fused" in results:
        lines.append(f"  fused: {results['fused']['fusion']['source']}")
    return "\n".join(lines)
