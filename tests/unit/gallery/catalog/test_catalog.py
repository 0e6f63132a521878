"""Catalog: opening, adding images and faces, lookups, labels, the index's view, ingest runs."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from facesearch.errors import CatalogError, InputError, NotFoundError
from facesearch.gallery.catalog import (
    CATALOG_FILE,
    EVERY_FACE_BLOCKED,
    Catalog,
    NewFace,
    NewImage,
    RunCounts,
    RunOwner,
)
from facesearch.types import BBox

LANDMARKS = ((10.25, 20.5), (30.125, 20.0), (20.0, 30.0), (12.0, 40.0), (28.0, 40.0))
QUALITY = {"size": 40.0, "sharpness": 123.4, "yaw": -3.5, "pitch": 2.0, "roll": 1.0, "score": 0.98}


def sha(key: object) -> str:
    return hashlib.sha256(repr(key).encode()).hexdigest()


def embedding(seed: int, dim: int = 128) -> np.ndarray:
    vector = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return vector / np.linalg.norm(vector)


def new_face(index: int, seed: int, model: str = "sface", dim: int = 128) -> NewFace:
    return NewFace(
        face_index=index,
        bbox=BBox(5.5 + index, 6.0, 40.0, 48.25),
        landmarks=LANDMARKS,
        det_score=0.875,
        quality=QUALITY,
        model_id=model,
        embedding=embedding(seed, dim),
    )


def new_image(key: object, n_faces: int = 1, subject: str | None = None, **kw: object) -> NewImage:
    faces = tuple(new_face(i, seed=int(sha((key, i))[:8], 16)) for i in range(n_faces))
    return NewImage(
        sha256=sha(key),
        source=f"/photos/{key}.jpg",
        size_bytes=1234,
        width=640,
        height=480,
        metadata={"camera": "X100", "key": str(key)},
        subject=subject,
        faces=faces,
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture
def cat(open_catalog: Callable[[], Catalog]) -> Iterator[Catalog]:
    with open_catalog() as catalog:
        yield catalog


def test_open_creates_folders_sets_pragmas_and_persists(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "catalog.sqlite"
    with Catalog.open(path) as cat:
        conn = cat._conn
        assert conn is not None
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert conn.execute("PRAGMA secure_delete").fetchone()[0] == 1
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] > 0
        cat.add_images("main", [new_image("x", 2)])
    assert path.is_file()
    with Catalog.open_home(path.parent) as again:
        assert [c.name for c in again.collections()] == ["main"]
        assert len(again.faces_of_image(1)) == 2


def test_closed_catalog_refuses_calls(tmp_path: Path) -> None:
    cat = Catalog.open(tmp_path / "c.sqlite")
    cat.close()
    cat.close()  # twice is fine
    with pytest.raises(CatalogError, match="closed"):
        cat.collections()


def test_images_and_faces_round_trip(cat: Catalog) -> None:
    item = new_image("one", n_faces=2, subject="Ann")
    (added,) = cat.add_images("main", [item])
    assert not added.duplicate and len(added.face_ids) == 2

    image = cat.image(added.image_id)
    assert (image.sha256, image.collection, image.source) == (item.sha256, "main", item.source)
    assert (image.size_bytes, image.width, image.height) == (1234, 640, 480)
    assert image.metadata == {"camera": "X100", "key": "one"}
    assert image.added.endswith("+00:00")

    face = cat.face(added.face_ids[1], with_embeddings=True)
    assert face.image_id == added.image_id and face.face_index == 1
    assert (face.collection, face.source, face.subject) == ("main", item.source, "Ann")
    assert face.bbox == BBox(6.5, 6.0, 40.0, 48.25)
    assert face.landmarks == LANDMARKS
    assert face.det_score == 0.875 and face.quality == QUALITY and face.model_id == "sface"
    assert face.embedding is not None and face.embedding.dtype == np.float32
    assert face.embedding.tobytes() == item.faces[1].embedding.tobytes()
    assert cat.face(added.face_ids[1]).embedding is None  # only on request


def test_duplicates_are_skipped_within_a_collection(cat: Catalog) -> None:
    first = cat.add_images("main", [new_image("a"), new_image("b")])
    again = cat.add_images("main", [new_image("c"), new_image("a"), new_image("c")])
    assert [a.duplicate for a in again] == [False, True, True]
    assert again[1].image_id == first[0].image_id and again[1].face_ids == ()
    assert again[2].image_id == again[0].image_id
    other = cat.add_images("other", [new_image("a")])
    assert not other[0].duplicate  # the same file may sit in two collections
    counts = {c.name: (c.images, c.faces) for c in cat.collections()}
    assert counts == {"main": (3, 3), "other": (1, 1)}


def test_a_failing_batch_leaves_nothing_behind(cat: Catalog) -> None:
    cat.add_images("main", [new_image("kept")])
    before = cat.stats()
    wrong_dim = NewImage(sha("bad"), "bad.jpg", 1, 2, 2, faces=(new_face(0, 1, dim=64),))
    batch = [new_image("n1", 2, subject="New Person"), new_image("n2"), wrong_dim]
    with pytest.raises(CatalogError, match="dimensional"):  # raised mid-transaction
        cat.add_images("fresh", batch)
    assert cat.stats() == before
    assert [c.name for c in cat.collections()] == ["main"]
    with pytest.raises(NotFoundError):
        cat.faces_of_subject("New Person")
    assert not cat.has_image(sha("n1"), "fresh")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"sha256": "not-a-hash"}, "sha256"),
        ({"size_bytes": -1}, "size_bytes"),
        ({"metadata": {"x": object()}}, "JSON"),
        ({"metadata": {"x": float("nan")}}, "JSON"),
        ({"subject": "  "}, "subject"),
        ({"label_faces": (3,)}, "label_faces"),
        ({"faces": (new_face(0, 1), new_face(0, 2))}, "repeat"),
    ],
)
def test_bad_items_are_refused_before_writing(
    cat: Catalog, change: dict[str, object], message: str
) -> None:
    good = new_image("good")
    bad = NewImage(**{**new_image("bad").__dict__, **change})  # type: ignore[arg-type]
    with pytest.raises(InputError, match=message):
        cat.add_images("main", [good, bad])
    assert cat.stats()["images"] == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("embedding", np.zeros((2, 64), np.float32)),
        ("embedding", np.array([1.0, np.nan], np.float32)),
        ("embedding", np.arange(4)),  # integers are not an embedding
        ("landmarks", ((1.0, 2.0),) * 4),
        ("quality", {"size": float("inf")}),
        ("det_score", float("nan")),
        ("model_id", ""),
    ],
)
def test_bad_faces_are_refused(cat: Catalog, field: str, value: object) -> None:
    face = NewFace(**{**new_face(0, 1).__dict__, field: value})  # type: ignore[arg-type]
    with pytest.raises(InputError):
        cat.add_images("main", [NewImage(sha("f"), "f.jpg", 1, 1, 1, faces=(face,))])


def test_empty_collection_name_is_refused(cat: Catalog) -> None:
    with pytest.raises(InputError):
        cat.ensure_collection("")


def test_label_applies_to_the_chosen_faces_only(cat: Catalog) -> None:
    (added,) = cat.add_images("main", [new_image("group", 3, subject="Bob", label_faces=(1,))])
    assert [f.subject for f in cat.faces_of_image(added.image_id)] == [None, "Bob", None]
    cat.add_images("main", [new_image("empty", 0, subject="Nobody")])
    with pytest.raises(NotFoundError):  # no face carried the label: no subject made
        cat.faces_of_subject("Nobody")


NASTY_NAMES = [
    "O'Brien",
    'say "cheese"',
    "Robert'); DROP TABLE faces;--",
    "100%_match\\",
    "Zoë 李 😀",
]


@pytest.mark.parametrize(
    "name",
    [
        "a\nb",
        "a\rb",
        "x\x1b[31m",
        "z" * 256,
        "Bob\u202eevil",
        "a\u2028b",
        "\u200b",
        "\u3164",
        "c\U000e0002",
        "Bo\u200bb",
        "\u2065",
    ],
)
def test_names_that_would_break_a_page_or_a_terminal_are_refused(cat: Catalog, name: str) -> None:
    """A name is shown in tables and the CLI (third attack pass: "a\nb" was accepted; a
    later one: a right-to-left override, a line separator, a name of nothing visible, and
    one that shows as another with an invisible character in it)."""
    with pytest.raises(InputError):
        cat.ensure_collection(name)


@pytest.mark.parametrize("name", NASTY_NAMES)
def test_names_with_sql_metacharacters_round_trip(cat: Catalog, name: str) -> None:
    item = NewImage(
        sha(name), f"/p/{name}.jpg", 1, 2, 3, {name: name}, subject=name,
        faces=(NewFace(0, BBox(0, 0, 1, 1), LANDMARKS, 0.9, {name: 1.0}, name, embedding(1)),),
    )  # fmt: skip
    made_before_the_rule(cat, name)  # a new collection's name is refused now
    (added,) = cat.add_images(name, [item])
    (face,) = cat.faces_of_subject(name)
    assert (face.collection, face.subject, face.model_id, face.source) == (
        name,
        name,
        name,
        item.source,
    )
    assert face.quality == {name: 1.0}
    assert cat.image(added.image_id).metadata == {name: name}
    assert [c.name for c in cat.collections()] == [name]
    assert cat.has_image(item.sha256, name)
    assert cat.state(name).face_count == 1
    assert len(cat.delete_subject(name)) == 1
    assert cat.stats()["faces"] == 0  # and the tables are all still there
    cat.add_images("after", [new_image("after")])


def made_before_the_rule(cat: Catalog, name: str) -> None:
    """A collection named as names were allowed before ``check_new_collection_name``."""
    with cat._writing() as conn:
        conn.execute(
            "INSERT INTO collections (name, created) VALUES (?, ?)", (name, "2025-01-01T00:00:00")
        )


@pytest.mark.parametrize("name", ["a/b", "../../etc", "<b>x</b>", "my photos", "_x", "z" * 65])
def test_a_new_collection_name_outside_the_rule_is_refused_an_old_one_keeps_working(
    cat: Catalog, name: str
) -> None:
    """ingest-jobs made collections "a/b", "../../etc" and "<b>x</b>", which
    /api/v1/collections/a%2Fb could not reach (404)."""
    with pytest.raises(InputError, match=r"ASCII letters, digits and \. _ - @"):
        cat.ensure_collection(name)
    with pytest.raises(InputError, match="a new collection's name is 1-64 characters"):
        cat.add_images(name, [new_image("f")])
    assert cat.collections() == []
    made_before_the_rule(cat, name)
    (added,) = cat.add_images(name, [new_image("f")])
    assert cat.ensure_collection(name) > 0 and [c.name for c in cat.collections()] == [name]
    assert cat.image(added.image_id).collection == name
    for fine in ("Police-2026", "acme.org", "a_b", "x@y", "9"):
        cat.ensure_collection(fine)


def test_has_image_and_known_hashes(cat: Catalog) -> None:
    cat.add_images("main", [new_image(i, 0) for i in range(600)])
    assert cat.has_image(sha(5), "main")
    assert cat.has_image(sha(5).upper(), "main")
    assert not cat.has_image(sha(5), "other")
    assert not cat.has_image(sha("never"), "main")
    asked = [sha(i) for i in range(300, 1500)]  # more than one chunk of parameters
    assert cat.known_hashes("main", asked) == {sha(i) for i in range(300, 600)}
    assert cat.known_hashes("no such collection", asked) == set()
    with pytest.raises(InputError):
        cat.known_hashes("main", ["zz"])


def test_faces_come_back_in_the_order_asked(cat: Catalog) -> None:
    added = cat.add_images("main", [new_image(i, 2) for i in range(3)])
    ids = [fid for a in added for fid in a.face_ids]
    asked = [ids[4], ids[0], 10_000, ids[4], ids[2]]
    assert [f.id for f in cat.faces(asked)] == [ids[4], ids[0], ids[4], ids[2]]
    many = cat.faces(list(reversed(ids)) * 200)  # more ids than one statement binds
    assert [f.id for f in many] == list(reversed(ids)) * 200


def test_single_lookups_raise_not_found(cat: Catalog) -> None:
    with pytest.raises(NotFoundError):
        cat.face(1)
    with pytest.raises(NotFoundError):
        cat.image(1)
    with pytest.raises(NotFoundError):
        cat.faces_of_image(1)
    with pytest.raises(NotFoundError):
        cat.faces_of_subject("nobody")


def test_faces_of_subject_and_set_label(cat: Catalog) -> None:
    a, b = cat.add_images("main", [new_image("a", 2, subject="Ann"), new_image("b", 2)])
    assert [f.id for f in cat.faces_of_subject("Ann")] == list(a.face_ids)
    cat.set_label([b.face_ids[0]], "Ann")
    cat.set_label([a.face_ids[1]], "Cy")
    assert [f.id for f in cat.faces_of_subject("Ann")] == [a.face_ids[0], b.face_ids[0]]
    assert [f.subject for f in cat.faces_of_image(a.image_id)] == ["Ann", "Cy"]
    cat.set_label([a.face_ids[0]], None)
    assert cat.face(a.face_ids[0]).subject is None
    with pytest.raises(NotFoundError):
        cat.set_label([b.face_ids[1], 999], "Dee")
    assert cat.face(b.face_ids[1]).subject is None  # nothing changed


def test_face_vectors_streams_in_id_order(cat: Catalog) -> None:
    added = cat.add_images("main", [new_image(i, 2) for i in range(8)])
    added += cat.add_images("other", [new_image(i, 1) for i in range(8, 12)])
    cat.add_images("main", [NewImage(sha("x"), "x", 1, 1, 1, faces=(new_face(0, 9, "arc", 512),))])
    chunks = list(cat.face_vectors(None, "sface", chunk=7))
    assert [len(ids) for ids, _ in chunks] == [7, 7, 6]
    ids = np.concatenate([c[0] for c in chunks])
    vectors = np.concatenate([c[1] for c in chunks])
    assert ids.dtype == np.int64 and vectors.dtype == np.float32 and vectors.shape == (20, 128)
    assert ids.tolist() == [fid for a in added for fid in a.face_ids]
    stored = cat.faces(ids.tolist(), with_embeddings=True)
    assert np.array_equal(vectors, np.stack([f.embedding for f in stored]))  # type: ignore[misc]
    chunks[0][1][0, 0] = 5.0  # writable: an index may normalise in place

    main_ids = np.concatenate([i for i, _ in cat.face_vectors(["main"], "sface")])
    assert main_ids.tolist() == [fid for a in added[:8] for fid in a.face_ids]
    ((_, arc),) = cat.face_vectors(None, "arc")
    assert arc.shape == (1, 512)
    assert list(cat.face_vectors(None, "unknown model")) == []
    assert list(cat.face_vectors([], "sface")) == []
    with pytest.raises(NotFoundError):
        cat.face_vectors(["main", "typo"], "sface")


def test_ingest_runs_and_failures(cat: Catalog) -> None:
    run = cat.start_run({"paths": ["/photos"], "collection": "main"})
    cat.record_failure(run, "/photos/a.jpg", "corrupt image")
    cat.record_failure(run, "/photos/missing.jpg", "not found")
    other = cat.start_run({})
    (listed, running) = cat.runs()
    assert listed.status == "running" and listed.finished is None and listed.failures == 2
    cat.finish_run(run, {"added": 10, "failed": 2}, "completed")
    first = cat.runs()[0]
    assert (first.status, first.summary, first.failures) == (
        "completed",
        {"added": 10, "failed": 2},
        2,
    )
    assert first.arguments == {"paths": ["/photos"], "collection": "main"}
    assert first.finished is not None and first.finished >= first.started
    assert [f.source for f in cat.failures(run)] == ["/photos/a.jpg", "/photos/missing.jpg"]
    assert cat.failures(other) == [] and running.id == other
    with pytest.raises(InputError):
        cat.finish_run(other, {}, "done")  # type: ignore[arg-type]
    for call in (
        lambda: cat.record_failure(999, "x", "y"),
        lambda: cat.finish_run(999, {}),
        lambda: cat.failures(999),
    ):
        with pytest.raises(NotFoundError):
            call()
    assert cat.stats()["ingest_runs"] == 2 and cat.stats()["ingest_failures"] == 2


def test_a_run_counts_what_each_batch_added_in_that_batchs_transaction(cat: Catalog) -> None:
    """A run killed outright wrote no summary: its record said nothing of what it added."""
    run = cat.start_run({"collection": "main"})
    cat.add_images("main", [new_image(1, 2), new_image(2)], run_id=run)
    cat.add_images("main", [new_image(1, 2), new_image(3)], run_id=run)  # 1 is there already
    cat.add_images("main", [new_image(4)])  # no run named: counted nowhere
    (listed,) = cat.runs()
    assert (listed.images_added, listed.faces_added, listed.status) == (3, 4, "running")
    with pytest.raises(NotFoundError):
        cat.add_images("main", [new_image(5)], run_id=999)
    assert not cat.has_image(sha(5), "main")  # refused whole


def test_a_held_run_is_renewed_until_released_and_an_abandoned_one_says_so(cat: Catalog) -> None:
    owner = RunOwner(host="host-a", space="boot pid:[1]", pid=4242, since="123")
    run, done = cat.start_run({}), cat.start_run({})
    assert cat.runs(held=True) == [] and cat.runs()[0].owner is None
    cat.hold_run(run, owner)
    cat.hold_run(done, owner)
    held = cat.runs(held=True)
    assert [r.id for r in held] == [run, done] and held[0].owner == owner
    first = held[0].renewed
    assert first is not None and cat.renew_run(run)
    renewed = cat.runs()[0].renewed
    assert renewed is not None and renewed >= first
    cat.finish_run(done, {}, "completed")
    assert cat.release_run(run, abandoned=True) and cat.release_run(done, abandoned=True)
    after, finished = cat.runs()
    assert (after.status, after.renewed, after.owner) == ("abandoned", None, owner)
    assert after.finished is not None
    assert finished.status == "completed"  # a finished run keeps its status
    assert cat.runs(held=True) == []
    assert not cat.renew_run(run) and not cat.release_run(run)  # nobody holds it any more
    for call in (lambda: cat.hold_run(999, owner), lambda: cat.release_run(999)):
        with pytest.raises(NotFoundError):
            call()


def test_another_connection_reaches_the_same_catalog(cat: Catalog) -> None:
    run = cat.start_run({})
    cat.hold_run(run, RunOwner("h", "", 1, ""))
    with cat.another() as other:
        assert other is not cat and other.renew_run(run)
        assert other.runs(held=True)[0].id == run


def test_runs_and_subjects_are_counted_for_some_collections(cat: Catalog) -> None:
    """What an organisation's gallery page counts: the runs into its collections, their
    failed files apart from those the erasure blocklist skipped (and a copy of one), and the
    subjects labelling a face in its collections."""
    mine, theirs = cat.start_run({"collection": "mine"}), cat.start_run({"collection": "theirs"})
    cat.record_failure(mine, "a.jpg", EVERY_FACE_BLOCKED)
    cat.record_failure(
        mine, "b.jpg", f"the same bytes as a.jpg, which failed: {EVERY_FACE_BLOCKED}"
    )
    cat.record_failure(mine, "c.jpg", "cannot decode the image")
    cat.record_failure(theirs, "d.jpg", "cannot decode the image")
    cat.add_images("mine", [new_image("a", 2, subject="Ann"), new_image("b", 1, subject="Bo")])
    cat.add_images("theirs", [new_image("c", 1, subject="Ann"), new_image("d", 1, subject="Cy")])
    assert cat.run_counts(["mine"]) == RunCounts(1, 1, 2)
    assert cat.run_counts(["theirs", "nobody's"]) == RunCounts(1, 1, 0)
    assert cat.run_counts() == RunCounts(2, 2, 2) and cat.run_counts([]) == RunCounts(0, 0, 0)
    stats = cat.stats()
    assert (stats["ingest_runs"], stats["ingest_failures"], stats["ingest_blocklisted"]) == (
        2,
        2,
        2,
    )
    assert cat.subject_count(["mine"]) == 2 and cat.subject_count(["theirs"]) == 2
    assert cat.subject_count(["mine", "theirs"]) == 3 == cat.subject_count()
    assert cat.subject_count([]) == 0 and cat.subject_count(["nobody's"]) == 0


def test_stats(cat: Catalog, tmp_path: Path, database_url: str) -> None:
    where = database_url or f"sqlite {tmp_path / CATALOG_FILE}"  # the test cluster has no password
    assert cat.database == where
    cat.add_images("main", [new_image("a", 2, subject="Ann"), new_image("b", 0)])
    cat.add_images("x", [NewImage(sha("y"), "y", 1, 1, 1, faces=(new_face(0, 9, "arc", 512),))])
    assert cat.stats() == {
        "images": 3,
        "faces": 3,
        "subjects": 1,
        "collections": 2,
        "ingest_runs": 0,
        "ingest_failures": 0,
        "ingest_blocklisted": 0,
        "blocklist": 0,
        "models": [
            {"name": "arc", "dim": 512, "faces": 1},
            {"name": "sface", "dim": 128, "faces": 2},
        ],
    }


def test_raw_sqlite_sees_the_documented_layout(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    with Catalog.open(path) as cat:
        cat.add_images("main", [new_image("a", 1)])
    conn = sqlite3.connect(path)
    try:
        blob, dim = conn.execute("SELECT embedding, dim FROM faces").fetchone()
        assert dim == 128 and len(blob) == 4 * 128
        assert np.frombuffer(blob, "<f4").tobytes() == new_image("a").faces[0].embedding.tobytes()
    finally:
        conn.close()


def test_sources_under_matches_the_folder_name_glob(cat: Catalog) -> None:
    job, other = "0123456789abcdef", "fedcba9876543210"
    sources = [f"/old/home/uploads/{job}/a.jpg", f"/h/uploads/{job}/sub/b.jpg",
               f"/h/uploads/{other}/c.jpg", f"/h/{job}x/d.jpg", f"/h/uploads/{job}.jpg",
               "/h/uploads/0123456789ABCDEF/e.jpg", "/h/a.b/f.jpg", "/h/aXb/g.jpg"]  # fmt: skip
    cat.add_images("main", [NewImage(sha(s), s, 1, 1, 1) for s in sources])
    assert cat.sources_under(job) == {s: sha(s) for s in sources[:2]}
    assert sorted(cat.sources_under("[0-9a-f]" * 16)) == sorted(sources[:3])
    assert sorted(cat.sources_under("[^s0-9]?b")) == [sources[6], sources[7]]
    assert list(cat.sources_under("a.b")) == [sources[6]]  # a dot is a dot
    assert sorted(cat.sources_under("a?b")) == [sources[6], sources[7]]
    with pytest.raises(InputError):
        cat.sources_under("a/b")
