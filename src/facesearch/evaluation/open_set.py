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

Images where no face was found cannot be searched: a mated probe without a face counts as a
miss, a non-mated one as a correct rejection, and both are reported.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np

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


def evaluate(emb: EmbeddingSet, *, threads: int = 0, k: int = 10) -> dict[str, Any]:
    gallery, mated, nonmated = split(emb.names)
    g_rows = [r for r in gallery if emb.found[r]]
    index = make_index(emb.embeddings.shape[1], threads=threads)
    index.add(np.asarray(g_rows, np.int64), emb.embeddings[g_rows])
    person = np.array([n.split("/")[0] for n in emb.names])

    def top(rows: list[int]) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        ok = [r for r in rows if emb.found[r]]
        sims, ids = index.search(emb.embeddings[ok], k)
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
        "gallery_faces": len(g_rows),
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


def describe(result: dict[str, Any]) -> str:
    lines = [
        f"LFW open-set 1:N: gallery {result['gallery_faces']:,} faces, "
        f"{result['mated_probes']:,} mated + {result['nonmated_probes']:,} non-mated probes",
        f"  rank-1 hit rate {100 * result['rank1_hit_rate']:.2f} %",
        f"  rank-10         {100 * result['rank10_hit_rate']:.2f} %",
    ]
    for target, row in result["fnir_at_fpir"].items():
        lines.append(
            f"  FNIR @ FPIR {target:<6} {100 * row['fnir']:.2f} %  "
            f"(threshold {row['threshold']:.4f}, measured FPIR {row['fpir']:.4f})"
        )
    lines.append(f"  no face found   {result['images_without_face']} images")
    return "\n".join(lines)
