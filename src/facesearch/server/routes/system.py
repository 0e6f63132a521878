"""Health, metrics, the API description and the settings.

``/health`` answers without login (for load balancers; it says nothing about the gallery):
``{"status": "ok", "version", "storage": {"writable", "free_bytes", "min_free_bytes"}}``, or
503 with ``"status": "unavailable"`` and a ``"reason"`` when the home folder cannot be written
or its disk has less than ``settings.server.min_free_bytes`` free.
``/metrics`` (Prometheus text) is for admins and auditors, e.g. a scraper with an admin's API
token; once several organisations share the deployment, for the platform operator only (the
counters are every organisation's together). ``/openapi.json`` and ``/docs`` (a page rendered
here from the OpenAPI document, with no script from elsewhere) are for any logged-in user.
``/api/v1/settings`` (read-only) is for those who may manage settings; an organisation's admin
(not the host's) is not shown where the deployment keeps its files or which machines it uses.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse

from facesearch import __version__
from facesearch.accountability import Permission
from facesearch.accountability.permissions import DEFAULT_ORG
from facesearch.app import accounts
from facesearch.app.alerts import alert_rules
from facesearch.errors import PermissionDeniedError
from facesearch.server.deps import Anyone, Ctx, SettingsAdmin
from facesearch.settings import Settings

router = APIRouter()


@router.get(
    "/health",
    tags=["system"],
    summary="Liveness and storage (no login needed); 503 when the home cannot take writes",
    responses={503: {"description": "Storage problem: the home is not writable or nearly full"}},
)
async def health(c: Ctx) -> JSONResponse:
    storage = await anyio.to_thread.run_sync(
        check_storage, c.settings.home, c.settings.server.min_free_bytes
    )
    body: dict[str, Any] = {"status": "ok", "version": __version__, "storage": storage}
    problems = storage_problems(storage)
    if problems:
        body["status"] = "unavailable"
        body["reason"] = "; ".join(problems)
    return JSONResponse(body, status_code=503 if problems else 200)


def check_storage(home: Path, min_free_bytes: int) -> dict[str, Any]:
    """Whether a file can be created in ``home`` (a tiny temporary one, removed at once) and
    how many bytes its file system has free. Cheap: a create, an unlink and a statvfs."""
    writable, error = True, None
    try:
        fd, name = tempfile.mkstemp(prefix=".health-", dir=home)
        os.close(fd)
        os.unlink(name)
    except OSError as exc:
        writable, error = False, exc.strerror or type(exc).__name__
    try:
        free: int | None = shutil.disk_usage(home).free
    except OSError:
        free = None
    out: dict[str, Any] = {
        "writable": writable,
        "free_bytes": free,
        "min_free_bytes": min_free_bytes,
    }
    if error is not None:
        out["error"] = error
    return out


def storage_problems(storage: dict[str, Any]) -> list[str]:
    """Why the home cannot take writes, in words; empty when it can."""
    problems = []
    if not storage["writable"]:
        problems.append(f"the home folder is not writable ({storage.get('error', 'unknown')})")
    free = storage["free_bytes"]
    if free is None:
        problems.append("the free space of the home's disk cannot be read")
    elif free < storage["min_free_bytes"]:
        problems.append(
            f"the home's disk has {free:,} bytes free, under the minimum of "
            f"{storage['min_free_bytes']:,}"
        )
    return problems


@router.get(
    "/metrics", tags=["system"], response_class=PlainTextResponse, summary="Prometheus metrics"
)
async def metrics(who: Anyone, c: Ctx) -> PlainTextResponse:
    operator = who.can(Permission.MANAGE_ORGS)
    if not (operator or who.can(Permission.MANAGE_SETTINGS) or who.can(Permission.READ_AUDIT)):
        raise PermissionDeniedError(f"{who.name} ({who.user.role.value}) may not read the metrics")
    if not operator and len(await anyio.to_thread.run_sync(c.store.orgs.all)) > 1:
        raise PermissionDeniedError(  # the counters are every organisation's together
            "several organisations share this deployment: its metrics count them all and are "
            "the platform operator's"
        )
    try:
        faces: int | None = await c.workers.faces_held()
    except Exception:
        faces = None
    await anyio.to_thread.run_sync(
        lambda: c.metrics.catch_up(
            "facesearch_alerts_total", "rule", lambda n: alert_rules(c.store, after=n)
        )
    )
    return PlainTextResponse(
        c.metrics.render(faces), media_type="text/plain; version=0.0.4; charset=utf-8"
    )


@router.get("/openapi.json", include_in_schema=False)
async def openapi(request: Request, who: Anyone) -> dict[str, Any]:
    schema: dict[str, Any] = request.app.openapi()
    return schema


@router.get("/docs", response_class=HTMLResponse, include_in_schema=False)
async def docs(request: Request, who: Anyone, c: Ctx) -> HTMLResponse:
    return _docs_page(request, who, c)


@router.post("/docs/token", response_class=HTMLResponse, include_in_schema=False)
async def docs_token(request: Request, who: Anyone, c: Ctx) -> HTMLResponse:
    """Issue the signed-in user an API token and show it once on the API page (each user
    issues their own: ``app.accounts.issue_token``)."""
    issued = await anyio.to_thread.run_sync(
        lambda: accounts.issue_token(c.store, who.user, who.name, presented=who.presented)
    )
    return _docs_page(request, who, c, token=issued.token)


def _docs_page(request: Request, who: Any, c: Any, token: str | None = None) -> HTMLResponse:
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
            "token": token,
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


@router.get("/api/v1/settings", tags=["settings"], summary="The server's settings (read-only)")
async def get_settings(who: SettingsAdmin, c: Ctx) -> dict[str, Any]:
    items = []
    host = who.user.org is None or who.user.org.lower() == DEFAULT_ORG
    for key, (env, _, doc) in zip(Settings.keys(), Settings.describe(), strict=True):
        value = c.settings.shown_value(key, host=host)  # no password; paths: the host's
        items.append(
            {
                "name": key,
                "env": env,
                "value": value if isinstance(value, int | float | bool) else str(value),
                "doc": doc,
            }
        )
    return {
        "items": items,
        "note": "Settings come from FACESEARCH_* environment variables; restart to change them.",
    }
