"""People: the persons a collection's faces were grouped into, and their review; as JSON
under ``/api/v1`` and as the People and person pages.

Reading the people of a collection or one person is a read of personal data (an audit entry,
action ``read``, what ``people`` or ``person``; one of the reader's
``server_read_rate_limit`` reads a minute). Building a collection's people and each review
change (name, merge, split, "not this person") is its own audit entry, made by
``app.people``; admins and investigators may make them (permission ``curate``), auditors
may not. The crops and photos the pages (and the JSON) show are the gallery's links with the
read's entry: ``/api/v1/faces/{id}/crop?people_read=SEQ``, ``/api/v1/images/{id}/file?
people_read=SEQ``. They are part of that read, neither charged nor logged again: a page of 48
persons is one read, not 49 (``app.people_reads``: for the user who read the page, within an
hour of it, of the faces it showed still held and in reach -- a People page's covers, a
person page's faces, the faces the JSON list listed; 404 otherwise). Each render of a page is
its own read, and its links name that render's entry.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from facesearch.app import people as app_people
from facesearch.errors import FaceSearchError, InputError, NotFoundError
from facesearch.server import gallery_services
from facesearch.server.deps import Ctx, Curator, CuratorPage, Reader, ReaderPage
from facesearch.server.rendering import Page, optional_int
from facesearch.server.views import API, shown_source
from facesearch.types import MAX_ID, MAX_NAME_CHARS

api = APIRouter(prefix="/api/v1", tags=["people"])
pages = APIRouter(include_in_schema=False)

PAGE_SIZE = 48  # persons a page of the People grid shows (one read, its cover crops part of it)
FACES_PER_PAGE = 60  # faces a page of a person shows
CollectionQuery = Annotated[
    str, Query(min_length=1, max_length=200, description="The collection (default: default).")
]
PersonId = Annotated[int, Form(ge=1, le=MAX_ID)]
FaceIds = Annotated[list[int], Form(description="Face ids (repeatable).")]


def person_view(person: app_people.PersonRecord, read: int | None = None) -> dict[str, Any]:
    """A person as the API shows it: ``PersonRecord.as_json`` in detail (faces the least
    certain first, sources as file names) with its count and links; ``read``: the entry of
    the read that shows it, which its crop and photo links name (part of that read)."""
    out = person.as_json(shown_source, detail=True)
    part = "" if read is None else f"?people_read={read}"
    out["count"] = len(person.faces)
    out["links"] = {
        "self": f"{API}/people/{person.person}",
        "cover_crop": f"{API}/faces/{person.cover.face_id}/crop{part}",
    }
    for face, shown in zip(person.faces, out["faces"], strict=True):
        shown["links"] = {
            "crop": f"{API}/faces/{face.face_id}/crop{part}",
            "image": f"{API}/images/{face.image_id}/file{part}",
        }
    return out


def review_view(record: app_people.ReviewRecord) -> dict[str, Any]:
    return {"id": record.id, "action": record.action, "person": person_view(record.person)}


# --- JSON ----------------------------------------------------------------------------------------


@api.get("/people", summary="The persons of a collection (cover face, count, name)")
async def list_people(
    who: Reader, c: Ctx, collection: CollectionQuery = "default"
) -> dict[str, Any]:
    found = await gallery_services.people(c, who, collection)
    return {
        "id": found.id,
        "collection": found.collection,
        "people": [person_view(p, found.id) for p in found.people],
    }


@api.get("/people/{person_id:int}", summary="A person and every face of it, least certain first")
async def get_person(person_id: int, who: Reader, c: Ctx) -> dict[str, Any]:
    """``read``: this read's audit entry, which the crop and photo links name."""
    record = await gallery_services.person(c, who, person_id)
    return {"read": record.read, **person_view(record, record.read)}


@api.post("/people/build", summary="Group the faces of a collection into persons")
async def build_people(
    who: Curator,
    c: Ctx,
    collection: Annotated[str, Form(min_length=1, max_length=200)] = "default",
) -> dict[str, Any]:
    built = await gallery_services.build_people(c, who, app_people.BuildRequest(collection))
    return built.as_json()


@api.post("/people/{person_id:int}/name", summary="Name a person (an empty name unnames it)")
async def name_person(
    person_id: int,
    who: Curator,
    c: Ctx,
    name: Annotated[str | None, Form(max_length=MAX_NAME_CHARS)] = None,
) -> dict[str, Any]:
    request = app_people.ReviewRequest(person_id, name=(name or "").strip() or None)
    return review_view(await gallery_services.review(c, who, "name", request))


@api.post("/people/{person_id:int}/merge", summary="Merge another person into this one")
async def merge_persons(person_id: int, who: Curator, c: Ctx, other: PersonId) -> dict[str, Any]:
    request = app_people.ReviewRequest(person_id, other=other)
    return review_view(await gallery_services.review(c, who, "merge", request))


@api.post("/people/{person_id:int}/split", summary="Move faces off a person into a new person")
async def split_person(person_id: int, who: Curator, c: Ctx, face_id: FaceIds) -> dict[str, Any]:
    request = app_people.ReviewRequest(person_id, face_ids=tuple(face_id))
    return review_view(await gallery_services.review(c, who, "split", request))


@api.post("/people/{person_id:int}/not", summary="A face is not this person (remembered)")
async def not_person(
    person_id: int, who: Curator, c: Ctx, face_id: Annotated[int, Form(ge=1, le=MAX_ID)]
) -> dict[str, Any]:
    request = app_people.ReviewRequest(person_id, face_ids=(face_id,))
    return review_view(await gallery_services.review(c, who, "not", request))


# --- pages ---------------------------------------------------------------------------------------


@pages.get("/people")
async def people_page(
    page: ReaderPage,
    collection: Annotated[str, Query(max_length=200)] = "",
    at: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
) -> HTMLResponse:
    return await _people_page(page, collection, at)


async def _people_page(
    page: Page, collection: str, at: int = 1, status: int = 200, **values: Any
) -> HTMLResponse:
    c, who = page.c, page.who
    collections = await gallery_services.collections(c, who)
    names = [info.name for info in collections]
    chosen = collection or ("default" if "default" in names or not names else names[0])
    if chosen not in names and (names or collection):  # none at all: the page says so
        raise NotFoundError(f"no collection named {chosen!r}")
    total, pages, shown, asked = 0, 1, list[app_people.PersonRecord](), at
    read: int | None = None  # this render's read: its cover crops are part of it
    built = bool(names) and await gallery_services.people_built(c, who, chosen)
    at = 1
    if built:
        found = await gallery_services.people(c, who, chosen, page=(asked, PAGE_SIZE))
        assert found.page is not None
        # past the last page: the last (it said "Persons 47,999,905–47,999,904")
        at, pages, shown = found.page.at, found.page.pages, list(found.page.persons)
        total, read = len(found.people), found.id
    first = (at - 1) * PAGE_SIZE
    return page.render(
        "people.html",
        status,
        collections=collections,
        collection=chosen,
        own=await _owns(page, chosen),
        built=built,  # a build of no faces (all erased since) is built, not "not yet"
        total=total,
        shown=shown,
        first=first,
        at=at,
        pages=pages,
        read=read,
        **values,
    )


@pages.post("/people/build")
async def people_build(
    page: CuratorPage, collection: Annotated[str, Form(max_length=200)] = ""
) -> Response:
    try:
        built = await gallery_services.build_people(
            page.c, page.who, app_people.BuildRequest(collection or "default")
        )
    except FaceSearchError as exc:
        return await _people_page(page, collection, error=exc)
    return await _people_page(page, built.summary.collection, build=built)


@pages.get("/people/{person_id:int}")
async def person_page(
    person_id: int,
    page: ReaderPage,
    done: Annotated[str, Query(max_length=20)] = "",
    new: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    at: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
) -> HTMLResponse:
    return await _person_page(page, person_id, done=done, new=new, at=at)


async def _person_page(
    page: Page,
    person_id: int,
    error: FaceSearchError | None = None,
    at: int = 1,
    **values: Any,
) -> HTMLResponse:
    """A person's faces, FACES_PER_PAGE a page (a person of 537 faces on one page, each crop
    then a read of its own, ran into the read rate limit, and its crops failed with 429; the
    crops are now part of the page's read, and a page stays a size a browser loads)."""
    person = await gallery_services.person(page.c, page.who, person_id)
    view = person_view(person, person.read)
    pages = max(1, -(-len(view["faces"]) // FACES_PER_PAGE))
    at = min(at, pages)  # past the last page (a person split meanwhile): the last
    first = (at - 1) * FACES_PER_PAGE
    return page.render(
        "person.html",
        person=view,
        own=await _owns(page, person.collection),
        max_name=MAX_NAME_CHARS,
        shown=view["faces"][first : first + FACES_PER_PAGE],
        first=first,
        at=at,
        pages=pages,
        error=error,
        **values,
    )


async def _owns(page: Page, collection: str) -> bool:
    """Whether the user's organisation owns ``collection``, so may build and review its
    persons: a collection shared with it is read-only (the pages offered the forms, and
    each answered "no person with id N" under the person it showed)."""
    return collection in {c.name for c in await gallery_services.own_collections(page.c, page.who)}


async def _review_page(
    page: Page, person_id: int, change: gallery_services.Review, request: app_people.ReviewRequest
) -> Response:
    """Make a change from the person page; back to the person it leaves, or the page with
    the error."""
    try:
        record = await gallery_services.review(page.c, page.who, change, request)
    except FaceSearchError as exc:
        return await _person_page(page, person_id, exc)
    shown = request.person if change in ("name", "merge") else person_id
    target = f"/people/{shown}?done={change}"
    if change in ("split", "not"):
        target += f"&new={record.person.person}"
    return RedirectResponse(target, status_code=303)


@pages.post("/people/{person_id:int}/name")
async def person_name(
    person_id: int, page: CuratorPage, name: Annotated[str, Form(max_length=MAX_NAME_CHARS)] = ""
) -> Response:
    request = app_people.ReviewRequest(person_id, name=name.strip() or None)
    return await _review_page(page, person_id, "name", request)


@pages.post("/people/{person_id:int}/merge")
async def person_merge(
    person_id: int, page: CuratorPage, into: Annotated[str, Form(max_length=20)] = ""
) -> Response:
    """Merge this person into the person ``into`` (which keeps its id and name)."""
    try:
        target = optional_int(into.strip().lstrip("#"), "the person to merge into")
        if target is None:
            raise InputError("give the number of the person to merge into")
    except InputError as exc:
        return await _person_page(page, person_id, exc)
    request = app_people.ReviewRequest(target, other=person_id)
    return await _review_page(page, person_id, "merge", request)


@pages.post("/people/{person_id:int}/split")
async def person_split(
    person_id: int,
    page: CuratorPage,
    face_id: Annotated[list[int] | None, Form()] = None,
) -> Response:
    request = app_people.ReviewRequest(person_id, face_ids=tuple(face_id or ()))
    return await _review_page(page, person_id, "split", request)


@pages.post("/people/{person_id:int}/not")
async def person_not(
    person_id: int, page: CuratorPage, face_id: Annotated[int, Form(ge=1, le=MAX_ID)]
) -> Response:
    request = app_people.ReviewRequest(person_id, face_ids=(face_id,))
    return await _review_page(page, person_id, "not", request)


router = APIRouter()
router.include_router(api)
router.include_router(pages)
