"""Catalog: what only the PostgreSQL catalog has. Replicas (several Catalog objects, each its
own connection) writing into one database at once, erasure that VACUUMs the erased rows out
of the table's pages, a connection the server dropped, the migrations kept in step with
SQLite's, the database a catalog is in (a copied database told apart). (Everything else
runs on both databases through ``open_catalog``.)"""

from __future__ import annotations

import re
import subprocess
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from tests.unit.gallery.catalog.test_catalog_erasure import new_image

from facesearch.errors import CatalogError, InputError
from facesearch.gallery.catalog import SCHEMA_VERSION, Catalog, _connection, _read
from facesearch.gallery.catalog._identity import same_database
from facesearch.gallery.catalog._schema_pg import MIGRATIONS as PG_MIGRATIONS
from facesearch.gallery.catalog.schema import MIGRATIONS

psycopg = pytest.importorskip("psycopg", reason="SKIPPED LOUDLY: psycopg missing (test extra)")


@pytest.fixture
def cat(pg_url: str) -> Iterator[Catalog]:
    with Catalog.open_postgres(pg_url) as catalog:
        yield catalog


def sql(url: str, query: str, *params: Any) -> list[tuple[Any, ...]]:
    """A query on a connection of its own, in the catalog's schema."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET search_path TO facesearch_catalog")
        cur = conn.execute(query, params)
        return list(cur.fetchall()) if cur.description else []


def test_both_databases_have_the_same_migrations() -> None:
    """``PRAGMA user_version`` means the same tables in both."""
    assert [(m.version, m.description) for m in PG_MIGRATIONS] == [
        (m.version, m.description) for m in MIGRATIONS
    ]


def test_a_new_catalog_is_migrated_once_and_newer_ones_are_refused(pg_url: str) -> None:
    with Catalog.open_postgres(pg_url) as first:
        first.add_images("main", [new_image("a")])
    with Catalog.open_home("/nonexistent-home", pg_url) as again:  # the home is not used
        assert again.stats()["images"] == 1 and again.database == pg_url
    secret = pg_url.replace("://facesearch@", "://facesearch:s3cret@")  # the cluster trusts all
    with Catalog.open_home("/nonexistent-home", secret) as third:
        assert third.database == pg_url.replace("://facesearch@", "://facesearch:***@")
        assert "s3cret" not in repr(third)
    assert sql(pg_url, "SELECT version FROM schema_version") == [(SCHEMA_VERSION,)]
    sql(pg_url, "UPDATE schema_version SET version = %s", SCHEMA_VERSION + 1)
    with pytest.raises(CatalogError, match="newer"):
        Catalog.open_postgres(pg_url)


def test_two_replicas_adding_at_once_keep_ids_unique_and_files_stored_once(pg_url: str) -> None:
    """Two Catalog objects (two server replicas) add overlapping batches at the same time:
    each file is stored once, every id once, and a duplicate names the image stored."""
    keys = {"a": list(range(0, 120)), "b": list(range(60, 180))}
    results: dict[str, list[tuple[int, Any]]] = {"a": [], "b": []}
    errors: list[BaseException] = []
    start = threading.Barrier(2, timeout=60)

    def replica(name: str) -> None:
        try:
            with Catalog.open_postgres(pg_url) as mine:
                start.wait()
                for at in range(0, len(keys[name]), 6):
                    batch = keys[name][at : at + 6]
                    added = mine.add_images("main", [new_image(k, 2) for k in batch])
                    results[name].extend(zip(batch, added, strict=True))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=replica, args=(n,)) for n in keys]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    stored = {k: a for n in results for k, a in results[n] if not a.duplicate}
    assert sorted(stored) == list(range(180))  # each file stored by exactly one replica
    assert len([a for n in results for _, a in results[n] if not a.duplicate]) == 180
    for name in results:
        for key, added in results[name]:
            assert added.image_id == stored[key].image_id  # a duplicate names the stored one
    face_ids = [f for a in stored.values() for f in a.face_ids]
    assert len(set(face_ids)) == len(face_ids) == 360
    assert len({a.image_id for a in stored.values()}) == 180
    with Catalog.open_postgres(pg_url) as cat:
        assert (cat.stats()["images"], cat.stats()["faces"]) == (180, 360)
        assert cat.state("sface").max_face_id == max(face_ids)
    assert sql(pg_url, "SELECT count(DISTINCT sha256), count(*) FROM images") == [(180, 180)]


_CARRIED = """SELECT count(*) FROM generate_series(0, %s - 1) AS page,
    LATERAL heap_page_items(get_raw_page('faces', page::int)) AS item
    WHERE position(%s::bytea IN item.t_data) > 0"""


def test_an_erased_face_is_gone_from_the_table_and_its_pages(cat: Catalog, pg_url: str) -> None:
    added = cat.add_images("main", [new_image(i, 2) for i in range(20)])
    victim = cat.face(added[7].face_ids[1], with_embeddings=True)
    kept = cat.face(added[7].face_ids[0], with_embeddings=True).embedding
    assert victim.embedding is not None and kept is not None
    secret = victim.embedding.tobytes()
    sql(pg_url, "CREATE EXTENSION IF NOT EXISTS pageinspect")
    (pages,) = sql(pg_url, "SELECT pg_relation_size('faces') / current_setting('block_size')::int")
    assert sql(pg_url, _CARRIED, pages[0], secret) == [(1,)]
    assert cat.last_erasure is None

    (erased,) = cat.delete_faces([victim.id])

    # First, before any query reads the table (a read may prune a page on its own): VACUUM
    # removed the dead row version from the heap pages themselves, not only from what queries
    # see. No tuple on any page still carries the embedding; the other faces are still there.
    assert sql(pg_url, _CARRIED, pages[0], secret) == [(0,)]
    assert sql(pg_url, _CARRIED, pages[0], kept.tobytes()) == [(1,)]
    assert erased.id == victim.id
    assert sql(pg_url, "SELECT id FROM faces WHERE id = %s", victim.id) == []
    assert sql(pg_url, "SELECT id FROM faces WHERE embedding = %s", secret) == []
    report = cat.last_erasure
    assert report is not None and report.database == "postgresql" and report.complete
    assert "VACUUM" in report.done and "backup retention" in report.left


_IN_STATS = """SELECT tablename || '.' || attname FROM pg_stats
    WHERE schemaname = 'facesearch_catalog'
    AND position(%s IN concat(most_common_vals::text, histogram_bounds::text)) > 0"""


def test_column_statistics_never_show_personal_data(pg_url: str) -> None:
    """pg_stats shows sampled values to any reader and ANALYZE keeps a column it skips as it
    was: a catalog made before migration 5 loses what ANALYZE took, a new one never samples
    embeddings, paths or names, and an erasure leaves nothing of its faces there."""
    from facesearch.gallery.catalog.schema import migrate
    from facesearch.sqlstore.pg import PgConnection

    old = PgConnection(pg_url, _connection.PG_SCHEMA, _connection.PG_LOCK_KEY)
    migrate(old, 4)  # type: ignore[arg-type]
    with Catalog(old, None) as before:  # type: ignore[arg-type]
        added = before.add_images("main", [new_image(i, 2, f"Person {i}") for i in range(20)])
        victim = before.face(added[7].face_ids[1], with_embeddings=True)
    assert victim.embedding is not None
    secrets = (victim.embedding.tobytes().hex(), "/p/7.jpg", "Person 7")
    sql(pg_url, "ANALYZE")
    assert [sql(pg_url, _IN_STATS, s) for s in secrets] == [
        [("faces.embedding",)], [("images.source",)], [("subjects.name",)]
    ]  # fmt: skip

    with Catalog.open_postgres(pg_url) as cat:  # migration 5 drops what was collected
        assert [sql(pg_url, _IN_STATS, s) for s in secrets] == [[], [], []]
        sql(pg_url, "ANALYZE")
        assert [sql(pg_url, _IN_STATS, s) for s in secrets] == [[], [], []]
        cat.delete_subject("Person 7", prune_images=True)
    assert [sql(pg_url, _IN_STATS, s) for s in secrets] == [[], [], []]
    # the other columns' statistics are the remaining rows' (VACUUM (ANALYZE))
    (faces,) = sql(pg_url, "SELECT n_distinct FROM pg_stats WHERE tablename = 'faces' AND "
                   "attname = 'id' AND schemaname = 'facesearch_catalog'")  # fmt: skip
    assert faces == (-1,) and sql(pg_url, "SELECT reltuples FROM pg_class WHERE oid = "
                                  "'facesearch_catalog.faces'::regclass") == [(38,)]  # fmt: skip


def test_a_connection_the_server_dropped_is_reopened(cat: Catalog, pg_url: str) -> None:
    """A replica whose connection was cut (a database restart, a failover, an idle timeout)
    carries on at its next call instead of failing it."""
    cat.add_images("main", [new_image("a")])
    (pid,) = cat._live().execute("SELECT pg_backend_pid()").fetchone()
    assert sql(pg_url, "SELECT pg_terminate_backend(%s)", pid) == [(True,)]
    assert [c.name for c in cat.collections()] == ["main"]
    (again,) = cat.add_images("main", [new_image("b")])
    assert not again.duplicate and cat.stats()["images"] == 2


def copied(pg_cluster: Any, url: str, how: str) -> str:
    """A copy of the database at ``url`` made ``how`` (CREATE DATABASE ... TEMPLATE, or
    pg_dump piped into psql); its URL."""
    from facesearch.devcluster.postgres import find_bin

    name = f"copy_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_cluster.url(), autocommit=True) as conn:
        template = f' TEMPLATE "{url.rsplit("/", 1)[1]}"' if how == "template" else ""
        conn.execute(f'CREATE DATABASE "{name}"{template}')
    if how == "dump":
        pg_dump, psql = find_bin("pg_dump"), find_bin("psql")
        if not pg_dump or not psql:
            pytest.skip("SKIPPED LOUDLY: pg_dump or psql missing")
        dump = subprocess.run([pg_dump, url], capture_output=True, check=True).stdout
        subprocess.run([psql, "-q", "-v", "ON_ERROR_STOP=1", pg_cluster.url(name)], input=dump,
                       capture_output=True, check=True)  # fmt: skip
    return str(pg_cluster.url(name))


@pytest.mark.parametrize("how", ["template", "dump"])
def test_a_catalog_records_its_database_and_a_copy_is_told_apart(
    pg_cluster: Any, pg_url: str, how: str
) -> None:
    with Catalog.open_postgres(pg_url) as original:
        original.add_images("main", [new_image("a")])
        made_in = original.database_id
        assert made_in is not None and re.fullmatch(r"[0-9]+/[0-9]+", made_in)
        assert sql(pg_url, "SELECT database_id FROM catalog_state") == [(made_in,)]
        assert original.database_change() is None
        catalog_id = original.state("sface").catalog_id
    copy_url = copied(pg_cluster, pg_url, how)
    with Catalog.open_postgres(copy_url) as copy:
        change = copy.database_change()
        assert change is not None and copy.stats()["images"] == 1
        assert (change.catalog_id, change.recorded, change.live) == (
            catalog_id, made_in, copy.database_id
        )  # fmt: skip
        assert copy.database_id != made_in and copy.state("sface").catalog_id == catalog_id
        assert "copy" in str(change) and made_in.split("/")[1] in str(change)
        if how == "template":
            _, new_id = copy.fork()
            assert new_id != catalog_id and copy.state("sface").catalog_id == new_id
        else:
            assert copy.adopt() == change and copy.state("sface").catalog_id == catalog_id
        assert copy.database_change() is None
        assert sql(copy_url, "SELECT database_id FROM catalog_state") == [(copy.database_id,)]
        for again in (copy.fork, copy.adopt):
            with pytest.raises(InputError, match="not a copy or a move"):
                again()
    with Catalog.open_postgres(pg_url) as original:  # the original is as it was
        assert original.database_change() is None
        assert original.state("sface").catalog_id == catalog_id


def test_a_catalog_made_before_migration_6_records_the_database_it_is_in(pg_url: str) -> None:
    from facesearch.gallery.catalog.schema import migrate
    from facesearch.sqlstore.pg import PgConnection

    old = PgConnection(pg_url, _connection.PG_SCHEMA, _connection.PG_LOCK_KEY)
    migrate(old, 5)  # type: ignore[arg-type]
    old.close()
    with Catalog.open_postgres(pg_url) as cat:
        assert sql(pg_url, "SELECT database_id FROM catalog_state") == [(cat.database_id,)]
        assert cat.database_change() is None


@pytest.mark.parametrize(
    ("recorded", "live", "same"),
    [
        ("71/16384", "71/16384", True),
        ("71/16384", "71/16400", False),  # a copy in the same cluster
        ("71/16384", "72/16384", False),  # another cluster: the same first oid
        ("?/16384", "71/16384", True),  # a role that could not read the cluster's id
        ("71/16384", "?/16384", True),
        ("?/16384", "?/16400", False),
    ],
)
def test_two_identities_name_one_database(recorded: str, live: str, same: bool) -> None:
    assert same_database(recorded, live) is same


class _Pg:
    dialect = "postgresql"


@pytest.mark.parametrize(
    ("glob", "regex"),
    [
        ("*/[0-9a-f][0-9a-f]/*", "^.*/[0-9a-f][0-9a-f]/.*$"),
        ("a?c", "^a.c$"),
        ("[^x]y", "^[^x]y$"),
        ("[]]", "^[]]$"),
        ("a.b+(c)", r"^a\.b\+\(c\)$"),
        ("[unclosed", r"^\[unclosed$"),
        ("[\\]", r"^[\\]$"),
    ],
)
def test_glob_patterns_become_anchored_regular_expressions(glob: str, regex: str) -> None:
    assert _read.glob_pattern(_Pg(), glob) == regex  # type: ignore[arg-type]
    assert _read.glob_operator(_Pg()) == "~"  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u@h/db", "postgresql://u@h/db?options=-c%20lock_timeout%3D50"),
        (
            "postgresql://u:p%40ss@h:5/db?sslmode=require&options=-c%20work_mem%3D4MB",
            "postgresql://u:p%40ss@h:5/db?sslmode=require"
            "&options=-c%20work_mem%3D4MB%20-c%20lock_timeout%3D50",
        ),
    ],
)
def test_the_lock_timeout_joins_the_urls_options(url: str, expected: str) -> None:
    assert _connection._with_option(url, "lock_timeout=50") == expected


def _old_catalog_with_one_entry(pg_url: str, version: int) -> Any:
    """A catalog at schema ``version`` holding one blocklist entry of the host's; its vector."""
    import numpy as np

    from facesearch.gallery.catalog.schema import migrate
    from facesearch.sqlstore.pg import PgConnection

    old = PgConnection(pg_url, _connection.PG_SCHEMA, _connection.PG_LOCK_KEY)
    migrate(old, version)  # type: ignore[arg-type]
    vector = np.array([0.5, -0.5, 0.5, -0.5], np.float32)
    old.close()
    sql(pg_url, "INSERT INTO models (name, dim) VALUES ('sface', 4)")
    sql(
        pg_url,
        "INSERT INTO blocklist (model_id, dim, embedding, added, note) "
        "VALUES (1, 4, %s, '2024-01-01T00:00:00', 'forget --like')",
        vector.astype("<f4").tobytes(),
    )
    return vector


def test_the_blocklist_of_a_version_7_catalog_stays_deployment_wide(pg_url: str) -> None:
    """Migration 8 in PostgreSQL: the entries from before (the host's) apply to every
    ingest; a new one of an organisation to that organisation's only."""
    import numpy as np

    vector = _old_catalog_with_one_entry(pg_url, 7)
    with Catalog.open_postgres(pg_url) as cat:
        assert sql(pg_url, "SELECT version FROM schema_version") == [(SCHEMA_VERSION,)]
        assert sql(pg_url, "SELECT org FROM blocklist") == [(None,)]
        assert np.array_equal(cat.blocklist("sface", "north"), [vector])
        cat.blocklist_add("sface", -vector, org="North")
        assert cat.blocklist("sface", "NORTH").shape == (2, 4)
        assert cat.blocklist("sface", "south").shape == (1, 4)
        assert cat.blocklist_sizes("sface") == {None: 1, "North": 1}


def test_the_blocklist_of_a_version_8_catalog_has_no_pending_entry(pg_url: str) -> None:
    """Migration 9 in PostgreSQL: the entries from before are recorded; a new erasure's is
    pending, naming its process, until its audit entry is written."""
    from facesearch.gallery.catalog import RunOwner

    vector = _old_catalog_with_one_entry(pg_url, 8)
    with Catalog.open_postgres(pg_url) as cat:
        assert sql(pg_url, "SELECT version FROM schema_version") == [(SCHEMA_VERSION,)]
        assert sql(pg_url, "SELECT pending FROM blocklist") == [(None,)]
        assert cat.blocklist_pending() == []
        owner = RunOwner("here", "space", 7, "123")
        added = cat.blocklist_add("sface", -vector, pending=owner)
        (pending,) = cat.blocklist_pending()
        assert (pending.id, pending.model_id, pending.owner) == (added, "sface", owner)
        assert cat.blocklist("sface").shape == (2, 4)  # applied while pending
        assert cat.blocklist_recorded(added) and not cat.blocklist_recorded(added)
        assert cat.blocklist_pending() == []
