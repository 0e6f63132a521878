"""The routes, one module per resource; each serves its JSON (under ``/api/v1``) and its page.

    login.py          /login, /logout, /                       (pages)
    searches.py       detect, searches, probe, candidates, decisions; the search, result and
                      candidate pages
    verifications.py  1:1 verifications; the Verify page
    gallery.py        faces, images, subjects, collections, stats, erasures; the Gallery page
    browse.py         faces, images, subjects a page at a time; their pages, an image's page
    forget.py         erase by photo in two steps (what will go, then erase); its pages
    ingest.py         ingest jobs; the Ingest pages
    people.py         persons of a collection: build, read, name, merge, split, not this
                      person; the People and person pages
    users.py          users, tokens, me; the Users page
    orgs.py           organisations, their policies, collection shares; the Organisations page
    cases.py          the case registry: list, open, close, add members
    case_pages.py     a case's timeline (JSON and page), the Cases page, the case report
    oversight.py      a supervisor's dashboard of their organisation (JSON, page), alerts
    approvals.py      search requests a supervisor approves or denies; the Approvals page
    audit.py          the audit trail; the Audit page
    training.py       the training and its quiz; the Training page
    system.py         /health, /metrics, /openapi.json, /docs, settings

Who may call each route is declared with the dependencies of ``server/deps.py``; what a route
does goes through ``server/services.py`` or ``facesearch.app``, never a store.
"""

from fastapi import APIRouter

from facesearch.server.routes import (
    approvals,
    audit,
    browse,
    case_pages,
    cases,
    forget,
    gallery,
    ingest,
    login,
    orgs,
    oversight,
    people,
    searches,
    system,
    training,
    users,
    verifications,
)

ROUTERS: tuple[APIRouter, ...] = (
    system.router,
    searches.router,
    verifications.router,
    gallery.router,
    browse.router,
    forget.pages,
    people.router,
    ingest.router,
    users.router,
    orgs.router,
    cases.router,
    case_pages.router,
    oversight.router,
    approvals.router,
    audit.router,
    training.router,
    login.router,
)

__all__ = ["ROUTERS"]
