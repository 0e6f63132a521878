"""The exact scan of an erasure like a photo on a Ray cluster (``facesearch forget --like
PHOTO --ray [auto|ADDRESS]``): ``Catalog.faces_at_least``, split into face-id ranges.

The driver finds the id range of the model's faces (``Catalog.face_id_span``: two indexed
lookups), cuts it into ``id_ranges`` (at least one per CPU of the cluster, and one per
``RANGE_FACES`` ids), and runs one Ray task per range. A task opens the catalog the settings
name, to read only (``Catalog.open_reader(home, database_url)``), and runs
``Catalog.scores_at_least`` over its range: the code the single-process scan runs, over part
of the ids. The driver merges the (ids, scores) with ``most_similar_first``, as
``faces_at_least`` does, so the list is the single-process scan's: the same ids in the same
order (a face's score is computed from its embedding alone, whatever range it falls in:
``_vectors_view._scores``).

Where the catalog must be: PostgreSQL (``FACESEARCH_DATABASE_URL``) for a cluster of several
machines; a SQLite catalog only where every worker sees the home's file at the same path
(``--ray`` with no address, a local cluster, or a shared file system). A task checks that it
opened the driver's catalog (its ``catalog_id``, and for PostgreSQL the database's identity):
a worker that would open another one, or none, fails the scan instead of returning nothing.
As in the single-process scan, each chunk is its own read: a face added while the scan runs
may or may not be found.

The Ray tasks get the home and the database URL, with its password (the ingest's actors get
neither URL: ``ray_ingest.actor_settings``): a cluster of other machines must be one the
operator trusts with both, as anyone who can run code on its workers can read them.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
import numpy.typing as npt

from facesearch.errors import CatalogError, FaceSearchError, InputError
from facesearch.gallery.catalog import Catalog
from facesearch.gallery.catalog._vectors_view import IdRange, most_similar_first
from facesearch.gallery.ray_cluster import AUTO, connected, first_line, import_ray
from facesearch.settings import Settings

__all__ = ["RANGE_FACES", "RayScan", "faces_at_least_on_ray", "id_ranges", "range_count"]

log = logging.getLogger(__name__)

RANGE_FACES = 1_000_000  # ids per range at most, past one range per CPU (about 2.6 s each)


@dataclass(frozen=True)
class RayScan:
    """Where the scan runs: ``address`` "auto" starts a local cluster of ``cpus`` CPUs
    (default: ``settings.models.threads``, else every core); any other address is an existing
    cluster's. ``ranges``: how many tasks (default: ``range_count``)."""

    address: str = AUTO
    cpus: int | None = None
    ranges: int | None = None


def id_ranges(span: IdRange, parts: int) -> list[IdRange]:
    """``span`` (after, upto) cut into at most ``parts`` ranges of as many ids each (one more
    in the first few), each (after, upto) as ``scores_at_least`` takes it: together exactly
    the ids of ``span``, each in one range, in order. Cut by id, not by face: ids erased leave
    gaps, and a range with fewer faces only ends sooner."""
    if parts < 1:
        raise InputError(f"a scan needs at least one range, not {parts}")
    after, upto = span
    count = upto - after
    if count <= 0:
        return []
    parts = min(parts, count)
    bounds = [after + count * k // parts for k in range(parts + 1)]
    return list(pairwise(bounds))


def range_count(span: IdRange, cpus: int) -> int:
    """Ranges for a cluster of ``cpus`` CPUs: one per CPU, more for a span of more than
    ``RANGE_FACES`` ids per CPU (smaller tasks even out the load, and a task a worker lost
    costs less to run again)."""
    ids = max(0, span[1] - span[0])
    return max(1, cpus, -(-ids // RANGE_FACES))


def faces_at_least_on_ray(
    options: RayScan,
    settings: Settings,
    catalog: Catalog,
    collections: Sequence[str] | None,
    model_id: str,
    query: npt.NDArray[np.float32],
    threshold: float,
) -> list[int]:
    """What ``catalog.faces_at_least(collections, model_id, query, threshold)`` returns,
    scanned by Ray tasks (see the module docstring); ``catalog`` is the one ``settings``
    names, open in this process."""
    span = catalog.face_id_span(collections, model_id)  # an unknown collection: NotFoundError
    if span is None:
        return []
    state = catalog.state(model_id)
    ray = import_ray()
    query = np.asarray(query, dtype=np.float32)
    where = _Where(str(settings.home), settings.database_url, state.catalog_id, state.database_id)
    with connected(ray, options.address, options.cpus, settings) as cpus:
        ranges = id_ranges(span, options.ranges or range_count(span, cpus))
        log.info("Ray: %d range(s) of face ids on a cluster of %d CPU(s)", len(ranges), cpus)
        scan = ray.remote(num_cpus=1)(_scan_range)
        refs = [scan.remote(where, collections, model_id, query, threshold, r) for r in ranges]
        try:
            parts: list[tuple[Any, Any]] = ray.get(refs)
        except ray.exceptions.RayTaskError as exc:
            cause = getattr(exc, "cause", None)
            if isinstance(cause, FaceSearchError):
                raise cause from None
            raise _failed(exc) from exc
        except ray.exceptions.RayError as exc:
            raise _failed(exc) from exc
    ids = np.concatenate([np.empty(0, np.int64), *(p[0] for p in parts)])
    scores = np.concatenate([np.empty(0, np.float32), *(p[1] for p in parts)])
    return most_similar_first(ids, scores)


@dataclass(frozen=True)
class _Where:
    """The catalog a task opens, and what it must find there to be the driver's."""

    home: str
    database_url: str
    catalog_id: str
    database_id: str | None


def _scan_range(
    where: _Where,
    collections: Sequence[str] | None,
    model_id: str,
    query: npt.NDArray[np.float32],
    threshold: float,
    within: IdRange,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
    """One Ray task: ``scores_at_least`` over the ids ``within``, in the driver's catalog."""
    host = socket.gethostname()
    try:
        opened = Catalog.open_reader(where.home, where.database_url)
    except CatalogError as exc:
        raise CatalogError(
            f"the Ray worker on {host} cannot read the catalog ({exc}): on a cluster of "
            "several machines, use a PostgreSQL catalog (FACESEARCH_DATABASE_URL) or a home "
            "on a file system every worker shares"
        ) from exc
    with opened as catalog:
        state = catalog.state(model_id)
        if (state.catalog_id, state.database_id) != (where.catalog_id, where.database_id):
            raise CatalogError(
                f"the Ray worker on {host} opened another catalog than the driver's "
                f"({catalog.database}): nothing was erased"
            )
        return catalog.scores_at_least(collections, model_id, query, threshold, within)


def _failed(exc: BaseException) -> CatalogError:
    return CatalogError(f"the scan on Ray failed: {first_line(exc)}; nothing was erased")
