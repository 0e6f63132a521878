"""The dependencies every route declares, once: who may call it, and the server's context.

    @api.get("/faces/{face_id:int}")
    async def get_face(face_id: int, who: Reader, c: Ctx) -> dict[str, Any]: ...

Each role dependency checks the login (401), the CSRF token of a browser's unsafe request
(403) and the permission (403, naming it), and gives the ``Principal``. The permissions of
each role are ``accountability.PERMISSIONS``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from facesearch.accountability import Permission
from facesearch.server.auth import Principal, authenticated, needs, needs_any
from facesearch.server.context import Context, ctx

__all__ = [
    "Admin",
    "Anyone",
    "Auditor",
    "CandidateReader",
    "Ctx",
    "Eraser",
    "Ingester",
    "Reader",
    "Reviewer",
    "SearchReader",
    "Searcher",
    "SettingsAdmin",
    "Verifier",
]

Ctx = Annotated[Context, Depends(ctx)]

Anyone = Annotated[Principal, Depends(authenticated)]
Searcher = Annotated[Principal, Depends(needs(Permission.SEARCH))]
Verifier = Annotated[Principal, Depends(needs(Permission.VERIFY))]
Reviewer = Annotated[Principal, Depends(needs(Permission.DECIDE))]
# Reading a search (its record, probe and candidates): reviewers, and auditors for oversight;
# which searches each may see is decided by app.reads.may_see_search.
SearchReader = Annotated[Principal, Depends(needs_any(Permission.DECIDE, Permission.READ_AUDIT))]
Reader = Annotated[Principal, Depends(needs(Permission.READ_GALLERY))]
# A candidate's crop or file: gallery readers, and auditors reaching it from a search they
# oversee (``?search=``; without it the read itself asks for read_gallery).
CandidateReader = Annotated[
    Principal, Depends(needs_any(Permission.READ_GALLERY, Permission.READ_AUDIT))
]
Eraser = Annotated[Principal, Depends(needs(Permission.ERASE))]
Ingester = Annotated[Principal, Depends(needs(Permission.INGEST))]
Admin = Annotated[Principal, Depends(needs(Permission.MANAGE_USERS))]
Auditor = Annotated[Principal, Depends(needs(Permission.READ_AUDIT))]
SettingsAdmin = Annotated[Principal, Depends(needs(Permission.MANAGE_SETTINGS))]
