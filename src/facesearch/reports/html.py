"""A self-contained HTML page for one search: probe face and candidate faces side by side.

The page is evidence: it carries the case, purpose, operator, time, the audit entry that
recorded the search and the chain head after it, and every parameter of the search.

Face crops are read from the source images at report time (facesearch stores no crops; an
archive member is read from its archive, ``gallery.sources.read_source``) and embedded as
data: URIs, so the page is one file that opens anywhere without a server.

What the false match rates rest on (the calibration's ``basis``, as logged with the search)
is one evidence row, in short on each candidate; a probe face in a poorer quality bucket
carries its reliability note.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image

from facesearch.core.calibration import describe_expected
from facesearch.core.text import shown_name
from facesearch.errors import FaceSearchError, InputError, NotFoundError
from facesearch.gallery.sources import read_source
from facesearch.private import write_private
from facesearch.results import LEAD_NOTE, SAME_FILE_NOTE
from facesearch.types import BBox

if TYPE_CHECKING:
    from facesearch.accountability import AuditEntry
    from facesearch.app.records import SearchRecord
    from facesearch.engine import Engine


def face_crop_jpeg(pixels_source: bytes, bbox: BBox, max_bytes: int, max_pixels: int) -> bytes:
    """A JPEG of the face box widened by 30 %, at most 160 px."""
    from facesearch.core.decode import decode_image

    decoded = decode_image(pixels_source, max_bytes=max_bytes, max_pixels=max_pixels)
    image = Image.fromarray(decoded.pixels)
    pad_w, pad_h = bbox.w * 0.3, bbox.h * 0.3
    box = (
        max(0, int(bbox.x - pad_w)),
        max(0, int(bbox.y - pad_h)),
        min(image.width, int(bbox.x + bbox.w + pad_w)),
        min(image.height, int(bbox.y + bbox.h + pad_h)),
    )
    crop = image.crop(box)
    crop.thumbnail((160, 160))
    buf = io.BytesIO()
    crop.save(buf, format="JPEG", quality=88)
    return buf.getvalue()


def _data_uri(jpeg: bytes | None) -> str:
    if jpeg is None:
        return ""
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()


def format_time(value: datetime | str | None) -> str:
    """``2026-11-30 13:05:12 UTC`` from a datetime or an ISO 8601 string; '' for None."""
    if value is None or value == "":
        return ""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S") + " UTC"


def evidence(result: SearchRecord, entry: AuditEntry | None, head: str | None) -> str:
    """What makes the page evidence: who searched, when, for which case, under which audit
    entry, the chain head after it, and every parameter of the search."""
    esc = html.escape
    p: Mapping[str, Any] = result.parameters
    collections = ", ".join(f"{name} ({size:,} faces)" for name, size in result.collections)
    threshold = "none" if result.threshold is None else f"{result.threshold:.4f}"
    max_fmr = p.get("max_fmr")
    face = p.get("face")
    rows: list[tuple[str, str]] = []
    if entry is not None:
        rows += [
            ("Case", entry.case or "–"),
            ("Purpose", entry.purpose or "–"),
            ("Operator", entry.actor),
            ("Time", format_time(entry.time)),
            ("Audit entry", f"audit entry {entry.seq} ({entry.action})"),
            ("Entry hash", entry.hash),
        ]
    if head is not None:
        rows.append(
            ("Chain head", f"{head} (after this search; check with 'facesearch audit verify')")
        )
    rows += [
        ("Probe", f"{result.probe} (sha256 {result.probe_sha256})"),
        ("Searched", f"{result.gallery_faces:,} faces"),
        ("Parameters", ""),
        ("collections", collections),
        ("top", str(result.top)),
        ("threshold", threshold),
        ("max FMR", "none" if max_fmr is None else f"{max_fmr:g}"),
        ("face", "every face" if face is None else str(face)),
        ("allow poor", "yes" if p.get("allow_poor") else "no"),
        ("model", str(p.get("model_id") or "")),
        ("false match rates", result.calibration or "not recorded"),
    ]
    body = "".join(
        f"<tr><th colspan=2>{esc(k)}</th></tr>"
        if not v and k == "Parameters"
        else f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>"
        for k, v in rows
    )
    return f"<table class=evidence>{body}</table>"


def faces_html(result: SearchRecord, engine: Engine, probe: bytes | None = None) -> str:
    """One section per probe face: its crop beside its candidates' crops, with their scores,
    false match rates and expected strangers (the search page's body; the case report's too).
    ``probe``: the probe's bytes when kept (else read from ``result.probe`` if a file)."""
    s = engine.settings
    probe_bytes = probe
    if probe_bytes is None and Path(result.probe).exists():
        probe_bytes = engine.read_input(result.probe).data
    esc = html.escape
    rows = []
    for pf in result.faces:
        probe_img = ""
        if probe_bytes is not None and pf.bbox is not None:
            probe_img = _data_uri(
                face_crop_jpeg(probe_bytes, pf.bbox, s.limits.max_file_bytes, s.limits.max_pixels)
            )
        cards = []
        for h in pf.hits:
            g = h.face
            crop, missing = "", "source not available"
            try:
                if g is not None:
                    data = read_source(
                        g.image_path, s.limits.max_file_bytes, s.home, sha256=g.image_sha256
                    )
                    jpeg = face_crop_jpeg(
                        data, g.bbox, s.limits.max_file_bytes, s.limits.max_pixels
                    )
                    crop = _data_uri(jpeg)
            except (FaceSearchError, OSError, ValueError) as exc:  # a moved, changed or
                crop = ""  # deleted source, or one that no longer decodes: said, not fatal
                if isinstance(exc, NotFoundError):
                    missing = f"source not available: {exc}"
            img = (
                f'<img src="{crop}" alt="candidate face">'
                if crop
                else f"<div class=na>{esc(missing)}</div>"
            )
            same = f"<div class=same>{esc(SAME_FILE_NOTE)}</div>" if h.same_file else ""
            cards.append(
                f"<div class=card>{img}<div><b>#{h.rank}</b> similarity {h.similarity:.3f}</div>"
                f"<div>{esc((g.subject if g else None) or '(no label)')}</div>{same}"
                f"<div class=small>{esc(h.fmr_words)}; {describe_expected(h.expected_false)} "
                f"such strangers expected in {result.gallery_faces:,} faces</div>"
                f"<div class=small>{esc(result.calibration_short)}</div>"
                f"<div class=small>face {h.face_id} in "
                f"{esc(g.image_path if g else 'an erased image')}</div></div>"
            )
        notes = (*pf.warnings, *([pf.reliability] if pf.reliability else []))
        warn = "".join(f"<div class=warn>{esc(w)}</div>" for w in notes)
        body = "".join(cards) or "<p>No candidate above the threshold.</p>"
        if pf.refused:
            body = "<p>Not searched: the probe face is too poor.</p>"
        rows.append(
            f"<section><h2>Probe face {pf.face}</h2><div class=row><div class='card probe'>"
            f"<img src='{probe_img}' alt='probe face'><div>probe</div></div>{body}</div>"
            f"{warn}</section>"
        )
    return "".join(rows)


STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222}
.lead{background:#fff3cd;border:1px solid #e0b000;padding:.8rem;border-radius:6px;font-weight:600}
.row{display:flex;flex-wrap:wrap;gap:.8rem}
.card{border:1px solid #ccc;border-radius:6px;padding:.5rem;width:170px;font-size:.9rem}
.card img{width:160px;height:160px;object-fit:cover;display:block}
.probe{border-color:#1a5fb4;border-width:2px}
.small{font-size:.75rem;color:#555;overflow-wrap:anywhere}
.warn{color:#a40000} .na{width:160px;height:160px;background:#eee}
.same{color:#a40000;font-weight:600;font-size:.8rem}
.evidence{border-collapse:collapse;margin:1rem 0;font-size:.9rem}
.evidence th,.evidence td{text-align:left;padding:.15rem .8rem .15rem 0;vertical-align:top}
.evidence td{overflow-wrap:anywhere;font-family:ui-monospace,monospace}
.evidence th[colspan]{padding-top:.6rem}
"""


def page(title: str, body: str) -> str:
    """A self-contained page: the shared style, the lead note first, ``body``, and when the
    report was written."""
    esc = html.escape
    return f"""<!doctype html><html lang=en><head><meta charset=utf-8>
<meta name=viewport content="width=device-width, initial-scale=1">
<title>{esc(title)}</title><style>{STYLE}</style></head><body>
<h1>{esc(title)}</h1>
<p class=lead>{esc(LEAD_NOTE)}</p>
{body}
<p class=small>Report written {esc(format_time(datetime.now(UTC)))}.</p>
</body></html>"""


def render(
    result: SearchRecord,
    engine: Engine,
    *,
    entry: AuditEntry | None = None,
    head: str | None = None,
) -> str:
    """The page for ``result``; ``entry`` (its audit entry) and ``head`` (the chain head after
    it) make it evidence."""
    body = evidence(result, entry, head) + faces_html(result, engine)
    return page("facesearch search report", body)


def report_path_problem(path: Path) -> str | None:
    """What keeps ``path`` from being a report's file (a folder; a folder that does not
    exist, which is never made), or None."""
    if path.is_dir():
        return "is a folder; give a file name"
    if not path.parent.is_dir():
        return f"the folder {shown_name(str(path.parent))} does not exist"
    return None


def write_report(
    result: SearchRecord,
    path: Path,
    engine: Engine,
    *,
    entry: AuditEntry | None = None,
    head: str | None = None,
) -> None:
    problem = report_path_problem(path)
    if problem is not None:  # checked before anything is rendered; no folder is made
        raise InputError(f"report {shown_name(str(path))}: {problem}")
    # face crops of the probe and the candidates: owner-only, like everything in the home
    write_private(path, render(result, engine, entry=entry, head=head).encode("utf-8"))
