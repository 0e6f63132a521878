"""Health, metrics and the API description.

``/health`` answers without login (for load balancers; it says nothing about the gallery).
``/metrics`` (Prometheus text) is for admins and auditors, e.g. a scraper with an admin's API
token. ``/openapi.json`` and ``/docs`` (a page rendered here from the OpenAPI document, with
no script from elsewhere) are for any logged-in user.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, PlainTextResponse

from facesearch import __version__
from facesearch.accountability import Permission
from facesearch.errors import PermissionDeniedError
from facesearch.server.auth import Principal, authenticated
from facesearch.server.context import Context, ctx

router = APIRouter(tags=["system"])

Anyone = Annotated[Principal, Depends(authenticated)]
Ctx = Annotated[Context, Depends(ctx)]


@router.get("/health", summary="Liveness (no login needed)")
async def health() -> dict[str, Any]:
    return {"status": "ok", "version": __version__}


@router.get("/metrics", response_class=PlainTextResponse, summary="Prometheus metrics")
async def metrics(who: Anyone, c: Ctx) -> PlainTextResponse:
    if not (who.can(Permission.MANAGE_SETTINGS) or who.can(Permission.READ_AUDIT)):
        raise PermissionDeniedError(f"{who.name} ({who.user.role.value}) may not read metrics")
    try:
        faces = int((await c.workers.on_catalog(lambda cat: cat.stats())).get("faces", 0))
    except Exception:
        faces = None
    return PlainTextResponse(
        c.metrics.render(faces), media_type="text/plain; version=0.0.4; charset=utf-8"
    )


@router.get("/openapi.json", include_in_schema=False)
async def openapi(request: Request, who: Anyone) -> dict[str, Any]:
    schema: dict[str, Any] = request.app.openapi()
    return schema


@router.get("/docs", response_class=HTMLResponse, include_in_schema=False)
async def docs(request: Request, who: Anyone, c: Ctx) -> HTMLResponse:
    schema = request.app.openapi()
    operations = []
    for path, methods in schema.get("paths", {}).items():
        for method, op in methods.items():
            params = [
                {
                    "name": p["name"],
                    "in": p["in"],
                    "required": p.get("required", False),
                    "doc": p.get("description", ""),
                }
                for p in op.get("parameters", [])
            ]
            body = _body_fields(schema, op)
            operations.append(
                {
                    "method": method.upper(),
                    "path": path,
                    "summary": op.get("summary", ""),
                    "tag": (op.get("tags") or ["other"])[0],
                    "params": params,
                    "body": body,
                    "responses": sorted(op.get("responses", {})),
                }
            )
    response: HTMLResponse = c.templates.TemplateResponse(
        request,
        "docs.html",
        {
            "principal": who,
            "operations": operations,
            "title": schema["info"]["title"],
            "version": schema["info"]["version"],
        },
    )
    return response


def _body_fields(schema: dict[str, Any], op: dict[str, Any]) -> list[dict[str, Any]]:
    content = op.get("requestBody", {}).get("content", {})
    for media, spec in content.items():
        ref = spec.get("schema", {}).get("$ref", "")
        target = schema.get("components", {}).get("schemas", {}).get(ref.rsplit("/", 1)[-1], {})
        required = set(target.get("required", []))
        return [
            {
                "name": name,
                "media": media,
                "required": name in required,
                "doc": prop.get("description", ""),
                "file": _is_file(prop),
            }
            for name, prop in target.get("properties", {}).items()
        ]
    return []


def _is_file(prop: dict[str, Any]) -> bool:
    text = str(prop)
    return "binary" in text
