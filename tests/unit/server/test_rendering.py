"""rendering.page_for: a page route's Page comes after its role check, with that principal;
rendering.render: the error a page shows keeps its code for the templates;
rendering.optional_int: a number typed into a form field."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import anyio
import pytest
from fastapi import Request

from facesearch.errors import InputError, PermissionDeniedError
from facesearch.server.auth import Principal
from facesearch.server.rendering import optional_int, page_for


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


def test_a_training_refusal_links_to_the_training_page_and_the_nav_has_it(fake_homes: Any) -> None:
    """The error a page shows keeps its code for the template: a search refused for want of
    training says where to take it, and the navigation bar links there for whoever searches
    or verifies (an auditor does neither: no link)."""
    from fastapi.testclient import TestClient
    from tests.fakes import FakePipeline, face_photo

    from facesearch.server import create_app

    home = fake_homes("training-link", trained=False)
    html = {"Accept": "text/html"}
    with TestClient(create_app(home.settings, pipelines=FakePipeline)) as client:
        r = client.post(
            "/search",
            headers=home.auth("inv1") | html,
            files={"photo": ("p.png", face_photo(1, 0), "image/png")},
            data={"case": "K-1", "purpose": "training link"},
        )
        assert r.status_code == 403, r.text
        assert "must pass the training" in r.text
        assert 'role="alert">' in r.text
        assert 'Take it on the <a href="/training">Training page</a>.' in r.text
        page = client.get("/search", headers=home.auth("inv1") | html).text
        assert '<a href="/training" class="">Training</a>' in page
        audit = client.get("/audit", headers=home.auth("aud1") | html).text
        assert 'href="/training"' not in audit


def test_a_form_number_below_its_minimum_says_which_numbers_are_meant() -> None:
    """An image id of -4 said "image id must be a whole number": -4 is one."""
    assert optional_int(" 7 ", "image id") == 7 and optional_int("", "image id") is None
    for text in ("-4", "0", "x", "1234567"):
        with pytest.raises(InputError, match="image id must be a positive whole number"):
            optional_int(text, "image id")
    assert optional_int("0", "face", minimum=0) == 0  # a probe's faces are numbered from 0
    with pytest.raises(InputError, match="face must be a whole number from 0"):
        optional_int("-1", "face", minimum=0)
