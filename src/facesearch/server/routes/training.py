"""The training before a first search: its page (``/training``: the course and the quiz form)
and its JSON (``/api/v1/training``: where you stand and the questions; ``/api/v1/training/quiz``:
your answers). Open to every signed-in user; each attempt is an audit entry written by
``app.training``. The look-alike photos, when LFW is on the server, are embedded in the page
as data: URLs (no route serves files by path). The course's gallery size is the number of faces
the user's searches compare against (``app.training.training_course``: the collections their
organisation sees), never the deployment's count."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import anyio
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from facesearch.app import training
from facesearch.errors import FaceSearchError, InputError
from facesearch.server.auth import Principal, authenticated
from facesearch.server.context import Context
from facesearch.server.deps import Anyone, Ctx
from facesearch.server.rendering import Page, page_for

api = APIRouter(prefix="/api/v1", tags=["training"])
pages = APIRouter(include_in_schema=False)
AnyonePage = Annotated[Page, Depends(page_for(authenticated))]

T = TypeVar("T")


async def _blocking(fn: Callable[[], T]) -> T:
    return await anyio.to_thread.run_sync(fn)


async def _answers(request: Request) -> list[int]:
    """The chosen choice of each question, from the form fields q1 .. q5 (0-based indexes);
    InputError naming the first question left unanswered or answered with no number."""
    form = await request.form()
    answers = []
    for number in range(1, len(training.QUIZ) + 1):
        value = form.get(f"q{number}")
        if not isinstance(value, str) or not value.strip():
            raise InputError(f"answer every question: question {number} has no answer")
        text = value.strip()
        # ASCII digits only: "²" is a digit to str.isdigit() but not to int() (a 500 before)
        if not (text.isascii() and text.isdigit()) or len(text) > 2:
            raise InputError(f"question {number}: the answer is the number of a choice")
        answers.append(int(text))
    return answers


async def _status(c: Context, who: Principal) -> training.TrainingStatus:
    return await _blocking(lambda: training.training_status(c.store, c.settings, who.user))


async def training_due(c: Context, who: Principal) -> bool:
    """Whether ``who`` must pass the training before searching or verifying (the Search and
    Verify pages say so before the form is filled in, not after)."""
    status = await _status(c, who)
    return status.required and not status.current


# --- JSON ----------------------------------------------------------------------------------


@api.get("/training", summary="Your training: passed when, valid until, required; the quiz")
async def training_status(who: Anyone, c: Ctx) -> dict[str, Any]:
    status = await _status(c, who)
    return {
        **status.as_json(),
        "quiz": [q.as_json() for q in training.QUIZ],
        "links": {"quiz": "/api/v1/training/quiz", "page": "/training"},
    }


@api.post(
    "/training/quiz",
    summary="Answer the quiz (form fields q1..q5: the 0-based number of each chosen choice)",
)
async def submit_quiz(request: Request, who: Anyone, c: Ctx) -> dict[str, Any]:
    answers = await _answers(request)
    result = await _blocking(lambda: training.submit_quiz(c.store, c.settings, who.user, answers))
    return result.as_json()


# --- the Training page ---------------------------------------------------------------------


def _data_url(jpeg: bytes | None) -> str | None:
    return None if jpeg is None else "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()


async def _page(page: Page, status_code: int = 200, **values: Any) -> HTMLResponse:
    c, who = page.c, page.who
    content = await c.workers.on_catalog(
        lambda catalog: training.training_course(c.store, catalog, c.settings, who.user)
    )
    photos = [(_data_url(p.photo_a), _data_url(p.photo_b)) for p in content.lookalikes]
    values.setdefault("chosen", {})
    return page.render(
        "training.html",
        status_code,
        content=content,
        photos=photos,
        quiz=training.QUIZ,
        status=await _status(c, who),
        **values,
    )


@pages.get("/training")
async def training_page(page: AnyonePage) -> HTMLResponse:
    return await _page(page)


@pages.post("/training")
async def training_answers(page: AnyonePage) -> HTMLResponse:
    form = await page.request.form()
    chosen = {k: v for k, v in form.items() if k.startswith("q") and isinstance(v, str)}
    try:
        answers = await _answers(page.request)
        c, user = page.c, page.who.user
        result = await _blocking(lambda: training.submit_quiz(c.store, c.settings, user, answers))
    except FaceSearchError as exc:
        return await _page(page, error=exc, chosen=chosen)
    return await _page(page, result=result, chosen={} if result.passed else chosen)


router = APIRouter()
router.include_router(api)
router.include_router(pages)
