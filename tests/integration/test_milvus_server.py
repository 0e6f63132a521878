"""The real Milvus standalone server (the ``milvus`` package's embedded Milvus 2.3) holding the
vectors: catalog-derived IndexSet, filtered search, erasure with a compaction, two writers."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from tests.unit.gallery.test_collections import DIM, MODEL, add_faces

from facesearch.gallery.catalog import Catalog
from facesearch.gallery.collections import IndexSet

pytestmark = [
    pytest.mark.slow,
    # the milvus package leaves a socket open when a port it tries is taken (its own bug)
    pytest.mark.filterwarnings(
        "ignore:Exception ignored in. <socket.socket:pytest.PytestUnraisableExceptionWarning"
    ),
]
pytest.importorskip("pymilvus", reason="Milvus needs the distributed extra")


@pytest.fixture(scope="session")
def milvus_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A throwaway Milvus standalone in a temporary folder; its milvus:// URL."""
    try:
        from milvus import MilvusServer
    except ImportError as exc:
        pytest.skip(f"SKIPPED LOUDLY: the 'milvus' package (embedded Milvus) is missing: {exc}")
    logging.getLogger("milvus").setLevel(logging.WARNING)
    server = MilvusServer()
    server.set_base_dir(str(tmp_path_factory.mktemp("milvus-server")))
    try:
        server.start()
    except Exception as exc:  # a missing library, no free port, a slow machine
        server.stop()
        pytest.skip(f"SKIPPED LOUDLY: the Milvus server did not start: {exc}")
    try:
        yield f"milvus://127.0.0.1:{server.listen_port}"
    finally:
        server.stop()


def test_search_forget_and_a_second_writer_on_a_milvus_server(
    milvus_server: str, tmp_path: Path
) -> None:
    with Catalog.open_home(tmp_path) as cat:
        ids_c, vecs_c = add_faces(cat, 40, seed=1)
        ids_d, _ = add_faces(cat, 20, seed=2, collection="d")
        a = IndexSet(tmp_path, cat, MODEL, DIM, vectors_url=milvus_server)
        assert a.size() == 60 and a.size(["d"]) == 20  # built from the catalog
        _, got = a.search(vecs_c, 1, ["c"])
        assert (got[:, 0] == ids_c).all()
        _, got = a.search(vecs_c[:5], 3, ["d"])  # filtered on the partition key
        assert np.isin(got, ids_d).all()
        a.save()

        b = IndexSet(tmp_path, cat, MODEL, DIM, vectors_url=milvus_server)  # another replica
        ids_e, vecs_e = add_faces(cat, 10, seed=3)
        b.add("c", ids_e, vecs_e)
        _, got = a.search(vecs_e, 1, None)  # a catches up without adding them twice
        assert (got[:, 0] == ids_e).all() and a.size() == 70

        gone = [f.id for f in cat.delete_faces([int(ids_c[0]), int(ids_e[0])])]
        assert a.remove(gone) == 2
        record = a.last_erasure
        assert record is not None and record.proved_absent and record.flushed
        assert record.compaction.startswith("requested ") and "garbage" in record.left_to_server
        a.save()
        _, got = b.search(np.concatenate([vecs_c[:1], vecs_e[:1]]), 10, None)
        assert not np.isin(got, gone).any()
        pending = b.pending_physical_deletions()
        assert [p.faces for p in pending] == [2] and pending[0].compaction_job > 0
        assert pending[0].compaction_state in ("Executing", "Completed")
        assert IndexSet(tmp_path, cat, MODEL, DIM, vectors_url=milvus_server).size() == 68
