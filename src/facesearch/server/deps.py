"""The dependencies every route declares, once: who may call it, and the server's context.

    @api.get("/faces/{face_id:int}")
    async def get_face(face_id: int, who: Reader, c: Ctx) -> dict[str, Any]: ...

    @pages.get("/gallery")
    async def gallery_page(page: ReaderPage) -> HTMLResponse: ...

Each role dependency checks the login (401), the CSRF token of a browser's unsafe request
(403) and the permission (403, naming it), and gives the ``Principal``; its ``...Page`` twin
gives a page route the ``Page`` (request, principal, context) after the same checks. The
permissions of each role are ``accountability.PERMISSIONS``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from facesearch.accountability import Permission
from facesearch.server.auth import Principal, authenticated, needs, needs_any
from facesearch.server.context import Context, ctx
from facesearch.server.rendering import Page, page_for

__all__ = [
    "Admin",
    "AdminPage",
    "Anyone",
    "Auditor",
    "AuditorPage",
    "CandidateReader",
    "CaseOpener",
    "CaseOpenerPage",
    "Ctx",
    "Curator",
    "CuratorPage",
    "Eraser",
    "EraserPage",
    "Ingester",
    "IngesterPage",
    "Operator",
    "PolicySetter",
    "PolicySetterPage",
    "Reader",
    "ReaderPage",
    "Reviewer",
    "ReviewerPage",
    "SearchReader",
    "SearchReaderPage",
    "Searcher",
    "SearcherPage",
    "SettingsAdmin",
    "Sharer",
    "Verifier",
    "VerifierPage",
]

Ctx = Annotated[Context, Depends(ctx)]

_search = needs(Permission.SEARCH)
_decide = needs(Permission.DECIDE)
# Reading a search (its record, probe and candidates): reviewers, and auditors for oversight;
# which searches each may see is decided by app.reads.may_see_search.
_read_search = needs_any(Permission.DECIDE, Permission.READ_AUDIT, doing="read searches")
_read_gallery = needs(Permission.READ_GALLERY)
_erase = needs(Permission.ERASE)
_curate = needs(Permission.CURATE)  # build a collection's people, review them
_ingest = needs(Permission.INGEST)
_manage_users = needs(Permission.MANAGE_USERS)
_read_audit = needs(Permission.READ_AUDIT)
_verify = needs(Permission.VERIFY)

Anyone = Annotated[Principal, Depends(authenticated)]
Searcher = Annotated[Principal, Depends(_search)]
Verifier = Annotated[Principal, Depends(_verify)]
Reviewer = Annotated[Principal, Depends(_decide)]
SearchReader = Annotated[Principal, Depends(_read_search)]
Reader = Annotated[Principal, Depends(_read_gallery)]
# A candidate's crop or file: gallery readers, and auditors reaching it from a search they
# oversee (``?search=``; without it the read itself asks for read_gallery).
CandidateReader = Annotated[
    Principal,
    Depends(needs_any(Permission.READ_GALLERY, Permission.READ_AUDIT, doing="read gallery faces")),
]
Eraser = Annotated[Principal, Depends(_erase)]
Curator = Annotated[Principal, Depends(_curate)]
Ingester = Annotated[Principal, Depends(_ingest)]
Admin = Annotated[Principal, Depends(_manage_users)]
Auditor = Annotated[Principal, Depends(_read_audit)]
SettingsAdmin = Annotated[Principal, Depends(needs(Permission.MANAGE_SETTINGS))]
Operator = Annotated[Principal, Depends(needs(Permission.MANAGE_ORGS))]
_open_cases = needs_any(Permission.MANAGE_USERS, Permission.SEARCH, doing="open cases")
CaseOpener = Annotated[Principal, Depends(_open_cases)]
PolicySetter = Annotated[Principal, Depends(needs(Permission.SET_POLICY))]
Sharer = Annotated[Principal, Depends(needs(Permission.SHARE))]

SearcherPage = Annotated[Page, Depends(page_for(_search))]
VerifierPage = Annotated[Page, Depends(page_for(_verify))]
ReviewerPage = Annotated[Page, Depends(page_for(_decide))]
SearchReaderPage = Annotated[Page, Depends(page_for(_read_search))]
ReaderPage = Annotated[Page, Depends(page_for(_read_gallery))]
EraserPage = Annotated[Page, Depends(page_for(_erase))]
CuratorPage = Annotated[Page, Depends(page_for(_curate))]
IngesterPage = Annotated[Page, Depends(page_for(_ingest))]
AdminPage = Annotated[Page, Depends(page_for(_manage_users))]
AuditorPage = Annotated[Page, Depends(page_for(_read_audit))]
PolicySetterPage = Annotated[Page, Depends(page_for(needs(Permission.SET_POLICY)))]
CaseOpenerPage = Annotated[Page, Depends(page_for(_open_cases))]
