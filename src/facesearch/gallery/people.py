"""People of a collection: build them (cluster every face), attach new faces after an ingest.

A **build** reads the collection's faces of one model from the catalog in one snapshot,
clusters them (``core.clustering.cluster``) under the hard rules and writes every face's
person in one transaction:

- anchors: a pinned face (a reviewer's decision, or a label a build anchored) keeps its
  person; faces labelled with one subject (``--label-from-dir``) are one person (the person
  holding that subject's pinned faces, when there is one), and stay apart from other anchors.
  Only the largest labelled face of an image anchors: two faces of one photo are never one
  person, even when a folder's name labelled both;
- cannot-link: a face a reviewer said is "not this person" never joins the faces that person
  holds;
- stable ids: a cluster holding anchored faces of a person keeps that person's id; any other
  cluster takes the id of the old person holding most of its faces (largest clusters first),
  or a new id;
- pinned rows are never moved (the catalog's write skips them, even if pinned meanwhile).

An **attach** (after an ingest into a collection that has been built) places only the faces
without a person (``core.clustering.attach``): a labelled face joins its subject's person,
any other the person its nearest placed faces vote for, or a new one. Nothing placed moves.

Review operations (name, merge, split, not this person) are the catalog's
(``Catalog.name_person`` ...), one transaction each.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from facesearch.core import clustering
from facesearch.gallery.catalog import Catalog, PeopleAssignment, PeopleSnapshot
from facesearch.types import fields_dict

__all__ = ["AttachSummary", "BuildSummary", "attach", "build", "index_search"]


@dataclass(frozen=True)
class BuildSummary:
    """What a build did."""

    collection: str
    method: str
    threshold: float
    faces: int  # faces placed (every face of the model in the collection)
    persons: int
    singletons: int  # persons of one face
    kept: int  # persons that kept their id from before
    pinned: int  # faces anchored: pinned by a reviewer or by a label
    seconds: float

    def as_dict(self) -> dict[str, object]:
        return fields_dict(self)


@dataclass(frozen=True)
class AttachSummary:
    """What an attach did: faces placed, of them joining an existing person, new persons
    (``error``: why none were placed; the next attach or build places them)."""

    collection: str
    faces: int
    joined: int
    new_persons: int
    error: str | None = None

    def as_dict(self) -> dict[str, object]:
        return fields_dict(self)


def index_search(search: clustering.Search, face_ids: npt.NDArray[np.int64]) -> clustering.Search:
    """A ``clustering.Search`` over a vector index answering face ids (``search(queries, k)
    -> (sims, face ids)``, e.g. ``IndexSet.search`` bound to one collection): the ids become
    rows of ``face_ids`` (ascending), -1 for a face not among them."""

    def rows_of(
        queries: npt.NDArray[np.float32], k: int
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
        sims, ids = search(queries, k)
        rows = np.searchsorted(face_ids, ids)
        found = (ids >= 0) & (rows < len(face_ids))
        found[found] = face_ids[rows[found]] == ids[found]
        return sims, np.where(found, rows, -1).astype(np.int64)

    return rows_of


def build(
    catalog: Catalog,
    collection: str,
    model_id: str,
    threshold: float,
    *,
    method: clustering.Method = clustering.DEFAULT_METHOD,
    k: int = clustering.DEFAULT_K,
    search_ids: clustering.Search | None = None,
) -> BuildSummary:
    """Cluster every face of ``model_id`` in ``collection`` into persons and write them
    (see the module docstring). ``search_ids(queries, k) -> (sims, face ids)``: the k-NN
    search of the collection's vector index (exact search over the faces when None)."""
    started = time.perf_counter()
    snap = catalog.people_snapshot(collection, model_id)
    anchors = _anchors(snap)
    labels = clustering.cluster(
        snap.embeddings,
        snap.image_ids,
        threshold=threshold,
        k=k,
        method=method,
        anchors=anchors,
        cannot_link=_cannot_link(snap),
        search=None if search_ids is None else index_search(search_ids, snap.face_ids),
    )
    persons = _stable_ids(snap, labels, anchors)
    pinned = snap.pinned.copy()
    pinned[list(anchors)] = True
    assignment = PeopleAssignment(
        face_ids=snap.face_ids,
        groups=labels,
        persons=persons,
        pinned=pinned,
        certainty=clustering.certainty(snap.embeddings, labels),
        previous=snap.persons,
    )
    catalog.write_people(collection, assignment, build=(method, threshold))
    sizes = np.bincount(labels) if len(labels) else np.zeros(0, np.int64)
    return BuildSummary(
        collection=collection,
        method=method,
        threshold=float(threshold),
        faces=len(labels),
        persons=len(sizes),
        singletons=int((sizes == 1).sum()),
        kept=sum(p is not None for p in persons),
        pinned=int(pinned.sum()),
        seconds=round(time.perf_counter() - started, 3),
    )


def attach(
    catalog: Catalog,
    collection: str,
    model_id: str,
    threshold: float,
    *,
    k: int = clustering.DEFAULT_K,
) -> AttachSummary | None:
    """Place the faces of ``collection`` that have no person yet; None (and nothing done)
    when the collection's people have never been built."""
    snap = catalog.people_snapshot(collection, model_id)
    if not snap.built:
        return None
    new = np.flatnonzero(snap.persons < 0)
    if not len(new):
        return AttachSummary(collection, 0, 0, 0)
    labels = snap.persons.copy()
    by_subject = _subject_persons(snap)
    pinned = np.zeros(len(labels), bool)
    held = set(zip(labels.tolist(), snap.image_ids.tolist(), strict=True))
    for row in _main_labelled(snap, new):
        person = by_subject.get(int(snap.subjects[row]))
        if person is not None and (person, int(snap.image_ids[row])) not in held:
            labels[row], pinned[row] = person, True
            held.add((person, int(snap.image_ids[row])))
    placed, rest = np.flatnonzero(labels >= 0), np.flatnonzero(labels < 0)
    if len(rest):
        row_of = {int(r): i for i, r in enumerate(rest)}
        barred = [(row_of[r], p) for r, p in _not_person_rows(snap) if r in row_of]
        labels[rest] = clustering.attach(
            snap.embeddings[rest],
            snap.image_ids[rest],
            snap.embeddings[placed],
            labels[placed],
            snap.image_ids[placed],
            threshold=threshold,
            k=k,
            not_person=barred,
        )
    old = set(snap.persons[snap.persons >= 0].tolist())
    groups, ids = np.unique(labels[new], return_inverse=True)
    persons = tuple(int(g) if int(g) in old else None for g in groups)
    assignment = PeopleAssignment(
        face_ids=snap.face_ids[new],
        groups=ids.ravel().astype(np.int64),
        persons=persons,
        pinned=pinned[new],
        certainty=clustering.certainty(snap.embeddings, labels)[new],
        previous=snap.persons[new],
    )
    catalog.write_people(collection, assignment)
    joined = int(sum(persons[g] is not None for g in assignment.groups))
    return AttachSummary(collection, len(new), joined, sum(p is None for p in persons))


# -- the rules, from a snapshot ---------------------------------------------------------------


def _main_labelled(snap: PeopleSnapshot, rows: npt.NDArray[np.int64]) -> list[int]:
    """Of ``rows``, the labelled faces that are the largest face of their subject in their
    image (the one a label anchors)."""
    best: dict[tuple[int, int], int] = {}
    for row in (int(r) for r in rows if snap.subjects[r] >= 0):
        key = (int(snap.image_ids[row]), int(snap.subjects[row]))
        if key not in best or snap.areas[row] > snap.areas[best[key]]:
            best[key] = row
    return sorted(best.values())


def _subject_persons(snap: PeopleSnapshot) -> dict[int, int]:
    """subject id -> the person holding most of that subject's pinned faces."""
    counts: dict[int, Counter[int]] = {}
    for row in np.flatnonzero(snap.pinned & (snap.subjects >= 0) & (snap.persons >= 0)):
        counts.setdefault(int(snap.subjects[row]), Counter())[int(snap.persons[row])] += 1
    return {s: min(c, key=lambda p: (-c[p], p)) for s, c in counts.items()}


def _anchors(snap: PeopleSnapshot) -> dict[int, int]:
    """row -> key: a pinned face's person id; a labelled face's subject's person, or a key of
    its own per subject (negative: never a person id). One anchored face per key and image."""
    by_subject = _subject_persons(snap)
    wanted: list[tuple[int, int]] = [
        (int(r), int(snap.persons[r])) for r in np.flatnonzero(snap.pinned & (snap.persons >= 0))
    ]
    for row in _main_labelled(snap, np.flatnonzero(~snap.pinned)):
        subject = int(snap.subjects[row])
        wanted.append((row, by_subject.get(subject, -1 - subject)))
    anchors: dict[int, int] = {}
    seen: set[tuple[int, int]] = set()
    for row, key in wanted:  # pinned faces first: they win a clash
        if (key, int(snap.image_ids[row])) not in seen:
            seen.add((key, int(snap.image_ids[row])))
            anchors[row] = key
    return anchors


def _not_person_rows(snap: PeopleSnapshot) -> list[tuple[int, int]]:
    """(row, person id) of the "not this person" pairs whose face is in the snapshot."""
    rows = np.searchsorted(snap.face_ids, [f for f, _ in snap.not_person]).astype(np.int64)
    out = []
    for row, (face, person) in zip(rows.tolist(), snap.not_person, strict=True):
        if row < len(snap.face_ids) and snap.face_ids[row] == face:
            out.append((row, person))
    return out


def _cannot_link(snap: PeopleSnapshot) -> list[tuple[int, int]]:
    """Each "not this person" face against every face that person holds now."""
    rows = _not_person_rows(snap)
    members = {p: np.flatnonzero(snap.persons == p) for p in {p for _, p in rows}}
    return [(row, int(m)) for row, p in rows for m in members[p] if m != row]


def _stable_ids(
    snap: PeopleSnapshot, labels: npt.NDArray[np.int64], anchors: dict[int, int]
) -> tuple[int | None, ...]:
    """Per cluster: the existing person id it keeps, or None for a new person."""
    count = int(labels.max()) + 1 if len(labels) else 0
    ids: list[int | None] = [None] * count
    for row, key in anchors.items():
        if key >= 0:
            ids[int(labels[row])] = key
    taken = {i for i in ids if i is not None}
    had = snap.persons >= 0
    pairs, counts = np.unique(
        np.stack([labels[had], snap.persons[had]], axis=1).reshape(-1, 2),
        axis=0,
        return_counts=True,
    )
    held: dict[int, list[tuple[int, int]]] = {}  # cluster -> (-faces, old person)
    for (cluster, person), n in zip(pairs.tolist(), counts.tolist(), strict=True):
        held.setdefault(cluster, []).append((-n, person))
    sizes = np.bincount(labels, minlength=count)
    for cluster in sorted(held, key=lambda c: (-sizes[c], c)):
        choice = next((p for _, p in sorted(held[cluster]) if p not in taken), None)
        if ids[cluster] is None and choice is not None:
            ids[cluster] = choice
            taken.add(choice)
    return tuple(ids)
