"""The gallery end to end: real models, a real SQLite catalog, real FAISS index files."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facesearch.engine import Engine
from facesearch.errors import NotFoundError, PoorProbeError
from facesearch.gallery.catalog import Catalog
from facesearch.settings import Settings

pytestmark = pytest.mark.lfw

PEOPLE = ["Aaron_Peirsol", "Serena_Williams", "Colin_Powell", "Tony_Blair", "Hugo_Chavez"]


def make_gallery(lfw: Path, dest: Path, per_person: int = 5, skip_first: bool = True) -> Path:
    """Copy LFW photos into dest/Person/...; image 0001 of each person is held out as probe."""
    for person in PEOPLE:
        files = sorted((lfw / "lfw-deepfunneled" / person).glob("*.jpg"))
        chosen = files[1 : 1 + per_person] if skip_first else files[:per_person]
        (dest / person).mkdir(parents=True, exist_ok=True)
        for f in chosen:
            shutil.copy(f, dest / person / f.name)
    return dest


@pytest.fixture()
def engine(settings: Settings, pipeline, tmp_path: Path):  # type: ignore[no-untyped-def]
    e = Engine(settings.replace(home=tmp_path / "home"), pipeline=pipeline)
    yield e
    e.catalog.close()


def probe(lfw: Path, person: str) -> Path:
    return lfw / "lfw-deepfunneled" / person / f"{person}_0001.jpg"


def test_ingest_search_and_resume(engine: Engine, lfw: Path, tmp_path: Path) -> None:
    gallery = make_gallery(lfw, tmp_path / "photos")
    (gallery / "notes.jpg").write_text("not an image")
    Image.new("RGB", (200, 150), (90, 140, 200)).save(gallery / "sky.png")
    photos = len(list(gallery.glob("*/*.jpg")))
    summary = engine.ingest([gallery], label_from_dir=True)
    d = summary.as_dict()
    assert d["images_seen"] == photos + 2
    assert d["images_added"] == photos and d["faces_added"] >= photos
    reasons = {Path(f["path"]).name: f["reason"] for f in d["failed"]}
    assert reasons["sky.png"] == "no face found"
    assert "not an image" in reasons["notes.jpg"]
    again = engine.ingest([gallery], label_from_dir=True)
    assert again.images_added == 0 and again.duplicates == photos and again.faces_added == 0

    for person in PEOPLE:
        result = engine.search(probe(lfw, person), top=5)
        main = max(result.faces, key=lambda f: f.bbox.w * f.bbox.h)
        assert main.hits[0].subject == person, f"{person} not at rank 1"
        assert main.hits[0].fmr < 1e-3
        assert result.gallery_faces == d["faces_added"]
    stats = engine.stats()
    assert stats["images"] == photos and stats["subjects"] == 5


def test_archives_and_list_files(engine: Engine, lfw: Path, tmp_path: Path) -> None:
    src = make_gallery(lfw, tmp_path / "photos", per_person=2)
    zpath = tmp_path / "g.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        for f in sorted(src.glob("*/*.jpg"))[:4]:
            z.write(f, f"{f.parent.name}/{f.name}")
    tpath = tmp_path / "g.tar.gz"
    with tarfile.open(tpath, "w:gz") as t:
        for f in sorted(src.glob("*/*.jpg"))[4:8]:
            t.add(f, f"{f.parent.name}/{f.name}")
    listing = tmp_path / "list.txt"
    listing.write_text(
        "# two more\n" + "\n".join(str(f) for f in sorted(src.glob("*/*.jpg"))[8:10])
    )
    s = engine.ingest([zpath, tpath, listing], collection="arch", label_from_dir=True)
    assert s.images_added == 10 and not s.failed
    assert {c.name for c in engine.catalog.collections()} == {"arch"}
    r = engine.search(probe(lfw, "Colin_Powell"), collections=["arch"], top=3)
    assert r.faces[0].hits[0].subject == "Colin_Powell"
    assert "!" in r.faces[0].hits[0].image_path  # archive member ids are kept
    with pytest.raises(NotFoundError):
        engine.search(probe(lfw, "Colin_Powell"), collections=["nope"])


def _index_bytes(home: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted((home / "index").rglob("*")) if p.is_file())


def test_forget_face_removes_it_everywhere(engine: Engine, lfw: Path, tmp_path: Path) -> None:
    engine.ingest([make_gallery(lfw, tmp_path / "photos")], label_from_dir=True)
    home = engine.settings.home
    victim = engine.catalog.faces_of_subject("Serena_Williams", with_embeddings=True)[0]
    raw = np.asarray(victim.embedding, np.float32).tobytes()
    assert raw in _index_bytes(home), "precondition: exact index stores the raw vector"
    result = engine.forget(face_ids=[victim.id])
    assert [f.id for f in result.faces] == [victim.id] and result.index_vectors_removed == 1
    assert raw not in _index_bytes(home)
    catalog_files = b"".join(p.read_bytes() for p in home.glob("catalog.sqlite*"))
    assert raw[:16] not in catalog_files
    hits = engine.search(probe(lfw, "Serena_Williams"), top=50).faces[0].hits
    assert victim.id not in {h.face_id for h in hits}
    # a fresh engine on the same home agrees (index files, not only memory)
    fresh = Engine(engine.settings, pipeline=engine.pipeline)
    assert fresh.indexes.size() == engine.catalog.state(engine.pipeline.model_id).face_count
    assert victim.id not in set(fresh.indexes.search(victim.embedding[None, :], 50, None)[1][0])  # type: ignore[index]
    fresh.catalog.close()


def test_forget_subject_and_like_blocklist(engine: Engine, lfw: Path, tmp_path: Path) -> None:
    engine.ingest([make_gallery(lfw, tmp_path / "photos")], label_from_dir=True)
    before = engine.stats()["images"]
    gone = engine.forget(subject="Tony_Blair")
    assert len(gone.faces) == 5
    with pytest.raises(NotFoundError):
        engine.catalog.faces_of_subject("Tony_Blair")
    assert engine.stats()["images"] == before - 5  # the images left without a face went too
    removed = engine.forget(like=probe(lfw, "Hugo_Chavez"))
    assert removed.blocklisted and len(removed.faces) >= 4
    assert {f.subject for f in removed.faces} == {"Hugo_Chavez"}
    # new photos of the blocklisted person are skipped at ingest; others still go in
    new = tmp_path / "new"
    new.mkdir()
    files = sorted((lfw / "lfw-deepfunneled" / "Hugo_Chavez").glob("*.jpg"))[10:14]
    for f in files:
        shutil.copy(f, new / f.name)
    shutil.copy(probe(lfw, "Tony_Blair"), new / "blair.jpg")
    s = engine.ingest([new])
    assert s.faces_blocked >= 3
    assert s.images_added == 1 + (4 - s.faces_blocked)


def test_poor_probe_refused(engine: Engine, lfw: Path, tmp_path: Path) -> None:
    engine.ingest([make_gallery(lfw, tmp_path / "photos", per_person=2)], label_from_dir=True)
    tiny = Image.open(probe(lfw, "Colin_Powell")).resize((60, 60))
    buf = io.BytesIO()
    tiny.save(buf, format="JPEG")
    with pytest.raises(PoorProbeError, match="px"):
        engine.search(buf.getvalue(), name="tiny.jpg")
    ok = engine.search(buf.getvalue(), name="tiny.jpg", allow_poor=True)
    assert ok.faces[0].warnings


def test_stale_index_is_rebuilt_or_caught_up(
    settings: Settings, pipeline, lfw: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    s = settings.replace(home=tmp_path / "home")
    e = Engine(s, pipeline=pipeline)
    e.ingest([make_gallery(lfw, tmp_path / "p1", per_person=2)], label_from_dir=True)
    e.catalog.close()
    manifest = (s.home / "index" / "manifest.json").read_text()
    e2 = Engine(s, pipeline=pipeline)
    e2.ingest([make_gallery(lfw, tmp_path / "p2", per_person=4)], label_from_dir=True)
    total = e2.catalog.state(pipeline.model_id).face_count
    e2.catalog.close()
    # put the old manifest back: the index on disk now claims an older catalog state
    (s.home / "index" / "manifest.json").write_text(manifest)
    e3 = Engine(s, pipeline=pipeline)
    assert e3.indexes.size() == total
    e3.catalog.close()
    # index files deleted: rebuilt from the catalog
    shutil.rmtree(s.home / "index")
    e4 = Engine(s, pipeline=pipeline)
    assert e4.indexes.size() == total and (s.home / "index" / "manifest.json").is_file()
    e4.catalog.close()


def test_export_subject(engine: Engine, lfw: Path, tmp_path: Path) -> None:
    engine.ingest([make_gallery(lfw, tmp_path / "photos", per_person=2)], label_from_dir=True)
    data = engine.export_subject("Colin_Powell")
    text = json.dumps(data)
    assert "Colin_Powell" in text and len(text) > 500
    with pytest.raises(NotFoundError):
        engine.export_subject("Nobody_Here")


def test_catalog_is_shared_source_of_truth(engine: Engine, lfw: Path, tmp_path: Path) -> None:
    engine.ingest([make_gallery(lfw, tmp_path / "photos", per_person=2)], label_from_dir=True)
    with Catalog.open_home(engine.settings.home) as other:
        assert other.state(engine.pipeline.model_id).face_count == engine.indexes.size()


def test_html_report_is_self_contained(engine: Engine, lfw: Path, tmp_path: Path) -> None:
    from facesearch.accountability import AccountabilityStore, local_actor
    from facesearch.app import SearchRequest, search
    from facesearch.reports.html import write_report

    engine.ingest([make_gallery(lfw, tmp_path / "photos", per_person=2)], label_from_dir=True)
    with AccountabilityStore.open(engine.settings.home) as store:
        request = SearchRequest(probe(lfw, "Colin_Powell"), top=3)
        result = search(engine, store, local_actor("tester"), request)
    out = tmp_path / "r.html"
    write_report(result, out, engine)
    page = out.read_text()
    assert "lead for a person to check, not an identification" in page
    assert page.count("data:image/jpeg;base64,") == 1 + len(result.faces[0].hits)
    assert "http://" not in page and "https://" not in page


def test_forget_in_a_fresh_process_counts_the_vectors_it_removed(
    engine: Engine, lfw: Path, tmp_path: Path
) -> None:
    """Third attack pass: `forget` in a new CLI process said '0 from the index files' (the
    index was loaded, and the erased faces dropped, only after the count was taken)."""
    engine.ingest([make_gallery(lfw, tmp_path / "photos", per_person=2)], label_from_dir=True)
    fresh = Engine(engine.settings, pipeline=engine.pipeline)
    try:
        result = fresh.forget(subject="Colin_Powell")
        assert len(result.faces) >= 2
        assert result.index_vectors_removed == len(result.faces)
        assert (
            fresh.stats()["indexed_faces"]
            == fresh.catalog.state(fresh.pipeline.model_id).face_count
        )
    finally:
        fresh.catalog.close()
