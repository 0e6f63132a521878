"""The embedded Milvus standalone server of the ``milvus`` PyPI package (Milvus 2.3), started
in a folder of its own for the demo; its ``milvus://`` URL. ``pip install milvus==2.3.5``."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def milvus_server(base: Path) -> Iterator[str]:
    try:
        from milvus import MilvusServer
    except ImportError as exc:
        raise RuntimeError(
            f"the milvus package is missing: pip install milvus==2.3.5 ({exc})"
        ) from exc
    logging.getLogger("milvus").setLevel(logging.WARNING)
    server = MilvusServer()
    base.mkdir(parents=True, exist_ok=True)
    server.set_base_dir(str(base))
    try:
        server.start()
    except Exception as exc:
        server.stop()
        raise RuntimeError(f"the Milvus server did not start: {exc}{_why(base)}") from exc
    try:
        yield f"milvus://127.0.0.1:{server.listen_port}"
    finally:
        server.stop()


def _why(base: Path) -> str:
    """The reason the server's log gives, when it is a port taken (etcd's 2380 is fixed: two
    of these servers cannot run on one machine)."""
    for log in sorted((base / "logs").glob("*.log")):
        for line in log.read_text(errors="replace").splitlines():
            if "address already in use" in line:
                found = line[line.find("listen tcp") :][:80] if "listen tcp" in line else line[:120]
                return f" ({found}: is another Milvus server running on this machine?)"
    return ""
