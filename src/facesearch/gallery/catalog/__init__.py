"""The catalog: images, faces, subjects, collections, ingest runs and the erasure blocklist.

SQLite, one file per home (``catalog.sqlite``), or the schema ``facesearch_catalog`` of a
PostgreSQL database shared by every replica (``Catalog.open_home(home, database_url)``). It
is the source of truth; the vector index is derived from it (``Catalog.face_vectors``) and
tells whether it is stale from ``Catalog.state``.
"""

from facesearch.gallery.catalog._codec import check_name, check_new_collection_name
from facesearch.gallery.catalog._connection import CatalogErasure
from facesearch.gallery.catalog._identity import DatabaseChange
from facesearch.gallery.catalog._people import (
    MemberFace,
    PeopleAssignment,
    PeopleSnapshot,
    StoredPerson,
)
from facesearch.gallery.catalog.records import (
    EVERY_FACE_BLOCKED,
    RUN_STATUSES,
    AddedImage,
    BlocklistSeen,
    CatalogState,
    CollectionInfo,
    FaceRecord,
    ImageRecord,
    IngestFailure,
    IngestRun,
    NewFace,
    NewImage,
    PendingBlock,
    RunCounts,
    RunOwner,
    RunStatus,
)
from facesearch.gallery.catalog.schema import SCHEMA_VERSION
from facesearch.gallery.catalog.store import CATALOG_FILE, Catalog

__all__ = [
    "CATALOG_FILE",
    "EVERY_FACE_BLOCKED",
    "RUN_STATUSES",
    "SCHEMA_VERSION",
    "AddedImage",
    "BlocklistSeen",
    "Catalog",
    "CatalogErasure",
    "CatalogState",
    "CollectionInfo",
    "DatabaseChange",
    "FaceRecord",
    "ImageRecord",
    "IngestFailure",
    "IngestRun",
    "MemberFace",
    "NewFace",
    "NewImage",
    "PendingBlock",
    "PeopleAssignment",
    "PeopleSnapshot",
    "RunCounts",
    "RunOwner",
    "RunStatus",
    "StoredPerson",
    "check_name",
    "check_new_collection_name",
]
