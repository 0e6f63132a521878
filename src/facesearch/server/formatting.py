"""Jinja filters for the pages: times and counts as people read them.

    {{ entry.time | when }}       2026-11-30 13:05:12 UTC   (a datetime or an ISO string)
    {{ entry.time | localtime }}  <time datetime="2026-11-30T13:05:12Z">(the same)</time>
    {{ stats.faces | thousands }}  12,345
    {{ hit.fmr | fmr_short(hit.fmr_words) }}   ≈ 1 in 12,000

``localtime`` is what pages show: ``static/local-time.js`` rewrites each ``<time>`` into the
reader's own time zone, and without JavaScript the UTC text stays. The JSON API keeps ISO 8601
times and plain numbers; only the pages format them.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment
from markupsafe import Markup, escape

from facesearch.reports.html import format_time


def when(value: datetime | str | None) -> str:
    """A time as ``YYYY-MM-DD HH:MM:SS UTC``; '' for none; the text itself if not a time."""
    if value is None or value == "":
        return ""
    try:
        return format_time(value)
    except (TypeError, ValueError):
        return str(value)


def localtime(value: datetime | str | None) -> Markup:
    """A ``<time>`` element: its ``datetime`` the UTC instant (a time without a zone is taken
    as UTC), its text ``when(value)`` for the script to replace; the text alone (escaped)
    when ``value`` is not a time."""
    if value is None or value == "":
        return Markup("")
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else value
        if not isinstance(moment, datetime):
            raise TypeError(value)
    except (TypeError, ValueError):
        return Markup(escape(str(value)))
    moment = moment.astimezone(UTC) if moment.tzinfo is not None else moment
    iso = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    return Markup('<time datetime="{}">{}</time>').format(iso, format_time(moment))


def thousands(value: Any) -> str:
    """A whole number with thousands separators (``12,345``); anything else as it is."""
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float) and value.is_integer():
        return f"{int(value):,}"
    return str(value)


def fmr_short(fmr: float, words: str = "") -> str:
    """A false match rate in a few characters for a candidate card: ``≈ 1 in 12,000``;
    ``< 1 in 1,000,000`` where the words (``describe_fmr``) say it is below the table's
    floor, ``≥ 1 in 2`` from one in two up."""
    if not isinstance(fmr, (int, float)) or math.isnan(fmr) or fmr <= 0:
        return "–"
    if fmr >= 0.5:
        return "≥ 1 in 2"
    floor = _FLOOR.match(words)
    if floor:  # below what the table claims: its floor, as the words give it
        return f"< 1 in {floor.group(1)}"
    return f"≈ 1 in {_two_figures(1 / fmr):,}"


def strangers_short(expected: float) -> str:
    """The strangers a candidate card expects to score as high, in a few words:
    ``≈ 0.02 strangers expected``, ``< 0.01 strangers expected``, ``≈ 1 stranger expected``
    (the full sentence: the card's title and the candidate page)."""
    if not isinstance(expected, (int, float)) or math.isnan(expected) or expected < 0:
        return ""
    if expected < 0.01:
        return "< 0.01 strangers expected"
    figure = f"{expected:.2f}".rstrip("0").rstrip(".") if expected < 10 else f"{expected:,.0f}"
    return f"≈ {figure} stranger{'' if figure == '1' else 's'} expected"


_FLOOR = re.compile(r"fewer than 1 in ([\d,]+)")


def _two_figures(x: float) -> int:
    power = max(0, math.floor(math.log10(x)) - 1)
    scale: int = 10**power
    return round(x / scale) * scale


def register(env: Environment) -> None:
    """Add the ``when``, ``localtime``, ``thousands``, ``fmr_short`` and ``strangers_short``
    filters to a Jinja environment (not ``count``: that name is Jinja's own length filter)."""
    env.filters["when"] = when
    env.filters["localtime"] = localtime
    env.filters["thousands"] = thousands
    env.filters["fmr_short"] = fmr_short
    env.filters["strangers_short"] = strangers_short
