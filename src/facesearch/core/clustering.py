"""Group faces into persons: a k-NN similarity graph, clustered under hard rules. Pure.

Embeddings are (n, d) float32, L2-normalised (similarity = dot product). Each function
returns one int64 label per face (0 .. P-1, singletons included, no -1).

- ``knn_graph``: edges from each face to its ``k`` nearest others scoring >= ``threshold``
  (undirected, each once, weight = similarity); exact search (FAISS flat) unless the caller
  passes ``search`` (e.g. the gallery's vector index).
- ``cluster``: Chinese whispers (weighted label propagation, Biemann 2006, as in dlib) or
  connected components (baseline) on that graph. Hard rules, kept at every step: two faces
  of one image never share a person, nor do ``cannot_link`` pairs; ``anchors`` (row -> key)
  fix faces: one key is one person, different keys never merge (anchors win over the other
  rules when a caller gives contradictory ones).
- ``attach``: incremental assignment of new faces (see its docstring).
- ``dbscan_immich``: the peer, Immich's face clustering with its defaults.
- ``certainty``: how well each face sits in its person (review the least certain first).

Defaults chosen on LFW by ``benchmarks/people.py`` (README, People): Chinese whispers, k = 30,
threshold = the model's calibrated one at FMR 5e-6 (SFace: 0.5175; pairwise F 0.987, BCubed F
0.985 with seeds 0-5). Callers take the threshold from the calibration table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from facesearch.errors import InputError

F32 = npt.NDArray[np.float32]
I64 = npt.NDArray[np.int64]
F = np.float32
Search = Callable[[F32, int], tuple[npt.NDArray[np.float32], I64]]
Method = Literal["chinese_whispers", "components"]

DEFAULT_METHOD: Method = "chinese_whispers"
DEFAULT_K = 30
# The shown (conservative) table's FMR at similarity 0.5175, the threshold measured best on LFW
# (README, People): 5e-6 on the plain LFW table, 3.7e-5 once bounded (issue 12).
DEFAULT_MAX_FMR = 3.7e-5
_BATCHES = 64  # Chinese whispers updates 1/64 of the faces at a time (see _whispers)
_MAX_PASSES = 50


@dataclass(frozen=True)
class Graph:
    """An undirected weighted graph on ``n`` faces, each edge once (``src < dst``)."""

    n: int
    src: I64
    dst: I64
    weight: F32


def exact_search(base: F32) -> Search:
    """A ``search`` over ``base`` by exact inner product (FAISS flat index)."""
    import faiss

    index = faiss.IndexFlatIP(base.shape[1])
    index.add(np.ascontiguousarray(base, dtype=np.float32))

    def search(queries: F32, k: int) -> tuple[npt.NDArray[np.float32], I64]:
        sims, idx = index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
        return sims, idx.astype(np.int64)

    return search


def _embeddings(embeddings: npt.ArrayLike) -> F32:
    x = np.ascontiguousarray(embeddings, dtype=np.float32)
    if x.ndim != 2:
        raise InputError(f"embeddings must be (n, d), not {x.shape}")
    return x


def knn_graph(
    embeddings: npt.ArrayLike,
    k: int,
    threshold: float,
    search: Search | None = None,
    batch: int = 16_384,
) -> Graph:
    """The k-NN graph: an edge from each face to each of its ``k`` nearest other faces that
    scores at least ``threshold``. ``search(queries, k) -> (sims, rows)`` must return row
    numbers into ``embeddings`` (-1 for none), best first; it is called with ``k + 1``
    because a face usually finds itself first."""
    x = _embeddings(embeddings)
    n = len(x)
    if k < 1:
        raise InputError("k must be at least 1")
    search = search or exact_search(x)
    kk = min(k + 1, n)
    srcs, dsts, weights = [np.empty(0, np.int64)], [np.empty(0, np.int64)], [np.empty(0, F)]
    for start in range(0, n, batch):
        sims, idx = search(x[start : start + batch], kk)
        rows = np.arange(start, start + len(idx), dtype=np.int64)[:, None]
        keep = (idx >= 0) & (idx != rows) & (sims >= threshold)
        keep &= np.cumsum(keep, axis=1) <= k  # at most k others per face
        srcs.append(np.broadcast_to(rows, idx.shape)[keep])
        dsts.append(idx[keep].astype(np.int64))
        weights.append(sims[keep].astype(np.float32))
    a, b, w = np.concatenate(srcs), np.concatenate(dsts), np.concatenate(weights)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    key = lo * n + hi
    order = np.lexsort((-w, key))  # each pair once, with its best score
    pick = order[np.r_[True, key[order][1:] != key[order][:-1]]] if len(order) else order
    return Graph(n, lo[pick], hi[pick], w[pick])


def _csr(n: int, a: I64, b: I64, w: F32 | None = None) -> tuple[I64, I64, F32]:
    """Both directions of the pairs (a, b) as (indptr, neighbours, weights)."""
    src = np.concatenate([a, b])
    dst = np.concatenate([b, a])
    wt = np.ones(len(src), np.float32) if w is None else np.concatenate([w, w])
    order = np.argsort(src, kind="stable")
    indptr = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(src, minlength=n), out=indptr[1:])
    return indptr, dst[order], wt[order]


def _gather(indptr: I64, nodes: I64) -> tuple[I64, I64]:
    """(owner, position) of every CSR entry of ``nodes``."""
    starts, lens = indptr[nodes], indptr[nodes + 1] - indptr[nodes]
    offsets = np.cumsum(lens) - lens
    pos = np.arange(int(lens.sum()), dtype=np.int64) - np.repeat(offsets - starts, lens)
    return np.repeat(nodes, lens), pos


def _conflicts(
    n: int, image_ids: npt.ArrayLike, cannot_link: Iterable[tuple[int, int]]
) -> tuple[I64, I64]:
    """Row pairs that may never share a person: same image, or cannot-link."""
    img = np.asarray(image_ids).ravel()
    if len(img) != n:
        raise InputError(f"{len(img)} image ids for {n} faces")
    order = np.argsort(img, kind="stable")
    bounds = np.flatnonzero(img[order][1:] != img[order][:-1]) + 1
    pairs = [np.array(list(cannot_link), dtype=np.int64).reshape(-1, 2)]
    if len(pairs[0]) and (pairs[0].min() < 0 or pairs[0].max() >= n):
        raise InputError("cannot_link names a row that does not exist")
    for group in np.split(order, bounds):
        if len(group) > 1:
            pairs.append(group[np.stack(np.triu_indices(len(group), 1), axis=1)])
    both = np.concatenate(pairs).astype(np.int64)
    return both[:, 0], both[:, 1]


def _initial(n: int, anchors: Mapping[int, int] | None) -> tuple[I64, npt.NDArray[np.bool_]]:
    """Start labels (each face its own; anchored rows of one key share the smallest row of
    that key) and which rows are fixed."""
    labels = np.arange(n, dtype=np.int64)
    fixed = np.zeros(n, dtype=bool)
    first: dict[int, int] = {}
    for row in sorted(anchors or {}):
        if not 0 <= row < n:
            raise InputError(f"anchor row {row} does not exist")
        labels[row] = first.setdefault(anchors[row], row)  # type: ignore[index]
        fixed[row] = True
    return labels, fixed


CSR = tuple[I64, I64, F32]  # (indptr, neighbours, weights), see _csr


def _step(
    edges: CSR, conflicts: CSR, batch: I64, labels: I64, voters: npt.NDArray[np.bool_] | None
) -> int:
    """Move each face of ``batch`` to the label of largest summed edge weight among its
    neighbours (only ``voters`` vote if given), skipping labels of faces it conflicts with;
    conflicting faces of the batch ending in one label both stay. Returns how many moved."""
    (indptr, nbr, wt), (c_ptr, c_nbr, _) = edges, conflicts
    n = len(labels)
    owner, pos = _gather(indptr, batch)
    if voters is not None:
        owner, pos = owner[voters[nbr[pos]]], pos[voters[nbr[pos]]]
    cand, inv = np.unique(owner * n + labels[nbr[pos]], return_inverse=True)
    score = np.bincount(inv.ravel(), weights=wt[pos], minlength=len(cand)).astype(np.float64)
    c_owner, c_pos = _gather(c_ptr, batch)
    score[np.isin(cand, c_owner * n + labels[c_nbr[c_pos]])] = -np.inf
    who, lab = cand // n, cand % n
    order = np.lexsort((lab, -score, who))
    best = order[np.r_[True, who[order][1:] != who[order][:-1]]] if len(order) else order
    best = best[np.isfinite(score[best])]
    movers, new = who[best], lab[best]
    moving = labels[movers] != new
    movers, new = movers[moving], new[moving]
    if not len(movers):
        return 0
    old = labels[movers].copy()
    labels[movers] = new
    in_batch = np.zeros(n, bool)
    in_batch[movers] = True
    m_owner, m_pos = _gather(c_ptr, movers)
    other = c_nbr[m_pos]
    clash = in_batch[other] & (labels[other] == labels[m_owner])
    revert = np.isin(movers, m_owner[clash])
    labels[movers[revert]] = old[revert]
    return int((~revert).sum())


def _whispers(
    graph: Graph, labels: I64, fixed: npt.NDArray[np.bool_], conflicts: tuple[I64, I64], seed: int
) -> I64:
    """Weighted Chinese whispers (``_step``), faces in a random order per pass, 1/64 of them
    at a time; stops when a pass moves nothing. Neighbours of anchors first take the anchors'
    labels (one step where only anchors vote): a person grows around its anchors."""
    edges = _csr(graph.n, graph.src, graph.dst, graph.weight)
    barred = _csr(graph.n, *conflicts)
    rng = np.random.default_rng(seed)
    movable = np.flatnonzero(~fixed & (edges[0][1:] > edges[0][:-1]))
    if fixed.any():
        _step(edges, barred, movable, labels, fixed)
    for _ in range(_MAX_PASSES):
        batches = np.array_split(rng.permutation(movable), max(1, min(_BATCHES, len(movable))))
        if not sum(_step(edges, barred, batch, labels, None) for batch in batches):
            break
    return labels


def _components(
    graph: Graph, labels: I64, fixed: npt.NDArray[np.bool_], conflicts: tuple[I64, I64]
) -> I64:
    """Connected components, joining the strongest edges first and skipping any join that
    would put two conflicting faces, or two anchor keys, in one person."""
    parent = labels.copy()  # anchored rows already point at their key's first row

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = int(parent[i])
        return i

    forbid: dict[int, set[int]] = {}
    for a, b in zip(*conflicts, strict=True):
        forbid.setdefault(find(int(a)), set()).add(int(b))
        forbid.setdefault(find(int(b)), set()).add(int(a))
    keyed = {find(int(i)) for i in np.flatnonzero(fixed)}
    for e in np.argsort(-graph.weight, kind="stable"):
        ra, rb = find(int(graph.src[e])), find(int(graph.dst[e]))
        if ra == rb or (ra in keyed and rb in keyed):
            continue
        fa, fb = forbid.get(ra, set()), forbid.get(rb, set())
        if any(find(u) == rb for u in fa) or any(find(u) == ra for u in fb):
            continue
        if len(fa) < len(fb):
            ra, rb, fa, fb = rb, ra, fb, fa
        parent[rb], forbid[ra] = ra, fa | fb
        forbid.pop(rb, None)
        keyed |= {ra} if rb in keyed else set()
    return np.array([find(i) for i in range(graph.n)], dtype=np.int64)


def _dense(labels: I64) -> I64:
    return np.unique(labels, return_inverse=True)[1].ravel().astype(np.int64)


def cluster(
    embeddings: npt.ArrayLike,
    image_ids: npt.ArrayLike,
    *,
    threshold: float,
    k: int = DEFAULT_K,
    method: Method = DEFAULT_METHOD,
    anchors: Mapping[int, int] | None = None,
    cannot_link: Iterable[tuple[int, int]] = (),
    seed: int = 0,
    search: Search | None = None,
    graph: Graph | None = None,
) -> I64:
    """One person label (0 .. P-1) per face. ``threshold``: least similarity of an edge (the
    model's calibration threshold at ``DEFAULT_MAX_FMR``); ``k`` neighbours per face;
    ``method`` "chinese_whispers" or "components" (defaults: see module); ``anchors`` and
    ``cannot_link`` as in the module docstring; ``seed`` fixes Chinese whispers' visiting
    order; ``search`` goes to ``knn_graph``, or give a ready ``graph``."""
    x = _embeddings(embeddings)
    n = len(x)
    if graph is None:
        graph = knn_graph(x, k, threshold, search)
    elif graph.n != n:
        raise InputError(f"graph of {graph.n} faces for {n} embeddings")
    labels, fixed = _initial(n, anchors)
    conflicts = _conflicts(n, image_ids, cannot_link)
    if method == "chinese_whispers":
        labels = _whispers(graph, labels, fixed, conflicts, seed)
    elif method == "components":
        labels = _components(graph, labels, fixed, conflicts)
    else:
        raise InputError(f"unknown clustering method {method!r}")
    return _dense(labels)


def attach(
    new_embeddings: npt.ArrayLike,
    new_image_ids: npt.ArrayLike,
    embeddings: npt.ArrayLike,
    labels: npt.ArrayLike,
    image_ids: npt.ArrayLike,
    *,
    threshold: float,
    k: int = DEFAULT_K,
    not_person: Iterable[tuple[int, int]] = (),
) -> I64:
    """Labels for new faces given the placed ones (``embeddings``, ``labels``, ``image_ids``):
    each new face, in order, takes the label with the largest summed similarity among its
    ``k`` nearest faces (placed ones and the new faces before it) scoring at least
    ``threshold``, skipping a label that holds a face of its image or that ``not_person``
    (pairs of new row, label) rules out; with none left it starts a new label, numbered
    from ``max(labels) + 1`` up. Placed faces never move."""
    new = _embeddings(new_embeddings)
    old = np.asarray(embeddings, dtype=np.float32).reshape(-1, new.shape[1])
    old_labels = np.asarray(labels, dtype=np.int64).ravel()
    old_images = np.asarray(image_ids).ravel()
    new_images = np.asarray(new_image_ids).ravel()
    if len(old_labels) != len(old) or len(old_images) != len(old) or len(new_images) != len(new):
        raise InputError("one label and one image id per face")
    both = np.concatenate([old, new])
    every = np.concatenate([old_labels, np.full(len(new), -1, np.int64)])
    sims, idx = exact_search(both)(new, min(k + 1 + len(new), len(both)))
    image_labels: dict[object, set[int]] = {img: set() for img in new_images.tolist()}
    for img, lab in zip(old_images.tolist(), old_labels.tolist(), strict=True):
        if img in image_labels:
            image_labels[img].add(lab)
    barred: dict[int, set[int]] = {}
    for row, lab in not_person:
        barred.setdefault(int(row), set()).add(int(lab))
    next_label = int(old_labels.max()) + 1 if len(old_labels) else 0
    for i in range(len(new)):
        votes: dict[int, float] = {}
        placed = (idx[i] >= 0) & (idx[i] != len(old) + i) & (sims[i] >= threshold)
        placed &= every[np.maximum(idx[i], 0)] >= 0
        for j, s in zip(idx[i][placed][:k], sims[i][placed][:k], strict=True):
            votes[int(every[j])] = votes.get(int(every[j]), 0.0) + float(s)
        taken = image_labels[new_images[i].item()] | barred.get(i, set())
        allowed = [(-v, lab) for lab, v in votes.items() if lab not in taken]
        if allowed:
            label = min(allowed)[1]
        else:
            label, next_label = next_label, next_label + 1
        every[len(old) + i] = label
        image_labels[new_images[i].item()].add(label)
    return every[len(old) :].copy()


def dbscan_immich(
    embeddings: npt.ArrayLike, *, max_distance: float = 0.5, min_faces: int = 3
) -> I64:
    """Immich's face clustering (``person.service.ts``, ``handleRecognizeFaces``) with its
    defaults, faces in row order (Immich's job order). A face's matches: its ``min_faces``
    nearest faces within cosine distance ``max_distance``, itself included. A face matching
    only itself stays alone. A core face (``min_faces`` matches) joins the person of its first match
    that has one, else of the nearest face within reach that has one, else starts a person;
    the other faces are deferred to a second pass that does the same but starts no person.
    Faces left without a person become singletons. Immich has no same-image rule."""
    x = _embeddings(embeddings)
    n = len(x)
    reach = 1.0 - max_distance
    wide = min(n, max(64, min_faces))
    sims, idx = exact_search(x)(x, wide)
    person = np.full(n, -1, np.int64)
    count = 0

    def nearest_with_person(i: int) -> int:
        near = idx[i][(sims[i] >= reach) & (idx[i] >= 0)]
        if len(near) == wide and (person[near] < 0).all():  # maybe more within reach
            everyone = x @ x[i]
            near = np.argsort(-everyone)[: int((everyone >= reach).sum())]
        held = near[person[near] >= 0]
        return int(person[held[0]]) if len(held) else -1

    deferred: list[int] = []
    for rnd in (0, 1):
        for i in range(n) if rnd == 0 else deferred:
            matches = idx[i][(sims[i] >= reach) & (idx[i] >= 0)][:min_faces]
            if min_faces > 1 and len(matches) <= 1:
                continue
            core = len(matches) >= min_faces
            if rnd == 0 and not core:
                deferred.append(i)
                continue
            held = person[matches][person[matches] >= 0]
            pid = int(held[0]) if len(held) else nearest_with_person(i)
            if pid < 0 and core:
                pid, count = count, count + 1
            person[i] = pid
    return _dense(np.where(person < 0, n + np.arange(n), person))  # the rest: singletons


def certainty(embeddings: npt.ArrayLike, labels: npt.ArrayLike) -> F32:
    """For each face, its similarity to the mean of the other faces of its person (1.0 for a
    face alone in its person): low values are the faces a reviewer should look at first."""
    x = _embeddings(embeddings)
    lab = _dense(np.asarray(labels, dtype=np.int64).ravel())
    sums = np.zeros((int(lab.max()) + 1 if len(lab) else 0, x.shape[1]), np.float64)
    np.add.at(sums, lab, x)
    others = sums[lab] - x
    sim = np.einsum("ij,ij->i", x, others) / np.maximum(np.linalg.norm(others, axis=1), 1e-9)
    return np.where(np.bincount(lab)[lab] > 1, sim, 1.0).astype(np.float32)
