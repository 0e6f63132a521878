"""The case report: one self-contained HTML page of everything done under a case.

Composed from ``reports.html``: the same style, lead note, evidence table and face sections
(probe and candidate crops as data: URIs, scores with their false match rate and expected
strangers) per search, after the case, the chain head the report's own ``export`` entry made,
and the timeline (every entry id and hash, who and when). Decisions are listed under the
search they concern. ``reports.pdf`` prints this page to PDF.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from facesearch.reports.html import evidence, faces_html, format_time, page

if TYPE_CHECKING:
    from facesearch.accountability import AccountabilityStore, Actor
    from facesearch.app.case_report import CaseReport, CaseSearch, ReportFormat
    from facesearch.core.calibration import CalibrationTable
    from facesearch.engine import Engine

__all__ = ["case_report_file", "render_case"]

esc = html.escape


def _table(rows: list[tuple[str, str]]) -> str:
    body = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows)
    return f"<table class=evidence>{body}</table>"


def _case_rows(report: CaseReport) -> list[tuple[str, str]]:
    case, e = report.timeline.case, report.entry
    members = ", ".join(case.members) or "none"
    closed = f", closed by {case.closed_by} at {format_time(case.closed_at)}"
    return [
        ("Case", f"{case.number}: {case.title}"),
        ("Legal basis", case.legal_basis or "–"),
        ("Status", case.status.value + (closed if case.closed_at else "")),
        ("Opened", f"by {case.opened_by} at {format_time(case.opened_at)}"),
        ("Members", members),
        ("Report", f"audit entry {e.seq} (export) by {e.actor} at {format_time(e.time)}"),
        ("Chain head", f"{report.head.seq}:{report.head.hash}"),
        ("", "check with 'facesearch audit verify --head SEQ:HASH' (the head above)"),
    ]


def _timeline(report: CaseReport) -> str:
    rows = "".join(
        f"<tr><td>{ev.entry.seq}</td><td>{esc(format_time(ev.entry.time))}</td>"
        f"<td>{esc(ev.entry.actor)}</td><td>{esc(ev.entry.action)}</td>"
        f"<td>{esc(ev.summary)}</td><td class=small>{esc(ev.entry.hash)}</td></tr>"
        for ev in report.timeline.events
    )
    head = "<tr><th>entry</th><th>time</th><th>who</th><th>action</th><th>what</th><th>hash</th>"
    return f"<h2>Timeline</h2><table class=evidence>{head}</tr>{rows}</table>"


def _decisions(report: CaseReport, search_seq: int) -> str:
    rows = [
        f"<li>audit entry {ev.entry.seq}: {esc(ev.summary)} — by {esc(ev.entry.actor)} at "
        f"{esc(format_time(ev.entry.time))}</li>"
        for ev in report.timeline.events
        if ev.entry.action == "decision" and ev.entry.payload.get("search_seq") == search_seq
    ]
    if not rows:
        return "<p>No decision recorded on its candidates.</p>"
    return f"<h3>Decisions</h3><ul>{''.join(rows)}</ul>"


def _search(report: CaseReport, found: CaseSearch, engine: Engine) -> str:
    record = found.record  # its evidence table ends with how the rates were calibrated
    return (
        f"<section class=search><h2>Search {found.entry.seq}</h2>"
        f"{evidence(record, found.entry, None)}"
        f"{faces_html(record, engine, found.probe)}{_decisions(report, found.entry.seq)}</section>"
    )


def render_case(report: CaseReport, engine: Engine) -> str:
    """The report page of ``report``."""
    searches = "".join(_search(report, s, engine) for s in report.searches)
    body = _table(_case_rows(report)) + _timeline(report) + (searches or "<p>No searches.</p>")
    return page(f"facesearch case report: {report.timeline.case.number}", body)


def case_report_file(
    store: AccountabilityStore,
    engine: Engine,
    table: CalibrationTable,
    actor: Actor,
    number: str,
    fmt: ReportFormat,
) -> bytes:
    """The report of case ``number`` as HTML (UTF-8) or PDF bytes, logged as an ``export``
    entry (``app.case_report``). A case ``actor`` may not see is a NotFoundError first, the
    same as an unknown case, with chromium or without; then a PDF asked for where chromium is
    missing fails before anything is logged (``PdfUnavailableError``)."""
    from facesearch.app.case_report import case_report, visible_case
    from facesearch.reports.pdf import html_to_pdf, require_chromium

    if fmt == "pdf":
        visible_case(store, actor, number)
        require_chromium()
    report = case_report(store, engine.catalog, table, actor, number, fmt)
    page_html = render_case(report, engine)
    return html_to_pdf(page_html) if fmt == "pdf" else page_html.encode("utf-8")
