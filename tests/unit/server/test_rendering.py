"""rendering.page_for: a page route's Page comes after its role check, with that principal."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import anyio
import pytest
from fastapi import Request

from facesearch.errors import PermissionDeniedError
from facesearch.server.auth import Principal
from facesearch.server.rendering import page_for


def _request(context: object) -> Request:
    return cast(Request, SimpleNamespace(app=SimpleNamespace(state=SimpleNamespace(ctx=context))))


def test_the_page_carries_the_request_the_checked_principal_and_the_context() -> None:
    who = cast(Principal, object())
    context = object()
    request = _request(context)

    async def role(r: Request) -> Principal:
        assert r is request
        return who

    page = anyio.run(page_for(role), request)
    assert (page.request, page.who, page.c) == (request, who, context)


def test_a_refused_role_gives_no_page() -> None:
    async def role(r: Request) -> Any:
        raise PermissionDeniedError("no")

    with pytest.raises(PermissionDeniedError):
        anyio.run(page_for(role), _request(object()))
