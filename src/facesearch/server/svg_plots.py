"""Small bar charts drawn on the server as inline SVG: no script, nothing fetched.

    day_bars(counts, days, limit=50, label="alice")    one bar per day; days over the
                                                        limit in red, the limit dashed
    hour_bars(counts, (420, 1140), label="...")        24 bars by hour of day, working hours
                                                        (minutes after midnight) shaded

Each bar carries a ``<title>`` (its tooltip). Every text put into the SVG is escaped here, and
the result is ``Markup``, safe to place in a template as it is. Colours are presentation
attributes (``fill=``): the pages' Content-Security-Policy allows no inline style.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from html import escape

from markupsafe import Markup

__all__ = ["day_bars", "hour_bars"]

BAR = "#1a4f8b"  # the pages' --brand
OVER = "#a3211b"  # --bad
SHADE = "#e3eddf"
AXIS = "#5b6574"  # --muted
FONT = 'font-family="system-ui, sans-serif" font-size="10"'


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _svg(width: int, height: int, label: str, body: list[str]) -> Markup:
    text = escape(label)
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" class="plot" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="{text}">'
        f"<title>{text}</title>{''.join(body)}</svg>"
    )


def _bar(x: float, width: float, value: int, top: float, base: float, fill: str, tip: str) -> str:
    """A bar of ``value`` out of ``top``, standing on ``base``, 12 units left above it."""
    height = 0.0 if top <= 0 else (base - 12) * value / top
    return (
        f'<rect x="{_num(x)}" y="{_num(base - height)}" width="{_num(width)}" '
        f'height="{_num(height)}" fill="{fill}"><title>{escape(tip)}</title></rect>'
    )


def _text(x: float, y: float, text: str, anchor: str = "middle") -> str:
    return (
        f'<text x="{_num(x)}" y="{_num(y)}" text-anchor="{anchor}" fill="{AXIS}" {FONT}>'
        f"{escape(text)}</text>"
    )


def _plural(n: int) -> str:
    return f"{n} search" if n == 1 else f"{n} searches"


def day_bars(
    counts: Sequence[int], days: Sequence[date], *, limit: int | None = None, label: str
) -> Markup:
    """Searches per day: a bar per day, the first and last day written under them; days over
    ``limit`` in red, and the limit as a dashed line when it is within the chart."""
    if len(counts) != len(days):
        raise ValueError("one count per day")
    step, base, height = 8, 52, 66
    width = max(step * len(counts), 120)
    top = max([*counts, 1])
    body = [
        f'<line x1="0" y1="{base}" x2="{width}" y2="{base}" stroke="{AXIS}"/>',
        _text(width, 9, f"max {_plural(max([*counts, 0]))} a day", "end"),
    ]
    for i, (n, day) in enumerate(zip(counts, days, strict=True)):
        fill = OVER if limit is not None and n > limit else BAR
        tip = f"{day.isoformat()}: {_plural(n)}"
        body.append(_bar(i * step + 1, step - 2, n, top, base, fill, tip))
    if limit is not None and limit <= top:
        y = base - (base - 12) * limit / top
        body.append(
            f'<line x1="0" y1="{_num(y)}" x2="{width}" y2="{_num(y)}" stroke="{OVER}" '
            f'stroke-dasharray="3 2"><title>{escape(f"limit: {limit} a day")}</title></line>'
        )
    if days:
        body.append(_text(0, height - 2, days[0].strftime("%d %b"), "start"))
        body.append(_text(width, height - 2, days[-1].strftime("%d %b"), "end"))
    return _svg(width, height, label, body)


def hour_bars(counts: Sequence[int], working: tuple[int, int], *, label: str) -> Markup:
    """Searches by hour of day (24 counts): working hours (start, end in minutes after
    midnight; start > end: a night shift, shaded from start to 24:00 and from 00:00 to end)
    shaded, bars outside them in red, the hours 0, 6, 12, 18 and 24 written."""
    if len(counts) != 24:
        raise ValueError("one count per hour of the day")
    step, left, base, height = 22, 12, 100, 116
    width = left * 2 + step * 24
    start, end = working
    top = max([*counts, 1])
    spans = [(start, end)] if start < end else [(start, 24 * 60), (0, end)]
    body = [
        f'<rect x="{_num(left + step * a / 60)}" y="0" width="{_num(step * (b - a) / 60)}" '
        f'height="{base}" fill="{SHADE}"><title>working hours</title></rect>'
        for a, b in spans
        if b > a
    ]
    body += [
        f'<line x1="{left}" y1="{base}" x2="{width - left}" y2="{base}" stroke="{AXIS}"/>',
        _text(width - left, 9, f"max {_plural(max(counts))} in an hour", "end"),
    ]
    for hour, n in enumerate(counts):
        inside = any(a <= hour * 60 and (hour + 1) * 60 <= b for a, b in spans)
        tip = f"{hour:02d}:00-{hour + 1:02d}:00: {_plural(n)}"
        body.append(
            _bar(left + hour * step + 2, step - 4, n, top, base, BAR if inside else OVER, tip)
        )
    body += [_text(left + h * step, height - 4, f"{h:02d}") for h in (0, 6, 12, 18, 24)]
    return _svg(width, height, label, body)
