"""Catalog: erasure (and that erased bytes leave the files), staleness state, blocklist, export."""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from facesearch.errors import BlocklistChangedError, CatalogError, InputError, NotFoundError
from facesearch.gallery.catalog import BlocklistSeen, Catalog, CatalogState, NewFace, NewImage
from facesearch.types import BBox

LANDMARKS = ((1.0, 2.0), (3.0, 2.0), (2.0, 3.0), (1.0, 4.0), (3.0, 4.0))


def sha(key: object) -> str:
    return hashlib.sha256(repr(key).encode()).hexdigest()


def new_image(key: object, n_faces: int = 1, subject: str | None = None) -> NewImage:
    rng = np.random.default_rng(int(sha(key)[:8], 16))
    faces = tuple(
        NewFace(i, BBox(i, 0, 10, 10), LANDMARKS, 0.9, {"size": 10.0}, "sface",
                rng.standard_normal(128).astype(np.float32))
        for i in range(n_faces)
    )  # fmt: skip
    return NewImage(sha(key), f"/p/{key}.jpg", 10, 20, 20, {"k": str(key)}, subject, faces)


@pytest.fixture
def cat(open_catalog: Callable[[], Catalog]) -> Iterator[Catalog]:
    with open_catalog() as catalog:
        yield catalog


def on_disk(path: Path) -> bytes:
    wal = path.with_name(path.name + "-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def traces_of(secret: bytes, data: bytes) -> int:
    """How many 16-byte pieces of ``secret`` occur in ``data``."""
    return sum(secret[i : i + 16] in data for i in range(0, len(secret) - 15, 16))


@pytest.mark.parametrize("how", ["faces", "image", "subject"])
def test_erased_embeddings_leave_the_database_files(tmp_path: Path, how: str) -> None:
    path = tmp_path / "catalog.sqlite"
    victim = new_image("victim", 2, subject="Vic")
    secrets = [f.embedding.tobytes() for f in victim.faces]
    with Catalog.open(path) as cat:
        added = cat.add_images("main", [new_image(i, 2) for i in range(30)] + [victim])
        cat.add_images("main", [new_image(i, 2) for i in range(30, 60)])
        cat.checkpoint()
        assert all(traces_of(s, on_disk(path)) == len(s) // 16 for s in secrets)
        if how == "faces":
            erased = cat.delete_faces(added[-1].face_ids)
        elif how == "image":
            erased = cat.delete_image(added[-1].image_id)
        else:
            erased = cat.delete_subject("Vic")
        assert [f.id for f in erased] == list(added[-1].face_ids)
        # No explicit checkpoint here: the delete_* call must have done it.
        assert [traces_of(s, on_disk(path)) for s in secrets] == [0, 0]
        report = cat.last_erasure
        assert report is not None and report.database == "sqlite" and report.complete
        kept = new_image(0, 2).faces[0].embedding.tobytes()
        assert traces_of(kept, on_disk(path)) == len(kept) // 16  # the others are still there


def test_a_reader_delays_the_wipe_until_the_next_checkpoint(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "catalog.sqlite"
    victim = new_image("victim")
    secret = victim.faces[0].embedding.tobytes()
    with Catalog.open(path, busy_timeout_s=0.05) as cat:
        (added,) = cat.add_images("main", [victim])
        reader = sqlite3.connect(path)
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM faces").fetchone()  # holds an old snapshot
        with caplog.at_level(logging.WARNING, logger="facesearch.gallery.catalog._connection"):
            cat.delete_faces(added.face_ids)
        assert "until the next checkpoint" in caplog.text
        report = cat.last_erasure
        assert report is not None and not report.complete and "-wal" in report.left
        assert reader.execute("SELECT count(*) FROM faces").fetchone()[0] == 1  # its snapshot
        reader.execute("COMMIT")
        reader.close()
        assert cat.checkpoint()
        assert traces_of(secret, on_disk(path)) == 0


def test_delete_faces(cat: Catalog) -> None:
    a, b = cat.add_images("main", [new_image("a", 3), new_image("b", 1)])
    erased = cat.delete_faces([a.face_ids[2], 999, a.face_ids[0], a.face_ids[2]])
    assert [f.id for f in erased] == [a.face_ids[2], a.face_ids[0]]
    assert erased[0].embedding is None
    assert [f.id for f in cat.faces_of_image(a.image_id)] == [a.face_ids[1]]
    with_vectors = cat.delete_faces([a.face_ids[1]], with_embeddings=True)
    assert with_vectors[0].embedding is not None
    assert cat.faces_of_image(a.image_id) == []  # the image stays without prune_images
    cat.delete_faces(b.face_ids, prune_images=True)
    with pytest.raises(NotFoundError):
        cat.image(b.image_id)
    assert cat.delete_faces([]) == []


def test_delete_image(cat: Catalog) -> None:
    a, b = cat.add_images("main", [new_image("a", 2), new_image("b", 1)])
    erased = cat.delete_image(a.image_id)
    assert [f.id for f in erased] == list(a.face_ids)
    with pytest.raises(NotFoundError):
        cat.image(a.image_id)
    assert cat.faces(a.face_ids) == []
    assert not cat.has_image(sha("a"), "main")
    assert len(cat.faces(b.face_ids)) == 1
    with pytest.raises(NotFoundError):
        cat.delete_image(a.image_id)
    assert not cat.add_images("main", [new_image("a", 2)])[0].duplicate  # may come back


def test_delete_subject(cat: Catalog) -> None:
    a, b, c = cat.add_images(
        "main", [new_image("a", 1, "Vic"), new_image("b", 2, "Vic"), new_image("c", 1, "Other")]
    )
    cat.set_label([b.face_ids[1]], None)
    erased = cat.delete_subject("Vic", prune_images=True)
    assert [f.id for f in erased] == [a.face_ids[0], b.face_ids[0]]
    with pytest.raises(NotFoundError):
        cat.faces_of_subject("Vic")
    with pytest.raises(NotFoundError):
        cat.image(a.image_id)  # left without a face: pruned
    assert [f.id for f in cat.faces_of_image(b.image_id)] == [b.face_ids[1]]
    assert [f.id for f in cat.faces_of_subject("Other")] == list(c.face_ids)
    assert cat.stats()["subjects"] == 1
    with pytest.raises(NotFoundError):
        cat.delete_subject("Vic")


def test_a_subject_goes_with_its_last_face_however_it_is_erased(cat: Catalog) -> None:
    """Erasing every face of a subject by face id or by image (``forget --face``, ``--image``,
    ``--like``, or an organisation's scoped ``--subject``) left the subject's name behind:
    ``stats`` counted it and ``export --subject`` found it, with no faces."""
    a, b, c, d = cat.add_images(
        "main",
        [
            new_image("a", 1, "Vic"),
            new_image("b", 2, "Vic"),
            new_image("c", 1, "Ann"),
            new_image("d", 1, "Bo"),
        ],
    )
    cat.delete_faces([a.face_ids[0], b.face_ids[0]])
    assert [f.id for f in cat.faces_of_subject("Vic")] == [b.face_ids[1]]  # one face left
    cat.delete_faces([b.face_ids[1]])
    cat.delete_image(c.image_id)
    cat.set_label(d.face_ids, None)
    for name in ("Vic", "Ann", "Bo"):
        with pytest.raises(NotFoundError):
            cat.faces_of_subject(name)
    assert cat.stats()["subjects"] == 0


def test_state_changes_whenever_the_faces_change(cat: Catalog) -> None:
    empty = cat.state("sface")
    assert (empty.dim, empty.face_count, empty.max_face_id) == (None, 0, 0)
    added = cat.add_images("main", [new_image(i, 2) for i in range(3)])
    full = cat.state("sface")
    ids = [f for a in added for f in a.face_ids]
    assert (full.dim, full.face_count, full.max_face_id) == (128, 6, max(ids))
    assert full != empty and full.catalog_id == empty.catalog_id
    cat.set_label(ids[:2], "Ann")
    cat.add_images("main", [new_image("nofaces", 0)])
    assert cat.state("sface") == full  # labels and face-less images do not touch the index
    assert cat.state("other model").face_count == 0

    cat.delete_faces([ids[-1]])
    after_delete = cat.state("sface")
    assert after_delete.erasure_generation > full.erasure_generation
    assert after_delete.face_count == 5
    (again,) = cat.add_images("main", [new_image("new", 1)])
    assert again.face_ids[0] > ids[-1]  # an erased id is never handed out again
    refilled = cat.state("sface")
    assert refilled.face_count == full.face_count and refilled != full

    stored = json.loads(json.dumps(refilled.as_dict()))
    assert CatalogState.from_dict(stored) == refilled


def test_each_catalog_file_has_its_own_id(tmp_path: Path) -> None:
    with Catalog.open(tmp_path / "a.sqlite") as a, Catalog.open(tmp_path / "b.sqlite") as b:
        first = a.state("m").catalog_id
        assert first != b.state("m").catalog_id
    with Catalog.open(tmp_path / "a.sqlite") as a_again:
        assert a_again.state("m").catalog_id == first  # stable across opens


def test_counters_match_the_rows(cat: Catalog) -> None:
    added = cat.add_images("main", [new_image(i, i % 3, "S" if i % 2 else None) for i in range(20)])
    cat.add_images("other", [new_image(i, 2) for i in range(5)])
    cat.delete_faces([added[4].face_ids[0], added[5].face_ids[1]], prune_images=True)
    cat.delete_image(added[7].image_id)
    cat.delete_subject("S")
    conn = cat._conn
    assert conn is not None
    real = dict(
        conn.execute(
            """SELECT c.name, (SELECT count(*) FROM images i WHERE i.collection_id = c.id)
            || '/' || (SELECT count(*) FROM faces f JOIN images i ON i.id = f.image_id
                       WHERE i.collection_id = c.id) FROM collections c"""
        ).fetchall()
    )
    assert {c.name: f"{c.images}/{c.faces}" for c in cat.collections()} == real
    (face_count,) = conn.execute("SELECT count(*) FROM faces").fetchone()
    assert cat.state("sface").face_count == face_count == cat.stats()["faces"]


def test_blocklist(cat: Catalog) -> None:
    rng = np.random.default_rng(3)
    vectors = rng.standard_normal((2, 128)).astype(np.float32)
    first = cat.blocklist_add("sface", vectors[0], note="erased on request #12")
    second = cat.blocklist_add("sface", vectors[1])
    assert second > first
    assert np.array_equal(cat.blocklist("sface"), vectors)
    assert cat.blocklist("unknown").shape == (0, 0)
    with pytest.raises(CatalogError, match="dimensional"):
        cat.blocklist_add("sface", np.ones(64, np.float32))
    assert cat.stats()["blocklist"] == 2
    assert cat.state("sface").face_count == 0  # the blocklist holds no faces


def test_an_organisation_s_blocklist_entries_apply_to_its_ingests_only(cat: Catalog) -> None:
    """An entry carries the organisation whose erasure made it: an ingest of that
    organisation (names ignore case) reads it with the deployment-wide ones, another
    organisation's and one of the deployment as a whole (None) never do."""
    rng = np.random.default_rng(4)
    host, north, south = rng.standard_normal((3, 128)).astype(np.float32)
    cat.blocklist_add("sface", host, note="the host's")
    cat.blocklist_add("sface", north, note="north's", org="North")
    cat.blocklist_add("sface", south, note="south's", org="south")
    assert np.array_equal(cat.blocklist("sface"), [host])
    assert np.array_equal(cat.blocklist("sface", "north"), [host, north])
    assert np.array_equal(cat.blocklist("sface", "SOUTH"), [host, south])
    assert np.array_equal(cat.blocklist("sface", "west"), [host])
    assert cat.blocklist_sizes("sface") == {None: 1, "North": 1, "south": 1}
    assert cat.blocklist_sizes("unknown") == {}
    with pytest.raises(InputError, match="organisation name"):
        cat.blocklist_add("sface", host, org="")


def test_export_subject_holds_everything_about_them(cat: Catalog) -> None:
    item = new_image("a", 2, "Ann")
    cat.add_images("main", [item, new_image("b", 1, "Bob")])
    export = json.loads(json.dumps(cat.export_subject("Ann")))  # JSON-serialisable
    assert export["subject"] == "Ann"
    (image,) = export["images"]
    assert (image["source"], image["sha256"], image["metadata"]) == (
        item.source,
        item.sha256,
        {"k": "a"},
    )
    assert len(export["faces"]) == 2
    face = export["faces"][1]
    assert face["bbox"] == {"x": 1.0, "y": 0.0, "w": 10.0, "h": 10.0}
    assert face["landmarks"] == [list(p) for p in LANDMARKS]
    assert face["quality"] == {"size": 10.0} and face["model_id"] == "sface"
    assert np.array_equal(np.array(face["embedding"], np.float32), item.faces[1].embedding)
    with pytest.raises(NotFoundError):
        cat.export_subject("Nobody")


def test_a_batch_is_written_only_against_the_blocklist_it_was_screened_with(cat: Catalog) -> None:
    """``add_images(screened=...)`` checks, in its write transaction, that the entries that
    apply to the ingest are as many as the batch was screened against: an entry an erasure
    added since refuses the batch with nothing written (another organisation's does not)."""
    item = new_image("screened", 2)
    cat.blocklist_add("sface", item.faces[0].embedding, org="North")
    with pytest.raises(BlocklistChangedError):
        cat.add_images("main", [item], screened=BlocklistSeen("sface", "north", 0))
    assert cat.stats()["faces"] == 0
    (added,) = cat.add_images("main", [item], screened=BlocklistSeen("sface", "south", 0))
    assert len(added.face_ids) == 2
    again = new_image("screened-again", 1)
    _, seen = cat.blocklist_screen("sface", "north")
    (added,) = cat.add_images("main", [again], screened=seen)
    assert len(added.face_ids) == 1


def test_an_entry_taken_back_and_another_added_still_refuses_the_batch(cat: Catalog) -> None:
    """The check compared the number of entries only: a failed erasure's entry taken back
    while another erasure added its own kept the count, and a batch screened before the
    swap went in with a face like the new entry's person (escaping both that erasure's scan,
    which ran before, and its entry). It compares the newest entry's id too."""
    first, victim = new_image("swap-first", 1), new_image("swap-victim", 1)
    x = cat.blocklist_add("sface", first.faces[0].embedding, org="north")
    _, seen = cat.blocklist_screen("sface", "north")
    assert (seen.entries, seen.last_id) == (1, x)
    cat.blocklist_add("sface", victim.faces[0].embedding, org="north")
    cat.blocklist_remove(x)
    with pytest.raises(BlocklistChangedError):
        cat.add_images("main", [victim], screened=seen)
    assert cat.stats()["faces"] == 0
