"""The supervisor's oversight of their organisation: the dashboard ``/oversight`` (its page,
with plots drawn on the server) and ``/api/v1/oversight`` (its JSON), and the alerts
``/api/v1/alerts``. For those with the SUPERVISE permission; read through ``app.oversight``."""

from __future__ import annotations

from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse

from facesearch.accountability import Permission
from facesearch.app import oversight
from facesearch.app.alerts import AlertRule
from facesearch.server.auth import Principal, needs
from facesearch.server.deps import Ctx
from facesearch.server.rendering import Page, page_for
from facesearch.server.svg_plots import day_bars, hour_bars

api = APIRouter(prefix="/api/v1", tags=["oversight"])
pages = APIRouter(include_in_schema=False)

_supervise = needs(Permission.SUPERVISE)
Supervisor = Annotated[Principal, Depends(_supervise)]
SupervisorPage = Annotated[Page, Depends(page_for(_supervise))]
Days = Annotated[
    int, Query(ge=1, le=oversight.MAX_DAYS, description="Calendar days back, today included")
]

# the entries an alert of each rule names: searches (their page), else audit entries
SEARCH_RULES = frozenset(
    {AlertRule.SEARCHES_PER_DAY, AlertRule.OUTSIDE_HOURS, AlertRule.PROBE_SEVERAL_CASES}
)


@api.get("/oversight", summary="Your organisation's oversight dashboard (supervisors)")
async def oversight_json(who: Supervisor, c: Ctx, days: Days = 28) -> dict[str, Any]:
    board = await anyio.to_thread.run_sync(
        lambda: oversight.dashboard(c.store, who.user, days=days)
    )
    return board.as_json()


@api.get("/alerts", summary="Your organisation's alerts, newest first (supervisors)")
async def alerts_json(who: Supervisor, c: Ctx, days: Days = 28) -> dict[str, Any]:
    found = await anyio.to_thread.run_sync(
        lambda: oversight.recent_alerts(c.store, who.user, days=days)
    )
    return {"days": days, "items": [a.as_json() for a in found]}


@pages.get("/oversight")
async def oversight_page(page: SupervisorPage, days: Days = 28) -> HTMLResponse:
    board = await anyio.to_thread.run_sync(
        lambda: oversight.dashboard(page.c.store, page.who.user, days=days)
    )
    limit = board.policy.max_searches_per_day
    return page.render(
        "oversight.html",
        board=board,
        days=days,
        user_plots={
            u.user: day_bars(u.per_day, board.days, limit=limit, label=f"searches of {u.user}")
            for u in board.users
        },
        hour_plot=hour_bars(board.by_hour, board.policy.hours(), label="searches by hour of day"),
        search_rules=SEARCH_RULES,
    )


router = APIRouter()
router.include_router(api)
router.include_router(pages)
