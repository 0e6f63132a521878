"""Jinja filters for the pages: times and counts as people read them.

    {{ entry.time | when }}     2026-11-30 13:05:12 UTC   (from a datetime or an ISO string)
    {{ stats.faces | thousands }}   12,345

The JSON API keeps ISO 8601 times and plain numbers; only the pages format them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from jinja2 import Environment

from facesearch.reports.html import format_time


def when(value: datetime | str | None) -> str:
    """A time as ``YYYY-MM-DD HH:MM:SS UTC``; '' for none; the text itself if not a time."""
    if value is None or value == "":
        return ""
    try:
        return format_time(value)
    except (TypeError, ValueError):
        return str(value)


def thousands(value: Any) -> str:
    """A whole number with thousands separators (``12,345``); anything else as it is."""
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float) and value.is_integer():
        return f"{int(value):,}"
    return str(value)


def register(env: Environment) -> None:
    """Add the ``when`` and ``thousands`` filters to a Jinja environment (not ``count``:
    that name is Jinja's own length filter)."""
    env.filters["when"] = when
    env.filters["thousands"] = thousands
