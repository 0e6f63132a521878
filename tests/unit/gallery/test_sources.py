"""sources: files, folders, archives and list files -> Source items, failures included."""

from __future__ import annotations

import io
import os
import stat
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from facesearch.errors import (
    CorruptImageError,
    ImageError,
    ImageTooLargeError,
    InputError,
    NotFoundError,
)
from facesearch.gallery.sources import Source, is_image_name, iter_sources, read_source

LIMIT = 1000


def write(path: Path, data: bytes | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if data is not None else path.name.encode())
    return path


def collect(*paths: str | Path, limit: int = LIMIT) -> list[Source]:
    return list(iter_sources(list(paths), limit))


@pytest.fixture
def gallery(tmp_path: Path) -> Path:
    root = tmp_path / "gallery"
    write(root / "Person_Name" / "Person_Name_0002.JPG")
    write(root / "Person_Name" / "Person_Name_0001.jpg")
    write(root / "Other" / "x.png")
    write(root / "Other" / "notes.txt")  # not an image: skipped inside a folder
    write(root / "Other" / ".hidden.jpg")
    write(root / ".cache" / "y.jpg")
    write(root / "b.jpeg")
    write(root / "z" / "deeper" / "w.webp")
    return root


def test_a_folder_yields_its_images_sorted_with_their_folder_as_label(gallery: Path) -> None:
    found = collect(gallery)
    real = gallery.resolve()
    assert [(s.id, s.label) for s in found] == [
        (str(real / "Other" / "x.png"), "Other"),
        (str(real / "Person_Name" / "Person_Name_0001.jpg"), "Person_Name"),
        (str(real / "Person_Name" / "Person_Name_0002.JPG"), "Person_Name"),
        (str(real / "b.jpeg"), "gallery"),
        (str(real / "z" / "deeper" / "w.webp"), "deeper"),
    ]
    assert found[1].read() == b"Person_Name_0001.jpg"
    assert found[1].size == len(b"Person_Name_0001.jpg") and found[1].problem is None
    assert [s.id for s in collect(gallery)] == [s.id for s in found]  # deterministic


def test_a_relative_folder_and_its_label(gallery: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(gallery / "Person_Name")
    (first, _) = collect(".")
    assert first.label == "Person_Name" and Path(first.id).is_absolute()


def test_a_named_file_passes_whatever_its_extension(tmp_path: Path) -> None:
    path = write(tmp_path / "Ann" / "photo.dat", b"\x89PNG...")
    (source,) = collect(path)
    assert (source.id, source.label, source.read()) == (str(path.resolve()), "Ann", b"\x89PNG...")


def test_a_missing_path_is_an_item_that_fails_to_read(tmp_path: Path) -> None:
    good = write(tmp_path / "a.jpg")
    missing, source = collect(tmp_path / "nope.jpg", good)
    assert missing.id == str(tmp_path.resolve() / "nope.jpg") and missing.problem == "not found"
    with pytest.raises(ImageError, match="not found") as caught:
        missing.read()
    assert caught.value.path == missing.id
    assert source.read() == b"a.jpg"


def test_files_over_the_limit_are_refused(tmp_path: Path) -> None:
    at_limit = write(tmp_path / "ok.jpg", b"x" * LIMIT)
    over = write(tmp_path / "big.jpg", b"x" * (LIMIT + 1))
    ok, big = collect(at_limit, over)
    assert len(ok.read()) == LIMIT
    assert big.size == LIMIT + 1
    with pytest.raises(ImageTooLargeError):
        big.read()


def test_a_file_gone_before_it_is_read(tmp_path: Path) -> None:
    (source,) = collect(write(tmp_path / "a.jpg"))
    (tmp_path / "a.jpg").unlink()
    with pytest.raises(ImageError, match="cannot read"):
        source.read()


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")
def test_symbolic_links_are_followed_without_looping(tmp_path: Path) -> None:
    root = tmp_path / "root"
    write(root / "a" / "1.jpg")
    os.symlink(root, root / "a" / "loop")  # a folder that contains itself
    outside = write(tmp_path / "elsewhere" / "2.jpg")
    os.symlink(outside, root / "a" / "alias.jpg")
    os.symlink(tmp_path / "gone.jpg", root / "a" / "dangling.jpg")
    found = collect(root)
    assert [(s.id, s.label) for s in found] == [
        (str((root / "a" / "1.jpg").resolve()), "a"),
        (str(outside.resolve()), "a"),  # id: the resolved path; label: where it was found
    ]


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symbolic links")
def test_a_loop_of_symbolic_links_is_one_failure_not_the_end_of_the_ingest(tmp_path: Path) -> None:
    """Two links to each other (zza -> zzb -> zza) in a folder stopped the whole ingest with a
    traceback (pathlib's RuntimeError "Symlink loop"), after 896 of its photos were added."""
    root = tmp_path / "root"
    write(root / "a_dir" / "1.jpg")
    (root / "z_dir").mkdir()
    os.symlink("zzb", root / "z_dir" / "zza")
    os.symlink("zza", root / "z_dir" / "zzb")
    found = collect(root)
    assert found[0].id == str((root / "a_dir" / "1.jpg").resolve())
    failed = found[1:]
    assert [Path(s.id).name for s in failed] == ["zza", "zzb"]
    for source in failed:
        with pytest.raises(ImageError, match="symbolic link loop"):
            source.read()
    (named,) = collect(root / "z_dir" / "zza")  # named on the command line
    with pytest.raises(ImageError, match="cannot access"):
        named.read()


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        list(iter_sources([tmp_path], 0))
    with pytest.raises(InputError):
        list(iter_sources(str(tmp_path), LIMIT))  # type: ignore[arg-type]


def test_image_names() -> None:
    assert all(is_image_name(n) for n in ["a.jpg", "B.JPEG", "c.Png", "d.tiff", "e.gif"])
    assert not any(is_image_name(n) for n in ["a.txt", "jpg", "a.jpg.zip", "a.heic"])


# -- archives -----------------------------------------------------------------------------------


def make_zip(path: Path, members: dict[str, bytes], link: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        zf.writestr(zipfile.ZipInfo("dir/"), b"")
        if link:
            info = zipfile.ZipInfo(link)
            info.create_system = 3
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, "/etc/passwd")
    return path


ARCHIVE_MEMBERS = {
    "Person_Name/Person_Name_0001.jpg": b"one",
    "Person_Name/notes.txt": b"skipped",
    "top.png": b"top",
    "../../evil.jpg": b"evil",
    "/abs/olute.jpg": b"abs",
    "__MACOSX/Person_Name/._Person_Name_0001.jpg": b"fork",
    "a/.hidden.jpg": b"hidden",
}
EXPECTED = [
    ("Person_Name/Person_Name_0001.jpg", "Person_Name", b"one"),
    ("top.png", None, b"top"),
    ("../../evil.jpg", None, b"evil"),
    ("/abs/olute.jpg", "abs", b"abs"),
]


def test_zip_members_are_names_never_paths(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "in" / "g.zip", ARCHIVE_MEMBERS, link="link.jpg")
    before = sorted(p.name for p in tmp_path.rglob("*"))
    found = collect(archive)
    prefix = f"{archive.resolve()}!"
    assert [(s.id, s.label, s.read()) for s in found] == [
        (prefix + name, label, data) for name, label, data in EXPECTED
    ]
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing extracted


def test_a_huge_zip_member_is_refused_without_reading_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = make_zip(tmp_path / "bomb.zip", {"small.jpg": b"s", "huge.jpg": bytes(50 * LIMIT)})
    opened: list[str] = []
    real_open = zipfile.ZipFile.open

    def spy(self: zipfile.ZipFile, name: str | zipfile.ZipInfo, *a: object, **k: object) -> object:
        opened.append(name.filename if isinstance(name, zipfile.ZipInfo) else name)
        return real_open(self, name, *a, **k)  # type: ignore[arg-type]

    monkeypatch.setattr(zipfile.ZipFile, "open", spy)
    _, huge = collect(archive)
    assert opened == ["small.jpg"]
    assert huge.size == 50 * LIMIT and huge.label is None and "limit" in (huge.problem or "")
    with pytest.raises(ImageTooLargeError):
        huge.read()


def test_a_zip_member_that_lies_about_its_size_fails(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "liar.zip", {"liar.jpg": bytes(100 * LIMIT)})
    data = bytearray(archive.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):  # local, central
        at = data.index(signature) + offset
        data[at : at + 4] = (10).to_bytes(4, "little")  # "10 bytes, honest"
    archive.write_bytes(bytes(data))
    (source,) = collect(archive)
    with pytest.raises(CorruptImageError):
        source.read()


@pytest.mark.parametrize("suffix", [".tar", ".tar.gz", ".tgz"])
def test_tar_members(tmp_path: Path, suffix: str, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = tmp_path / f"g{suffix}"
    members = {**ARCHIVE_MEMBERS, "huge.jpg": bytes(2 * LIMIT)}
    with tarfile.open(archive, "w:gz" if suffix != ".tar" else "w") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
        for name, kind in (("dir", tarfile.DIRTYPE), ("dev.jpg", tarfile.CHRTYPE),
                           ("fifo.jpg", tarfile.FIFOTYPE)):  # fmt: skip
            info = tarfile.TarInfo(name)
            info.type = kind
            tf.addfile(info)
        for name, kind in (("sym.jpg", tarfile.SYMTYPE), ("hard.jpg", tarfile.LNKTYPE)):
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind, "top.png"
            tf.addfile(info)
    extracted: list[str] = []
    real_extract = tarfile.TarFile.extractfile

    def spy(self: tarfile.TarFile, member: tarfile.TarInfo) -> object:
        extracted.append(member.name)
        return real_extract(self, member)

    monkeypatch.setattr(tarfile.TarFile, "extractfile", spy)
    found = collect(archive)
    prefix = f"{archive.resolve()}!"
    assert [(s.id, s.label, s.read()) for s in found[:-1]] == [
        (prefix + name, label, data) for name, label, data in EXPECTED
    ]
    assert found[-1].id == prefix + "huge.jpg" and found[-1].size == 2 * LIMIT
    with pytest.raises(ImageTooLargeError):
        found[-1].read()
    assert "huge.jpg" not in extracted


def test_broken_archives_are_failures_not_exceptions(tmp_path: Path) -> None:
    garbage = write(tmp_path / "garbage.zip", b"not a zip at all" * 10)
    good = tmp_path / "good.tar.gz"
    with tarfile.open(good, "w:gz") as tf:
        for i in range(30):
            info = tarfile.TarInfo(f"p/{i:02d}.jpg")
            payload = os.urandom(500)  # does not compress: the cut lands among the members
            info.size = len(payload)
            tf.addfile(info, io.BytesIO(payload))
    cut = write(tmp_path / "cut.tar.gz", good.read_bytes()[: good.stat().st_size // 2])
    broken, *members = collect(garbage, cut)
    assert broken.id == str(garbage.resolve())
    with pytest.raises(CorruptImageError):
        broken.read()
    assert 0 < len(members) - 1 < 30 and all(m.problem is None for m in members[:-1])
    assert members[-1].id == str(cut.resolve()) and members[-1].problem
    with pytest.raises(CorruptImageError):
        members[-1].read()


# -- list files -------------------------------------------------------------------------------


def test_a_list_file(tmp_path: Path, gallery: Path) -> None:
    one = write(tmp_path / "lists" / "rel" / "one.jpg")
    absolute = write(tmp_path / "abs.png")
    listing = tmp_path / "lists" / "photos.txt"
    listing.write_text(
        "\ufeff# photos to ingest\n"
        "rel/one.jpg\n"
        "\n"
        f"   {absolute}   \n"
        "  # indented comment\n"
        "missing.jpg\n"
        f"{gallery / 'Other'}\n"
        "photos.txt\n",  # a list that lists itself
        encoding="utf-8",
    )
    found = collect(listing)
    assert [s.id for s in found] == [
        str(one.resolve()),
        str(absolute.resolve()),
        str((tmp_path / "lists" / "missing.jpg").resolve()),
        str((gallery / "Other" / "x.png").resolve()),
        str(listing.resolve()),
    ]
    assert found[0].label == "rel" and found[0].read() == b"one.jpg"
    assert found[2].problem == "not found"
    assert found[4].problem and "already read" in found[4].problem
    lst = write(tmp_path / "more.lst", b"lists/rel/one.jpg\n")
    assert [s.id for s in collect(lst)] == [str(one.resolve())]


# -- reading a catalog source back -----------------------------------------------------------


def test_read_source_reads_what_ingest_listed(tmp_path: Path) -> None:
    """Every source iter_sources yields (file, zip member, tar member) reads back the same."""
    write(tmp_path / "plain" / "a.jpg", b"plain")
    with zipfile.ZipFile(tmp_path / "z.zip", "w") as zf:
        zf.writestr("x/b.jpg", b"zipped")
    with tarfile.open(tmp_path / "t.tar.gz", "w:gz") as tf:
        info = tarfile.TarInfo("c!1.jpg")  # a '!' in a member's name is kept
        info.size = 5
        tf.addfile(info, io.BytesIO(b"tarry"))
    listed = collect(tmp_path / "plain", tmp_path / "z.zip", tmp_path / "t.tar.gz")
    assert [read_source(s.id, LIMIT) for s in listed] == [b"plain", b"zipped", b"tarry"]


def test_read_source_finds_an_archive_in_a_folder_named_with_a_bang(tmp_path: Path) -> None:
    folder = tmp_path / "wow!photos"
    folder.mkdir()
    with zipfile.ZipFile(folder / "z.zip", "w") as zf:
        zf.writestr("b.jpg", b"zipped")
    assert read_source(f"{folder}/z.zip!b.jpg", LIMIT) == b"zipped"


def test_read_source_refuses_what_is_gone_or_too_large(tmp_path: Path) -> None:
    with zipfile.ZipFile(tmp_path / "z.zip", "w") as zf:
        zf.writestr("big.jpg", b"x" * (LIMIT + 1))
    write(tmp_path / "big.jpg", b"x" * (LIMIT + 1))
    for source in (f"{tmp_path}/z.zip!big.jpg", str(tmp_path / "big.jpg")):
        with pytest.raises(NotFoundError, match="over the size limit"):
            read_source(source, LIMIT)
    for source in (f"{tmp_path}/z.zip!nope.jpg", f"{tmp_path}/gone.zip!b.jpg", "/nowhere.jpg"):
        with pytest.raises(NotFoundError, match="no longer available"):
            read_source(source, LIMIT)


def test_read_source_finds_an_uploaded_archive_of_a_moved_home(tmp_path: Path) -> None:
    home = tmp_path / "new-home"
    job = "0123456789abcdef"
    archive = home / "uploads" / job / "incoming" / "batch.zip"
    archive.parent.mkdir(parents=True)
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("a.jpg", b"uploaded")
    old = f"/old-home/uploads/{job}/incoming/batch.zip!a.jpg"
    assert read_source(old, LIMIT, home) == b"uploaded"
    with pytest.raises(NotFoundError):
        read_source(old, LIMIT)  # without the home: not looked for


def _into(skipped: list[tuple[str, str]]) -> Callable[[str, str], None]:
    return lambda source, reason: skipped.append((source, reason))


def test_a_second_member_of_the_same_name_is_skipped_and_the_first_reads_back(
    tmp_path: Path,
) -> None:
    """Two zip (or tar) members named ``dup/a.jpg`` were both ingested under one source, and
    reading it back gave the last one: the gallery and a search report showed another
    person's photo for the first, marked "same file as the probe"."""
    with zipfile.ZipFile(tmp_path / "z.zip", "w") as zf:
        zf.writestr("dup/a.jpg", b"first")
        with pytest.warns(UserWarning, match="Duplicate name"):
            zf.writestr("dup/a.jpg", b"second")
    with tarfile.open(tmp_path / "t.tar", "w") as tf:
        for data in (b"first", b"second"):
            info = tarfile.TarInfo("dup/a.jpg")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    for archive in ("z.zip", "t.tar"):
        skipped: list[tuple[str, str]] = []
        listed = list(iter_sources([tmp_path / archive], LIMIT, on_skip=_into(skipped)))
        assert [s.read() for s in listed] == [b"first"]
        assert [r for _, r in skipped] == [
            "a second member of this name in the archive: only the first is read"
        ]
        assert read_source(listed[0].id, LIMIT) == b"first"


def test_a_name_that_is_not_utf8_is_a_failure_not_a_crash(tmp_path: Path) -> None:
    """``bad\\xff.jpg`` beside good photos crashed the whole CLI ingest (the catalog could
    not store the name) and a server upload job's API answered 500 until a restart."""
    folder = tmp_path / "mixed"
    write(folder / "good.jpg", b"good")
    with open(os.path.join(os.fsencode(folder), b"bad\xff.jpg"), "wb") as fh:
        fh.write(b"bad")
    with tarfile.open(tmp_path / "t.tar", "w", encoding="utf-8", errors="surrogateescape") as tf:
        info = tarfile.TarInfo(os.fsdecode(b"Tony/\xff\xfe-bad.jpg"))
        info.size = 3
        tf.addfile(info, io.BytesIO(b"bad"))
    listed = collect(folder, tmp_path / "t.tar")
    assert [s.id.rsplit("/", 1)[-1] for s in listed] == [
        "bad\\xff.jpg",
        "good.jpg",
        "\\xff\\xfe-bad.jpg",
    ]
    for source in (listed[0], listed[2]):
        source.id.encode("utf-8")  # storable
        assert source.problem is not None and "not valid UTF-8" in source.problem
        with pytest.raises(CorruptImageError, match="not valid UTF-8"):
            source.read()
    assert listed[1].read() == b"good"


def test_read_source_refuses_bytes_that_are_not_those_ingested(tmp_path: Path) -> None:
    """A file replaced or edited after ingest was served and put in reports as the gallery
    image: with the catalog's sha256 its bytes are checked."""
    import hashlib

    path = write(tmp_path / "a.jpg", b"as ingested")
    digest = hashlib.sha256(b"as ingested").hexdigest()
    assert read_source(str(path), LIMIT, sha256=digest) == b"as ingested"
    path.write_bytes(b"replaced")
    with pytest.raises(NotFoundError, match="changed since it was ingested"):
        read_source(str(path), LIMIT, sha256=digest)


def test_a_directory_entry_of_a_file_s_name_does_not_hide_the_file(tmp_path: Path) -> None:
    """A tar whose directory entry ``x.jpg`` came before the file ``x.jpg``: ingest listed
    the file, read-back found the directory, and the image could never be shown."""
    with tarfile.open(tmp_path / "t.tar", "w") as tf:
        folder = tarfile.TarInfo("x.jpg")
        folder.type = tarfile.DIRTYPE
        tf.addfile(folder)
        info = tarfile.TarInfo("x.jpg")
        info.size = 4
        tf.addfile(info, io.BytesIO(b"file"))
    (listed,) = collect(tmp_path / "t.tar")
    assert read_source(listed.id, LIMIT) == b"file"
