"""Archive members that are not ingested on purpose are reported, each with its reason
(issue 7, item 14): links, devices, pipes, archives inside the archive, non-image files."""

from __future__ import annotations

import io
import stat
import tarfile
import zipfile
from pathlib import Path

from facesearch.gallery.sources import iter_sources

LIMIT = 1000


def skipped_of(*paths: Path) -> tuple[list[str], list[tuple[str, str]]]:
    skipped: list[tuple[str, str]] = []
    ids = [
        s.id.rpartition("!")[2]
        for s in iter_sources(list(paths), LIMIT, on_skip=lambda i, r: skipped.append((i, r)))
    ]
    return ids, [(i.rpartition("!")[2], r) for i, r in skipped]


def test_skipped_tar_members_are_reported_with_their_reason(tmp_path: Path) -> None:
    archive = tmp_path / "g.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:

        def add(
            name: str, data: bytes = b"", kind: bytes = tarfile.REGTYPE, link: str = ""
        ) -> None:
            info = tarfile.TarInfo(name)
            info.type, info.linkname, info.size = kind, link, len(data)
            tf.addfile(info, io.BytesIO(data) if data else None)

        add("p/ok.jpg", b"jpeg")
        add("p/sym.jpg", kind=tarfile.SYMTYPE, link="/etc/passwd")
        add("p/hard.jpg", kind=tarfile.LNKTYPE, link="p/ok.jpg")
        add("p/dev.jpg", kind=tarfile.CHRTYPE)
        add("p/blk", kind=tarfile.BLKTYPE)
        add("p/fifo.jpg", kind=tarfile.FIFOTYPE)
        add("p/inner.zip", b"PK\x03\x04 nested")
        add("p/more.tar.gz", b"\x1f\x8b nested")
        add("p/notes.txt", b"text")
        add("p/dir", kind=tarfile.DIRTYPE)  # folders: not worth a word
        add("p/.hidden.jpg", b"x")  # hidden and resource forks: reported too (attack pass 2)
        add("__MACOSX/p/._ok.jpg", b"x")
        add("..\\..\\evil/c.jpg", b"x")
    ids, skipped = skipped_of(archive)
    assert ids == ["p/ok.jpg"]
    reasons = dict(skipped)
    assert list(reasons) == [
        "p/sym.jpg",
        "p/hard.jpg",
        "p/dev.jpg",
        "p/blk",
        "p/fifo.jpg",
        "p/inner.zip",
        "p/more.tar.gz",
        "p/notes.txt",
        "p/.hidden.jpg",
        "__MACOSX/p/._ok.jpg",
        "..\\..\\evil/c.jpg",
    ]
    assert "hidden" in reasons["p/.hidden.jpg"] and "hidden" in reasons["..\\..\\evil/c.jpg"]
    assert "__MACOSX" in reasons["__MACOSX/p/._ok.jpg"]
    assert "symbolic link" in reasons["p/sym.jpg"] and "/etc/passwd" in reasons["p/sym.jpg"]
    assert "hard link" in reasons["p/hard.jpg"]
    assert "device" in reasons["p/dev.jpg"] and "device" in reasons["p/blk"]
    assert "pipe" in reasons["p/fifo.jpg"]
    assert (
        "archive inside" in reasons["p/inner.zip"] and "archive inside" in reasons["p/more.tar.gz"]
    )
    assert "not an image" in reasons["p/notes.txt"]


def test_skipped_zip_members_are_reported_with_their_reason(tmp_path: Path) -> None:
    archive = tmp_path / "g.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("ok.jpg", b"jpeg")
        for name, kind in (("link.jpg", stat.S_IFLNK), ("fifo.jpg", stat.S_IFIFO),
                           ("dev.jpg", stat.S_IFCHR)):  # fmt: skip
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.external_attr = (kind | 0o777) << 16
            zf.writestr(info, "/etc/passwd")
        zf.writestr("nested.zip", b"PK\x03\x04")
        zf.writestr("readme.md", b"hello")
        zf.writestr(zipfile.ZipInfo("folder/"), b"")
    ids, skipped = skipped_of(archive)
    assert ids == ["ok.jpg"]
    reasons = dict(skipped)
    assert list(reasons) == ["link.jpg", "fifo.jpg", "dev.jpg", "nested.zip", "readme.md"]
    assert "symbolic link" in reasons["link.jpg"]
    assert "pipe" in reasons["fifo.jpg"] and "device" in reasons["dev.jpg"]
    assert "archive inside" in reasons["nested.zip"] and "not an image" in reasons["readme.md"]


def test_without_a_listener_skipped_members_stay_quiet(tmp_path: Path) -> None:
    archive = tmp_path / "g.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("ok.jpg", b"jpeg")
        zf.writestr("readme.md", b"hello")
    assert [s.id.rpartition("!")[2] for s in iter_sources([archive], LIMIT)] == ["ok.jpg"]
