"""Gallery listings and the preview of an erasure "like this photo", as the server's adapter
over ``app.browse`` (the API and the pages both use these): each runs in the right worker
lane; a listing is charged to the reader's read budget (429 when spent) and logged by the
app layer, as is the preview."""

from __future__ import annotations

from facesearch import app
from facesearch.accountability import Permission
from facesearch.app import browse as app_browse
from facesearch.server.auth import Principal
from facesearch.server.context import Context
from facesearch.server.services import take_read

__all__ = ["browse", "erase_preview"]


async def browse(
    ctx: Context, who: Principal, request: app_browse.BrowseRequest
) -> app_browse.BrowseRecord:
    """One page of faces, images or subjects (one read, charged and logged)."""
    app.allow(who.user, Permission.READ_GALLERY)  # refused uncharged
    request.check()
    take_read(ctx, who)
    return await ctx.workers.on_catalog(
        lambda catalog: app_browse.browse(ctx.store, catalog, who.user, request)
    )


async def erase_preview(
    ctx: Context, who: Principal, photo: bytes, max_fmr: float | None, case: str | None
) -> app_browse.ErasePreview:
    """The faces an erasure like ``photo`` would remove now (erasers; logged)."""
    app.allow(who.user, Permission.ERASE)
    return await ctx.workers.on_engine(
        lambda e: app_browse.erase_preview(
            e, ctx.store, who.user, photo, max_fmr=max_fmr, case=case
        ),
        analysis_by=who.name,
    )
