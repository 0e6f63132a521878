"""The gallery as the API and the pages both use it, as the server's adapter over ``app/``:
reads of faces, crops, images, files and subjects (each charged to the reader and logged by the
app layer, unless part of the read of a search, or of a People or person page), collections
and stats, erasure (an upload's ingest job starts in ``ingest_uploads``), and people
(``app.people``: a list or a person is a read, charged and logged, whose crops and photos are
part of it; a build and each review change are audited by the app layer)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, TypeVar

from facesearch import app
from facesearch.accountability import Actor, Permission
from facesearch.accountability.permissions import DEFAULT_ORG
from facesearch.app import gallery as app_gallery
from facesearch.app import people as app_people
from facesearch.app.handles import Gallery, Store
from facesearch.app.ingest import DEFAULT_COLLECTION
from facesearch.app.scope import scope_of
from facesearch.engine import Engine
from facesearch.gallery.catalog.records import CollectionInfo
from facesearch.server import views
from facesearch.server.auth import Principal
from facesearch.server.context import Context
from facesearch.server.errors import ConflictError
from facesearch.server.services import take_read

T = TypeVar("T")


async def _gallery_read(
    ctx: Context, who: Principal, run: Callable[[Gallery], T], *, part_of_a_read: bool = False
) -> T:
    """A read of the gallery on a catalog thread, charged to the reader unless it is part
    of the read of a search or of a People page (``part_of_a_read``: the app layer checks
    that it is); one the reader may not make is refused first, uncharged."""
    if not part_of_a_read:  # auditors reach candidates via a search
        _charge_read(ctx, who)
    return await ctx.workers.on_catalog(run)


def _charge_read(ctx: Context, who: Principal) -> None:
    """Refuse a read of the gallery the reader may not make, uncharged; else charge it."""
    app.allow(who.user, Permission.READ_GALLERY)
    take_read(ctx, who)


async def face(ctx: Context, who: Principal, face_id: int, case: str | None) -> dict[str, Any]:
    record = await _gallery_read(
        ctx, who, lambda c: app_gallery.face(ctx.store, c, who.user, face_id, case=case)
    )
    return views.face_view(record)


async def file_bytes(
    ctx: Context,
    who: Principal,
    what: app_gallery.FileRead,
    item_id: int,
    case: str | None,
    search: int | None,
    people_read: int | None = None,
) -> bytes:
    """A face's crop or an image's file (``app.gallery.file_bytes``); uncharged when reached
    from a search's view (``search``) or a People page's (``people_read``)."""
    return await _gallery_read(
        ctx,
        who,
        lambda c: app_gallery.file_bytes(
            ctx.store,
            c,
            ctx.settings,
            who.user,
            what,
            item_id,
            case=case,
            search=search,
            people_read=people_read,
        ),
        part_of_a_read=search is not None or people_read is not None,
    )


async def image(ctx: Context, who: Principal, image_id: int, case: str | None) -> dict[str, Any]:
    record, faces = await _gallery_read(
        ctx, who, lambda c: app_gallery.image(ctx.store, c, who.user, image_id, case=case)
    )
    return views.image_view(record, faces)


async def subject(ctx: Context, who: Principal, name: str, case: str | None) -> dict[str, Any]:
    faces = await _gallery_read(
        ctx, who, lambda c: app_gallery.subject(ctx.store, c, who.user, name, case=case)
    )
    return {"name": name, "faces": [views.face_view(f) for f in faces]}


async def collections(ctx: Context, who: Principal) -> list[CollectionInfo]:
    return await ctx.workers.on_catalog(lambda c: app_gallery.collections(ctx.store, c, who.user))


async def own_collections(ctx: Context, who: Principal) -> list[CollectionInfo]:
    """The collections ``who``'s organisation owns (an ingest may add to them; a shared one is
    read-only), the first it made first."""

    def owned(catalog: Gallery) -> list[CollectionInfo]:
        scope = scope_of(ctx.store, catalog, who.user)
        mine = [c for c in catalog.collections() if scope.owns(c.name)]
        return sorted(mine, key=lambda c: (c.created, c.name))

    return await ctx.workers.on_catalog(owned)


def new_collection_name(who: Principal) -> str:
    """The collection an organisation's first ingest makes: ``default`` in the default
    organisation, else one named after the organisation (``app.ingest.claim_collection``
    names it so)."""
    org = who.user.org
    return DEFAULT_COLLECTION if org is None or org.lower() == DEFAULT_ORG else org


async def stats(ctx: Context, who: Principal) -> dict[str, Any]:
    out = await ctx.workers.on_catalog(lambda c: app_gallery.stats(ctx.store, c, who.user))
    return {**out, "model_id": ctx.workers.model_id}


# --- erasure -------------------------------------------------------------------------------


def _exclusive(ctx: Context, run: Callable[[Engine], T], what: str) -> Callable[[Engine], T]:
    """``run`` on the engine thread, refused (409) while an ingest runs: they would race."""
    workers = ctx.workers

    def exclusive(engine: Engine) -> T:
        if not workers.gallery_write.acquire(blocking=False):
            raise ConflictError(f"an ingest is running; {what} when it has finished")
        try:
            return run(engine)
        finally:
            workers.gallery_write.release()

    return exclusive


async def erase(ctx: Context, who: Principal, request: app.EraseRequest) -> dict[str, Any]:
    """Erase faces (409 while an ingest runs)."""
    request.check()
    out = await ctx.workers.on_engine(
        _exclusive(ctx, lambda e: app.erase(e, ctx.store, who.user, request).as_json(), "erase")
    )
    ctx.metrics.inc("facesearch_erasures_total")
    ctx.metrics.inc("facesearch_faces_erased_total", out["faces_removed"])
    return {**out, "images": [views.shown_source(s) for s in out["images"]]}


async def erasure_status(ctx: Context, who: Principal) -> dict[str, Any]:
    """The vector store's pending physical deletions (not logged: no personal data)."""
    return await ctx.workers.on_engine(
        lambda e: app.erasure_status(e, ctx.store, who.user).as_json()
    )


# --- people --------------------------------------------------------------------------------

Review = Literal["name", "merge", "split", "not"]
ReviewOperation = Callable[
    [Engine, Store, Actor, app_people.ReviewRequest], app_people.ReviewRecord
]
REVIEWS: dict[Review, ReviewOperation] = {
    "name": app_people.name_person,
    "merge": app_people.merge_persons,
    "split": app_people.split_person,
    "not": app_people.not_person,
}


async def people(
    ctx: Context, who: Principal, collection: str, page: tuple[int, int] | None = None
) -> app_people.PeopleRecord:
    """Every person of ``collection`` (one read, charged and logged; ``page``: the People
    page's, whose covers alone the read shows: ``app.people.list_people``)."""
    _charge_read(ctx, who)
    return await ctx.workers.on_engine(
        lambda e: app_people.list_people(e, ctx.store, who.user, collection, page=page)
    )


async def person(ctx: Context, who: Principal, person_id: int) -> app_people.PersonRecord:
    """One person and every face of it, the least certain first (one read, charged and
    logged; 404 for an unknown person)."""
    _charge_read(ctx, who)
    return await ctx.workers.on_engine(
        lambda e: app_people.show_person(e, ctx.store, who.user, person_id)
    )


async def people_built(ctx: Context, who: Principal, collection: str) -> bool:
    return await ctx.workers.on_engine(
        lambda e: app_people.people_built(e, ctx.store, who.user, collection)
    )


async def build_people(
    ctx: Context, who: Principal, request: app_people.BuildRequest
) -> app_people.BuildRecord:
    """Cluster the faces of a collection into persons (409 while an ingest runs)."""
    run = _exclusive(
        ctx, lambda e: app_people.build_people(e, ctx.store, who.user, request), "build people"
    )
    return await ctx.workers.on_engine(run)


async def review(
    ctx: Context, who: Principal, change: Review, request: app_people.ReviewRequest
) -> app_people.ReviewRecord:
    """A reviewer's change to a person (``REVIEWS``), audited by the app layer."""
    operation = REVIEWS[change]
    return await ctx.workers.on_engine(lambda e: operation(e, ctx.store, who.user, request))
